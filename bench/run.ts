/**
 * `npm run bench`: measures the platform on this machine and writes bench/results.json.
 * Each figure is described in docs/benchmarks.md; one module each under bench/figures/.
 */
import { measureBatchThroughput } from './figures/batch';
import { measureDatasetBatch, measureMlpDatasetBatch } from './figures/batch-dataset';
import { measureBundles } from './figures/bundles';
import { measureDynamicBatching } from './figures/dynamic-batching';
import { measureLimiterScale } from './figures/limiter-scale';
import { measureRealtime } from './figures/realtime';
import { measureSdkCall } from './figures/sdk-call';
import { measureWarmRequest } from './figures/warm-request';
import { report } from './report';

// In this order: the bundles figure starts .local/bench afresh and builds what the warm request loads.
const bundles = await measureBundles();
const warmRequest = await measureWarmRequest();
const realtime = await measureRealtime();
const dynamicBatching = await measureDynamicBatching();
const batch = await measureBatchThroughput();
const datasetBatch = await measureDatasetBatch();
const datasetBatchMlp = await measureMlpDatasetBatch();
const limiterScale = await measureLimiterScale();
const sdkCall = await measureSdkCall();
report({
  bundles,
  warmRequest,
  realtime,
  dynamicBatching,
  batch,
  datasetBatch,
  datasetBatchMlp,
  limiterScale,
  sdkCall,
});

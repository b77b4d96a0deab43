/**
 * The end of `npm run bench`: bench/results.json, each figure's table, every figure beside its
 * target, and a failing exit code when a request failed (the latency and throughput would be wrong).
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { type BatchFigures, batchErrors, printBatch } from './figures/batch';
import { type DatasetBatchFigures, datasetBatchErrors, printDatasetBatch } from './figures/batch-dataset';
import { type BundleFigures, printBundles } from './figures/bundles';
import {
  type DynamicBatchingFigures,
  dynamicBatchingErrors,
  printDynamicBatching,
} from './figures/dynamic-batching';
import { type LimiterScaleFigures, limiterScaleErrors, printLimiterScale } from './figures/limiter-scale';
import { ROOT } from './figures/measure';
import { printRealtime, type RealtimeFigures, realtimeErrors } from './figures/realtime';
import { overModelCeiling, printSdkCall, type SdkCallFigures } from './figures/sdk-call';
import { printWarmRequest, type WarmRequestFigures } from './figures/warm-request';
import { checkTargets } from './targets';

export interface AllFigures {
  readonly bundles: BundleFigures;
  readonly warmRequest: WarmRequestFigures;
  readonly realtime: RealtimeFigures;
  readonly dynamicBatching: DynamicBatchingFigures;
  readonly batch: BatchFigures;
  readonly datasetBatch: DatasetBatchFigures;
  readonly datasetBatchMlp: DatasetBatchFigures;
  readonly limiterScale: LimiterScaleFigures;
  readonly sdkCall: SdkCallFigures;
}

export function report(figures: AllFigures): void {
  const targets = checkTargets(figures);
  const ceilings = {
    iris: overModelCeiling(figures.sdkCall, figures.datasetBatch),
    mlp: overModelCeiling(figures.sdkCall, figures.datasetBatchMlp),
  };
  const results = {
    generatedAt: new Date().toISOString(),
    machine: { node: process.version, cpus: cpus().length, cpuModel: cpus()[0]?.model },
    realtime: figures.realtime,
    dynamicBatching: figures.dynamicBatching,
    batch: figures.batch,
    datasetBatch: figures.datasetBatch,
    datasetBatchMlp: figures.datasetBatchMlp,
    bundles: figures.bundles,
    warmRequest: figures.warmRequest,
    limiterScale: figures.limiterScale,
    sdkCall: { ...figures.sdkCall, overModelCeiling: ceilings },
    targets,
  };
  mkdirSync(`${ROOT}bench`, { recursive: true });
  writeFileSync(`${ROOT}bench/results.json`, `${JSON.stringify(results, null, 2)}\n`);

  printRealtime(figures.realtime);
  printDynamicBatching(figures.dynamicBatching);
  printBatch(figures.batch);
  printDatasetBatch(figures.datasetBatch);
  printDatasetBatch(figures.datasetBatchMlp);
  printBundles(figures.bundles);
  printWarmRequest(figures.warmRequest);
  printLimiterScale(figures.limiterScale);
  printSdkCall(figures.sdkCall, ceilings);
  console.log('\nTargets');
  console.table(
    targets.map(({ figure, measured, target, met }) => ({
      figure,
      measured,
      target,
      result: met ? 'met' : 'MISSED',
    })),
  );
  const missed = targets.filter((t) => !t.met).length;
  console.log(missed === 0 ? 'every target met' : `${missed} of ${targets.length} targets missed`);
  const errors =
    realtimeErrors(figures.realtime) +
    dynamicBatchingErrors(figures.dynamicBatching) +
    batchErrors(figures.batch) +
    datasetBatchErrors(figures.datasetBatch) +
    datasetBatchErrors(figures.datasetBatchMlp);
  if (limiterScaleErrors(figures.limiterScale) > 0) {
    console.error('\nthe rate limiter admitted more than its stated bound in the simulation above');
    process.exitCode = 1;
  }
  if (errors > 0) {
    console.error('\nsome requests failed: the latency and throughput figures above are not valid');
    process.exitCode = 1;
  }
  console.log(`\nwrote bench/results.json (${readFileSync(`${ROOT}bench/results.json`).length} bytes)`);
}

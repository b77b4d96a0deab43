import { describe, expect, it } from 'vitest';
import { overModelCeiling } from '../../bench/figures/sdk-call';
import { checkTargets } from '../../bench/targets';

describe('bench targets', () => {
  const bundles = [
    { name: 'authorizer', bytes: 150 * 1024, loadOverheadMs: 50.5 },
    { name: 'inference', bytes: 500 * 1024 + 1, loadOverheadMs: 120 },
  ];

  it('hold the authorizer to its own, tighter limits', () => {
    const rows = checkTargets({ bundles });
    expect(rows).toEqual([
      { figure: 'authorizer bundle', measured: 150, target: '<= 150 KiB', met: true },
      {
        figure: 'authorizer module load over an empty module',
        measured: 50.5,
        target: '<= 50 ms',
        met: false,
      },
      { figure: 'inference bundle', measured: 500, target: '<= 500 KiB', met: false },
      { figure: 'inference module load over an empty module', measured: 120, target: '<= 120 ms', met: true },
    ]);
  });

  it('judge ratios as floors and the warm request as ceilings', () => {
    const rows = checkTargets({
      bundles: [],
      warmRequest: { cpuMsPerRequest: 0.8, dynamoDbCallsPerRequest: 1.02 },
      batch: { batchOverOneByOne: 5 },
      dynamicBatching: { throughputRatio: 2.9 },
      datasetBatch: { overModel: 0.05 },
      datasetBatchMlp: { overModel: 0.5 },
    });
    expect(rows.map((r) => [r.figure, r.met])).toEqual([
      ['warm realtime request: handler CPU', true],
      ['warm realtime request: DynamoDB calls', false],
      ['batch job over the same items one by one', true],
      ['S3 input job (iris) over the model server at its request size', false],
      ['S3 input job (MLP) over the model server at its request size', true],
      ['dynamic batching over unbatched serving', false],
    ]);
  });

  it('bound a dataset job by the model, its lines and its calls', () => {
    const sdkCall = {
      sdkCpuMicrosPerCall: 1000,
      httpCpuMicrosPerCall: 200,
      requestBytes: 32_872,
      calls: 2000,
    };
    // 40 ms of model, 17.5 ms of parsing and 62.5 calls of 1 ms per 1,000 items: 40 / 120.
    const job = {
      cpuMsPer1000Items: { model: 40, lineParse: 17.5 },
      requestsPer1000Items: { sagemaker: 62.5 },
    };
    expect(overModelCeiling(sdkCall, job)).toBe(0.33);
    expect(
      overModelCeiling(sdkCall, {
        cpuMsPer1000Items: { model: 40, lineParse: 0 },
        requestsPer1000Items: { sagemaker: 0 },
      }),
    ).toBe(1);
  });
});

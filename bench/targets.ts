/**
 * The figures `npm run bench` is held to, and the check that puts each measured figure beside its
 * target. Sizes are in KiB (1,024 bytes) of minified bundle; load times are over an empty module.
 */
export const TARGETS = {
  authorizerBundleKiB: 150,
  bundleKiB: 500,
  authorizerLoadOverheadMs: 50,
  loadOverheadMs: 120,
  warmRequestCpuMs: 1,
  warmRequestDynamoDbCalls: 0.1,
  batchOverOneByOne: 5,
  /** A job of an input file in S3, end to end, over the model server's own items/s at its chunk size. */
  datasetBatchOverModel: 0.5,
  dynamicBatchingSpeedup: 3,
} as const;

export interface BenchFigures {
  readonly bundles: readonly { name: string; bytes: number; loadOverheadMs: number }[];
  readonly warmRequest?: { cpuMsPerRequest: number; dynamoDbCallsPerRequest: number };
  readonly batch?: { batchOverOneByOne: number };
  readonly datasetBatch?: { overModel: number };
  readonly datasetBatchMlp?: { overModel: number };
  readonly dynamicBatching?: { throughputRatio: number };
}

export interface TargetRow {
  readonly figure: string;
  readonly measured: number;
  readonly target: string;
  readonly met: boolean;
}

/** `measured` is shown rounded; `exact` (default: measured) is what is compared. */
const atMost = (
  figure: string,
  measured: number,
  limit: number,
  unit: string,
  exact = measured,
): TargetRow => ({
  figure,
  measured,
  target: `<= ${limit} ${unit}`,
  met: exact <= limit,
});
const atLeast = (figure: string, measured: number, floor: number, unit: string): TargetRow => ({
  figure,
  measured,
  target: `>= ${floor} ${unit}`,
  met: measured >= floor,
});

/** One row per target; a figure the run did not measure has no row. */
export function checkTargets(figures: BenchFigures): TargetRow[] {
  const rows: TargetRow[] = [];
  for (const bundle of figures.bundles) {
    const authorizer = bundle.name === 'authorizer';
    rows.push(
      atMost(
        `${bundle.name} bundle`,
        Math.round((bundle.bytes / 1024) * 10) / 10,
        authorizer ? TARGETS.authorizerBundleKiB : TARGETS.bundleKiB,
        'KiB',
        bundle.bytes / 1024,
      ),
      atMost(
        `${bundle.name} module load over an empty module`,
        bundle.loadOverheadMs,
        authorizer ? TARGETS.authorizerLoadOverheadMs : TARGETS.loadOverheadMs,
        'ms',
      ),
    );
  }
  if (figures.warmRequest) {
    rows.push(
      atMost(
        'warm realtime request: handler CPU',
        figures.warmRequest.cpuMsPerRequest,
        TARGETS.warmRequestCpuMs,
        'ms',
      ),
      atMost(
        'warm realtime request: DynamoDB calls',
        figures.warmRequest.dynamoDbCallsPerRequest,
        TARGETS.warmRequestDynamoDbCalls,
        'calls',
      ),
    );
  }
  if (figures.batch) {
    rows.push(
      atLeast(
        'batch job over the same items one by one',
        figures.batch.batchOverOneByOne,
        TARGETS.batchOverOneByOne,
        'x',
      ),
    );
  }
  for (const [model, figure] of [
    ['iris', figures.datasetBatch],
    ['MLP', figures.datasetBatchMlp],
  ] as const) {
    if (figure) {
      rows.push(
        atLeast(
          `S3 input job (${model}) over the model server at its request size`,
          figure.overModel,
          TARGETS.datasetBatchOverModel,
          'x',
        ),
      );
    }
  }
  if (figures.dynamicBatching) {
    rows.push(
      atLeast(
        'dynamic batching over unbatched serving',
        figures.dynamicBatching.throughputRatio,
        TARGETS.dynamicBatchingSpeedup,
        'x',
      ),
    );
  }
  return rows;
}

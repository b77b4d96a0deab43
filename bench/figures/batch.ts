/**
 * A large job through the local platform (HTTPS submission, fan-out, worker, exactly-once writes,
 * polling), against the same items sent one by one through the realtime API and against the model
 * server's own throughput at the job's chunk size; the worker logs where each chunk's time went.
 * Fairness: another owner's 20-item job submitted right after the large one, against its time alone.
 */
import { writeFileSync } from 'node:fs';
import { readLocalConfig } from '../../local/platform';
import { npmToken, startPlatformProcess } from '../../local/platform-process';
import { load, median, round } from './measure';

/** The large job: about 4 MB of JSON, within the 6 MB Lambda takes synchronously (with its escaping). */
const BATCH_ITEMS = 40_000;
/** Another owner's job, submitted right after the large one, and alone. */
const SMALL_ITEMS = 20;
/**
 * Small jobs measured each way: one after another while the large job runs, and as many alone. One
 * of each swung from 2x to 8x between runs with where the small job landed in the large one.
 */
const FAIRNESS_RUNS = 5;
/** Each warm-up job: a few of iris's 1,024-item chunks. */
const WARM_UP_ITEMS = 4_096;
const TERMINAL = new Set(['SUCCEEDED', 'COMPLETED_WITH_ERRORS', 'FAILED', 'CANCELLED']);

/** Iris-like measurements (cm), varied deterministically across items. */
const irisRow = (i: number) => [
  4.3 + (i % 36) / 10,
  2 + (i % 24) / 10,
  1 + (i % 59) / 10,
  0.1 + (i % 25) / 10,
];
export const irisRequest = (rows: number, offset = 0) =>
  JSON.stringify({
    inputs: [
      {
        name: 'FEATURES',
        shape: [rows, 4],
        datatype: 'FP32',
        data: Array.from({ length: rows }, (_, i) => irisRow(offset + i)).flat(),
      },
    ],
  });

interface ChunkTiming {
  jobId: string;
  items: number;
  receiveCount: number;
  queueMs?: number;
  inferenceMs: number;
  storageMs: number;
}

/** Submits a job and polls it until it ends; its time from submission, in seconds. */
async function runJob(
  apiUrl: string,
  headers: Record<string, string>,
  items: readonly object[],
  started = Date.now(),
): Promise<{
  jobId: string;
  status: string;
  succeeded: number;
  failed: number;
  seconds: number;
  submitMs: number;
}> {
  const submitted = await fetch(`${apiUrl}/v1/batch-jobs`, {
    method: 'POST',
    headers,
    body: JSON.stringify({ model: 'iris', items }),
  });
  if (submitted.status !== 202)
    throw new Error(`batch submission failed: ${submitted.status} ${await submitted.text()}`);
  const { jobId } = (await submitted.json()) as { jobId: string };
  const submitMs = Date.now() - started;
  return { jobId, submitMs, ...(await untilEnded(apiUrl, headers, jobId, started)) };
}

/**
 * Polls a job until it ends. Its time runs from `started` (epoch ms, taken before the submission) to
 * the `completedAt` the platform recorded, on the same machine's clock, so the polling interval adds
 * nothing to it: with a small job's time a few hundred milliseconds, a poll every 50 ms would.
 */
async function untilEnded(apiUrl: string, headers: Record<string, string>, jobId: string, started: number) {
  let job: { status: string; succeeded: number; failed: number; completedAt?: string } = {
    status: 'QUEUED',
    succeeded: 0,
    failed: 0,
  };
  while (!TERMINAL.has(job.status)) {
    if (Date.now() - started > 300_000) throw new Error(`batch job ${jobId} did not finish in time`);
    await new Promise((resolve) => setTimeout(resolve, 50));
    job = (await (await fetch(`${apiUrl}/v1/batch-jobs/${jobId}`, { headers })).json()) as typeof job;
  }
  return { ...job, seconds: (Date.parse(job.completedAt!) - started) / 1000 };
}

const sumOf = (jobs: readonly { succeeded: number; failed: number }[], key: 'succeeded' | 'failed') =>
  jobs.reduce((total, job) => total + job[key], 0);

/** One batch item: the iris-like row `i`. */
export const irisItem = (i: number) => ({
  inputs: [{ name: 'FEATURES', shape: [1, 4], datatype: 'FP32', data: irisRow(i) }],
});
const irisItems = (count: number) => Array.from({ length: count }, (_, i) => irisItem(i));

export async function measureBatchThroughput() {
  const platform = await startPlatformProcess({
    LOG_LEVEL: 'INFO',
    RATE_LIMIT_TIERS: JSON.stringify({ standard: { limit: 1_000_000, windowSeconds: 60 } }),
  });
  try {
    const bearer = async (owner: string) => ({
      authorization: `Bearer ${await npmToken('--sub', owner)}`,
      'content-type': 'application/json',
    });
    const headers = await bearer('bench-batch');
    const other = await bearer('bench-batch-other');
    // First jobs start the functions, so that no figure below includes a cold start: one per worker
    // the event source runs at once, each of its own owner so that all run together, and each of
    // several chunks, so that every worker is still busy when the others start (with one small chunk
    // each, a few containers served them all, and the measured run started the others cold).
    const warmUps = await Promise.all(
      Array.from({ length: readLocalConfig().batchWorkerConcurrency }, async (_, i) =>
        runJob(platform.apiUrl, await bearer(`bench-batch-warm-up-${i}`), irisItems(WARM_UP_ITEMS)),
      ),
    );
    // The small job's owner calls once first, so that neither of its measured runs pays for the
    // authorizer's first answer to its token (API Gateway caches it, as the emulator does).
    const listed = await fetch(`${platform.apiUrl}/v1/batch-jobs?limit=1`, { headers: other });
    if (listed.status !== 200)
      throw new Error(`listing jobs failed: ${listed.status} ${await listed.text()}`);
    const measuredFrom = platform.output().length;
    // The large job, with the small one of another owner right after it; then the small one alone.
    const started = Date.now();
    const submitted = await fetch(`${platform.apiUrl}/v1/batch-jobs`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ model: 'iris', items: irisItems(BATCH_ITEMS) }),
    });
    if (submitted.status !== 202)
      throw new Error(`batch submission failed: ${submitted.status} ${await submitted.text()}`);
    const { jobId } = (await submitted.json()) as { jobId: string };
    const large = untilEnded(platform.apiUrl, headers, jobId, started);
    let largeEnded = false;
    const ended = () => {
      largeEnded = true;
    };
    // Both ways handled here; a failure is thrown where `large` is awaited below.
    large.then(ended, ended);
    // Small jobs one after another, each submitted while the large job still runs.
    const behindRuns = [];
    while (behindRuns.length < FAIRNESS_RUNS && (behindRuns.length === 0 || !largeEnded)) {
      behindRuns.push(await runJob(platform.apiUrl, other, irisItems(SMALL_ITEMS)));
    }
    const job = await large;
    const aloneRuns = [];
    for (let run = 0; run < FAIRNESS_RUNS; run++) {
      aloneRuns.push(await runJob(platform.apiUrl, other, irisItems(SMALL_ITEMS)));
    }
    const seconds = job.seconds;
    const behindIds = new Set(behindRuns.map((run) => run.jobId));
    const aloneMedian = median(aloneRuns.map((run) => run.seconds));
    const behindMedian = median(behindRuns.map((run) => run.seconds));
    // Every chunk's delivery line, for a closer look at where a run's time went.
    if (process.env.BENCH_BATCH_OUTPUT) writeFileSync(process.env.BENCH_BATCH_OUTPUT, platform.output());
    const chunks = platform
      .output()
      .split('\n')
      .filter((line) => line.includes('"chunk processed"'))
      .map((line) => JSON.parse(line) as ChunkTiming)
      .filter((c) => c.jobId === jobId);
    const behindChunks = platform
      .output()
      .split('\n')
      .filter((line) => line.includes('"chunk processed"'))
      .map((line) => JSON.parse(line) as ChunkTiming)
      .filter((c) => behindIds.has(c.jobId));
    const chunkSize = Math.max(...chunks.map((c) => c.items));
    const sum = (key: 'queueMs' | 'inferenceMs' | 'storageMs') =>
      chunks.reduce((t, c) => t + (c[key] ?? 0), 0);
    const oneByOne = await load(`${platform.apiUrl}/v2/models/iris/infer`, {
      body: irisRequest(1),
      headers: { authorization: headers.authorization },
    });
    // The model server invoked directly with chunk-sized batches: the most the batch path could do.
    const model = await load(`${platform.modelServerUrl}/v2/models/iris/infer`, {
      body: irisRequest(chunkSize),
    });
    const modelItemsPerSecond = model.requestsPerSecond * chunkSize;
    return {
      items: BATCH_ITEMS,
      status: job.status,
      succeeded: job.succeeded + sumOf([...behindRuns, ...aloneRuns, ...warmUps], 'succeeded'),
      failed: job.failed + sumOf([...behindRuns, ...aloneRuns, ...warmUps], 'failed'),
      seconds: round(seconds),
      batchItemsPerSecond: round(BATCH_ITEMS / seconds),
      realtimeOneByOneItemsPerSecond: round(oneByOne.requestsPerSecond),
      realtimeOneByOneErrors: oneByOne.errors,
      modelItemsPerSecond: round(modelItemsPerSecond),
      modelErrors: model.errors,
      batchOverOneByOne: round(BATCH_ITEMS / seconds / oneByOne.requestsPerSecond),
      batchOverModel: round(BATCH_ITEMS / seconds / modelItemsPerSecond),
      chunks: chunks.length,
      chunkSize,
      chunkTimeMs: {
        queue: round(sum('queueMs') / chunks.length),
        inference: round(sum('inferenceMs') / chunks.length),
        storage: round(sum('storageMs') / chunks.length),
      },
      fairness: {
        smallItems: SMALL_ITEMS,
        // Medians of the runs each way, and their ratio.
        aloneSeconds: round(aloneMedian),
        behindLargeSeconds: round(behindMedian),
        ratio: round(behindMedian / aloneMedian),
        aloneRuns: aloneRuns.map((run) => round(run.seconds)),
        behindLargeRuns: behindRuns.map((run) => round(run.seconds)),
        // The submission's answer, which waits for no batch queue: what sharing the machine alone costs.
        submitMs: {
          alone: median(aloneRuns.map((run) => run.submitMs)),
          behind: median(behindRuns.map((run) => run.submitMs)),
        },
        largeSeconds: round(seconds),
        // Where the small jobs' time behind the large one went: each one chunk queued, inferred, stored.
        behindChunkMs: behindChunks.map(({ queueMs, inferenceMs, storageMs, receiveCount }) => ({
          queue: queueMs,
          inference: inferenceMs,
          storage: storageMs,
          receiveCount,
        })),
        // Deliveries of the large job's chunks after their first: each took a worker from other jobs.
        largeRedeliveries: chunks.filter((c) => c.receiveCount > 1).length,
        // Worker containers started while the jobs ran: each delays the chunk that waits for it.
        workerColdStarts: platform
          .output()
          .slice(measuredFrom)
          .split('\n')
          .filter(
            (line) => line.includes('"function_name":"batch-worker"') && line.includes('"cold_start":true'),
          )
          .map((line) => (JSON.parse(line) as { function_request_id: string }).function_request_id)
          .filter((id, i, ids) => ids.indexOf(id) === i).length,
      },
    };
  } finally {
    await platform.stop();
  }
}

export type BatchFigures = Awaited<ReturnType<typeof measureBatchThroughput>>;

export const batchErrors = (figures: BatchFigures) =>
  figures.realtimeOneByOneErrors + figures.modelErrors + figures.failed;

export function printBatch(figures: BatchFigures): void {
  console.log('\nBatch inference: %d iris items through the local platform', BATCH_ITEMS);
  console.table({
    'batch job (HTTPS submit to SUCCEEDED)': { itemsPerSecond: figures.batchItemsPerSecond },
    'same items one by one, realtime API, 8 connections': {
      itemsPerSecond: figures.realtimeOneByOneItemsPerSecond,
    },
    [`model server alone, ${figures.chunkSize} rows per request`]: {
      itemsPerSecond: figures.modelItemsPerSecond,
    },
  });
  console.log(
    "batch / model server at the chunk size: %d; another owner's %d-item jobs behind the large one: median %d s, alone %d s (%dx)",
    figures.batchOverModel,
    figures.fairness.smallItems,
    figures.fairness.behindLargeSeconds,
    figures.fairness.aloneSeconds,
    figures.fairness.ratio,
  );
  console.log(
    'batch / one by one: %dx; %d chunks of up to %d items; mean per chunk: queued %d ms, inference %d ms, storage %d ms',
    figures.batchOverOneByOne,
    figures.chunks,
    figures.chunkSize,
    figures.chunkTimeMs.queue,
    figures.chunkTimeMs.inference,
    figures.chunkTimeMs.storage,
  );
}

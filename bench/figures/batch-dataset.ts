/**
 * A batch job at dataset scale: a JSONL file of iris items generated here (`BENCH_DATASET_ITEMS`,
 * default 1,000,000, three lines malformed on purpose), uploaded and submitted through the CLI as a
 * user does (`batch submit iris --file ... --via s3`), run to its end on the local platform and read
 * back with `batch results`, against the model server's own items per second at the job's chunk size
 * (the most the path could do). Where the time went comes from the fan-out's and worker's log lines,
 * the requests and memory from the platform's control API (`stats`): each function's largest
 * container, and the platform process's peak resident set, which every emulator and container shares.
 */
import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { createReadStream, createWriteStream, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { npmToken, startPlatformProcess } from '../../local/platform-process';
import { loadModelRepository } from '../../triton-image/model-repository';
import { irisItem, irisRequest } from './batch';
import { load, ROOT, round } from './measure';

const ITEMS = Number(process.env.BENCH_DATASET_ITEMS ?? 1_000_000);
const TERMINAL = new Set(['SUCCEEDED', 'COMPLETED_WITH_ERRORS', 'FAILED', 'CANCELLED']);
const execFileAsync = promisify(execFile);

interface ChunkLine {
  jobId: string;
  items: number;
  queueMs?: number;
  inferenceMs: number;
  storageMs: number;
}

/** Line numbers (1-based) that are not items: the job must fail exactly these, by number. */
const badLines = (items: number) => [18, Math.floor(items / 2) + 1, items - 1].filter((n) => n <= items);

async function writeInput(path: string, items: number): Promise<void> {
  const bad = new Set(badLines(items));
  const out = createWriteStream(path);
  let batch: string[] = [];
  for (let line = 1; line <= items; line++) {
    batch.push(bad.has(line) ? '{"inputs": [' : JSON.stringify(irisItem(line - 1)));
    if (batch.length === 10_000 || line === items) {
      if (!out.write(`${batch.join('\n')}\n`)) await once(out, 'drain');
      batch = [];
    }
  }
  out.end();
  await once(out, 'finish');
}

/** Every index once and in order; the failed items exactly the malformed lines, named by number. */
async function checkResults(path: string, items: number): Promise<void> {
  const expectedBad = new Set(badLines(items));
  let next = 0;
  for await (const text of createInterface({ input: createReadStream(path) })) {
    const result = JSON.parse(text) as { index: number; error?: string };
    if (result.index !== next) throw new Error(`results out of order: ${result.index} where ${next} was due`);
    const bad = expectedBad.has(next + 1);
    if (bad !== (result.error !== undefined) || (bad && !result.error!.startsWith(`line ${next + 1}:`))) {
      throw new Error(`item ${next}: ${text.slice(0, 200)}`);
    }
    next++;
  }
  if (next !== items) throw new Error(`${next} results for ${items} items`);
}

type Cli = (...args: string[]) => Promise<{ stdout: string }>;

interface JobView {
  status: string;
  total: number;
  succeeded: number;
  failed: number;
  cancelled: number;
  cancelRequestedAt?: string;
  completedAt?: string;
}

/**
 * The same file submitted again and cancelled once a tenth of it is done: the time from the cancel
 * to CANCELLED, and its results read back, every index once and the cancelled lines as counted.
 */
async function measureCancel(
  cli: Cli,
  apiUrl: string,
  headers: Record<string, string>,
  input: string,
  out: string,
) {
  const jobId = (await cli('batch', 'submit', 'iris', '--file', input, '--via', 's3')).stdout.trim();
  const read = async () =>
    (await (await fetch(`${apiUrl}/v1/batch-jobs/${jobId}`, { headers })).json()) as JobView;
  const until = async (done: (job: JobView) => boolean) => {
    const started = Date.now();
    for (;;) {
      const job = await read();
      if (done(job)) return job;
      if (Date.now() - started > 600_000) throw new Error(`job ${jobId} is still ${job.status}`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  };
  const running = await until((job) => job.succeeded + job.failed >= ITEMS / 10);
  const answer = await fetch(`${apiUrl}/v1/batch-jobs/${jobId}/cancel`, { method: 'POST', headers });
  if (answer.status !== 202) throw new Error(`cancel answered ${answer.status}: ${await answer.text()}`);
  const ended = await until((job) => TERMINAL.has(job.status));
  if (ended.status !== 'CANCELLED' || ended.total !== ITEMS) {
    throw new Error(`cancelled job ended ${ended.status} with a total of ${ended.total}`);
  }
  await cli('batch', 'results', jobId, '--out', out);
  let next = 0;
  let cancelled = 0;
  for await (const text of createInterface({ input: createReadStream(out) })) {
    const result = JSON.parse(text) as { index: number; cancelled?: true };
    if (result.index !== next) throw new Error(`cancelled job: ${result.index} where ${next} was due`);
    if (result.cancelled) cancelled++;
    next++;
  }
  if (next !== ITEMS || cancelled !== ended.cancelled) {
    throw new Error(
      `cancelled job: ${next} results, ${cancelled} cancelled where ${ended.cancelled} counted`,
    );
  }
  return {
    doneAtCancel: running.succeeded + running.failed,
    seconds: round((Date.parse(ended.completedAt!) - Date.parse(ended.cancelRequestedAt!)) / 1000),
    succeeded: ended.succeeded,
    failed: ended.failed,
    cancelled: ended.cancelled,
  };
}

export async function measureDatasetBatch() {
  const dir = mkdtempSync(join(tmpdir(), 'bench-dataset-'));
  const input = join(dir, 'iris.jsonl');
  await writeInput(input, ITEMS);
  const platform = await startPlatformProcess({
    LOG_LEVEL: 'INFO',
    LOCAL_CONTROL_PORT: '0',
    RATE_LIMIT_TIERS: JSON.stringify({ standard: { limit: 1_000_000, windowSeconds: 60 } }),
  });
  const stats = async () =>
    (
      (await (await fetch(`${platform.controlUrl}/local/faults`)).json()) as {
        stats: {
          requests: { dynamodb: number; s3: number; sqs: number };
          peakMemoryBytes: Record<string, number>;
          peakRssBytes: number;
        };
      }
    ).stats;
  const requests = async () => (await stats()).requests;
  try {
    const headers = { authorization: `Bearer ${await npmToken('--sub', 'bench-dataset')}` };
    const cli: Cli = (...args: string[]) =>
      execFileAsync('npm', ['run', '--silent', 'cli', '--', ...args], {
        cwd: ROOT,
        env: {
          ...process.env,
          INFERENCE_API_URL: platform.apiUrl,
          INFERENCE_API_TOKEN: headers.authorization.slice(7),
        },
        maxBuffer: 1024 * 1024,
      });
    const before = await requests();
    const submitStarted = Date.now();
    const jobId = (await cli('batch', 'submit', 'iris', '--file', input, '--via', 's3')).stdout.trim();
    const submittedSeconds = (Date.now() - submitStarted) / 1000;
    let job: { status: string; succeeded: number; failed: number; createdAt: string; completedAt?: string } =
      {
        status: 'QUEUED',
        succeeded: 0,
        failed: 0,
        createdAt: '',
      };
    while (!TERMINAL.has(job.status)) {
      if (Date.now() - submitStarted > 1_800_000)
        throw new Error(`dataset job ${jobId} did not finish in time`);
      await new Promise((resolve) => setTimeout(resolve, 500));
      job = (await (
        await fetch(`${platform.apiUrl}/v1/batch-jobs/${jobId}`, { headers })
      ).json()) as typeof job;
    }
    const after = await requests();
    const { peakMemoryBytes, peakRssBytes } = await stats();
    const peakRssMiB = round(peakRssBytes / 1024 / 1024);
    const mib = (name: string) => round((peakMemoryBytes[name] ?? 0) / 1024 / 1024);
    const resultsStarted = Date.now();
    const results = join(dir, 'results.jsonl');
    await cli('batch', 'results', jobId, '--out', results);
    const resultsSeconds = (Date.now() - resultsStarted) / 1000;
    await checkResults(results, ITEMS);
    const cancel = await measureCancel(cli, platform.apiUrl, headers, input, join(dir, 'cancelled.jsonl'));

    const lines = platform.output().split('\n');
    const chunks = lines
      .filter((line) => line.includes('"chunk processed"') && line.includes(jobId))
      .map((line) => JSON.parse(line) as ChunkLine);
    const scanned = lines.find((line) => line.includes('"input files scanned"') && line.includes(jobId));
    const createdAt = Date.parse(job.createdAt);
    const seconds = (Date.parse(job.completedAt!) - createdAt) / 1000;
    const chunkSize = Math.max(...chunks.map((c) => c.items));
    // A chunk goes to the model as requests of at most the model's batch size.
    const iris = (await loadModelRepository(join(ROOT, 'triton-image/model_repository'))).find(
      (m) => m.name === 'iris',
    );
    const requestRows = Math.min(chunkSize, iris!.signature.maxBatchSize);
    const mean = (key: 'queueMs' | 'inferenceMs' | 'storageMs') =>
      round(chunks.reduce((t, c) => t + (c[key] ?? 0), 0) / chunks.length);
    const model = await load(`${platform.modelServerUrl}/v2/models/iris/infer`, {
      body: irisRequest(requestRows),
    });
    const modelItemsPerSecond = model.requestsPerSecond * requestRows;
    const per1000 = (key: 'dynamodb' | 's3' | 'sqs') => round(((after[key] - before[key]) * 1000) / ITEMS);
    return {
      model: 'iris',
      items: ITEMS,
      status: job.status,
      succeeded: job.succeeded,
      failed: job.failed,
      // From the CLI's start to its answer: writing the upload's parts and the submission.
      uploadAndSubmitSeconds: round(submittedSeconds),
      // From the job's creation to its end, as the platform recorded them.
      seconds: round(seconds),
      itemsPerSecond: round(ITEMS / seconds),
      modelItemsPerSecond: round(modelItemsPerSecond),
      modelErrors: model.errors,
      overModel: round(ITEMS / seconds / modelItemsPerSecond),
      chunks: chunks.length,
      chunkSize,
      requestRows,
      // The fan-out's scan of the file, from the job's creation to its last line planned.
      scanSeconds: scanned
        ? round((Date.parse((JSON.parse(scanned) as { timestamp: string }).timestamp) - createdAt) / 1000)
        : undefined,
      chunkMs: { queue: mean('queueMs'), inference: mean('inferenceMs'), storage: mean('storageMs') },
      resultsReadSeconds: round(resultsSeconds),
      platformPeakRssMiB: peakRssMiB,
      // Each function's largest container (its isolate's heap and buffers at the end of an invocation).
      peakMemoryMiB: { fanOut: mib('batch-fan-out'), worker: mib('batch-worker') },
      requestsPer1000Items: { dynamodb: per1000('dynamodb'), s3: per1000('s3'), sqs: per1000('sqs') },
      cancel,
    };
  } finally {
    await platform.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

export type DatasetBatchFigures = Awaited<ReturnType<typeof measureDatasetBatch>>;

export const datasetBatchErrors = (figures: DatasetBatchFigures) =>
  figures.modelErrors + (figures.failed === badLines(figures.items).length ? 0 : 1);

export function printDatasetBatch(figures: DatasetBatchFigures): void {
  console.log(
    '\nBatch job of an input file in S3: %d iris items uploaded and submitted by the CLI',
    figures.items,
  );
  console.table({
    [`job (creation to ${figures.status})`]: {
      itemsPerSecond: figures.itemsPerSecond,
      seconds: figures.seconds,
    },
    [`model server alone, ${figures.requestRows} rows per request`]: {
      itemsPerSecond: figures.modelItemsPerSecond,
      seconds: round(figures.items / figures.modelItemsPerSecond),
    },
  });
  console.log(
    'job / model server: %d; upload and submit %d s, scan %d s, results read back %d s; %d chunks, mean per chunk: queued %d ms, inference %d ms, storage %d ms',
    figures.overModel,
    figures.uploadAndSubmitSeconds,
    figures.scanSeconds,
    figures.resultsReadSeconds,
    figures.chunks,
    figures.chunkMs.queue,
    figures.chunkMs.inference,
    figures.chunkMs.storage,
  );
  console.log(
    'per 1,000 items: %d DynamoDB, %d S3, %d SQS requests; platform process peak RSS %d MiB; largest container: fan-out %d MiB, worker %d MiB',
    figures.requestsPer1000Items.dynamodb,
    figures.requestsPer1000Items.s3,
    figures.requestsPer1000Items.sqs,
    figures.platformPeakRssMiB,
    figures.peakMemoryMiB.fanOut,
    figures.peakMemoryMiB.worker,
  );
  console.log(
    'cancelled with %d of %d items done: CANCELLED %d s after the cancel; %d succeeded, %d failed, %d cancelled',
    figures.cancel.doneAtCancel,
    figures.items,
    figures.cancel.seconds,
    figures.cancel.succeeded,
    figures.cancel.failed,
    figures.cancel.cancelled,
  );
}

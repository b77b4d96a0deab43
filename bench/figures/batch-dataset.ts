/**
 * A batch job at dataset scale: JSONL input files generated here (three lines malformed on purpose),
 * uploaded and submitted through the CLI as a user does (`batch submit <model> --file ... --via s3`),
 * run to their end on the local platform and read back with `batch results`, against the model
 * server's own items per second at the job's request size (the most the path could do). Two
 * datasets: `iris` (`BENCH_DATASET_ITEMS`, default 1,000,000, one file, and a cancel a tenth of the
 * way in) and the bench's MLP (`BENCH_DATASET_MLP_ITEMS`, default 1,000,000, pushed through the CLI
 * as a user ships a model, in files of 250,000 lines since one input file holds at most 2 GiB).
 * Where the time went comes from the fan-out's and worker's log lines, the requests and memory from
 * the platform's control API (`stats`): each function's largest container, and the platform
 * process's peak resident set, which every emulator and container shares.
 */
import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { createReadStream, createWriteStream, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { SAGEMAKER_BINARY_PREFIX, sageMakerBinaryRequest } from '../../functions/inference/binary-tensors';
import { npmToken, startPlatformProcess } from '../../local/platform-process';
import { unitOf } from '../../local/seeded-random';
import { loadModelRepository } from '../../triton-image/model-repository';
import {
  BENCH_INPUT,
  BENCH_LAYERS,
  BENCH_MAX_BATCH_SIZE,
  BENCH_MODEL_NAME,
  writeBenchRepositories,
} from '../bench-model';
import { irisItem, irisRequest } from './batch';
import { type LoadFigures, load, OUT_DIR, ROOT, round, startModelServerProcess } from './measure';

const TERMINAL = new Set(['SUCCEEDED', 'COMPLETED_WITH_ERRORS', 'FAILED', 'CANCELLED']);
const execFileAsync = promisify(execFile);

type Cli = (...args: string[]) => Promise<{ stdout: string; stderr: string }>;

/** The platform's model server, and the CPU time of the process it runs in (every thread). */
interface PlatformModelServer {
  readonly url: string;
  readonly cpuMicros: () => Promise<number>;
}

type ModelFigures = LoadFigures & { readonly cpuMicros: number };

/** What a dataset figure varies: the model, its items, and how the model is served and measured alone. */
interface Dataset {
  readonly model: string;
  readonly items: number;
  /** Item `index` as one JSONL line. */
  readonly line: (index: number) => string;
  /** Lines per input file: the job names as many files as that takes, in order. */
  readonly linesPerFile: number;
  readonly maxBatchSize: number;
  /** Makes the model callable on the platform, when the platform does not ship it. */
  readonly install?: (cli: Cli) => Promise<void>;
  /**
   * The model server alone, at `rows` a request, on an otherwise idle machine, with the CPU time its
   * process used meanwhile.
   */
  readonly measureModel: (platform: PlatformModelServer, rows: number) => Promise<ModelFigures>;
  /** Also submit the dataset again and cancel it a tenth of the way in. */
  readonly cancel: boolean;
}

/** Line numbers (1-based) that are not items: the job must fail exactly these, by number. */
const badLines = (items: number) => [18, Math.floor(items / 2) + 1, items - 1].filter((n) => n <= items);

/** Writes the dataset's lines into files of `linesPerFile` lines; returns their paths, in order. */
async function writeInputs(dir: string, dataset: Dataset): Promise<string[]> {
  const bad = new Set(badLines(dataset.items));
  const paths: string[] = [];
  for (let first = 1; first <= dataset.items; first += dataset.linesPerFile) {
    const path = join(dir, `${dataset.model}-${paths.length + 1}.jsonl`);
    paths.push(path);
    const out = createWriteStream(path);
    const last = Math.min(dataset.items, first + dataset.linesPerFile - 1);
    let batch: string[] = [];
    for (let line = first; line <= last; line++) {
      batch.push(bad.has(line) ? '{"inputs": [' : dataset.line(line - 1));
      if (batch.length === 10_000 || line === last) {
        if (!out.write(`${batch.join('\n')}\n`)) await once(out, 'drain');
        batch = [];
      }
    }
    out.end();
    await once(out, 'finish');
  }
  return paths;
}

/**
 * Every index once and in order; the failed items exactly the malformed lines, each named by its
 * line in its file (and, in a job of several files, by the file's input id).
 */
async function checkResults(path: string, dataset: Dataset, inputIds: readonly string[]): Promise<void> {
  const expectedBad = new Set(badLines(dataset.items));
  const where = (line: number) => {
    if (inputIds.length <= 1) return `line ${line}:`;
    const file = Math.floor((line - 1) / dataset.linesPerFile);
    return `input ${inputIds[file]}, line ${line - file * dataset.linesPerFile}:`;
  };
  let next = 0;
  for await (const text of createInterface({ input: createReadStream(path) })) {
    const result = JSON.parse(text) as { index: number; error?: string };
    if (result.index !== next) throw new Error(`results out of order: ${result.index} where ${next} was due`);
    const bad = expectedBad.has(next + 1);
    if (bad !== (result.error !== undefined) || (bad && !result.error!.startsWith(where(next + 1)))) {
      throw new Error(`item ${next}: ${text.slice(0, 200)}`);
    }
    next++;
  }
  if (next !== dataset.items) throw new Error(`${next} results for ${dataset.items} items`);
}

/** The input ids the CLI printed when it submitted (`... (input a, via s3)` or `(inputs a, b, via s3)`). */
const inputIdsOf = (stderr: string) =>
  /submitted job \S+ \(inputs? (.+), via s3\)/.exec(stderr)?.[1]?.split(', ') ?? [];

/**
 * The same files submitted again and cancelled once a tenth of the items are done: the time from the
 * cancel to CANCELLED, and its results read back, every index once and the cancelled lines as counted.
 */
async function measureCancel(
  cli: Cli,
  apiUrl: string,
  headers: Record<string, string>,
  dataset: Dataset,
  submit: string[],
  out: string,
) {
  const jobId = (await cli(...submit)).stdout.trim();
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
  const running = await until((job) => job.succeeded + job.failed >= dataset.items / 10);
  const answer = await fetch(`${apiUrl}/v1/batch-jobs/${jobId}/cancel`, { method: 'POST', headers });
  if (answer.status !== 202) throw new Error(`cancel answered ${answer.status}: ${await answer.text()}`);
  const ended = await until((job) => TERMINAL.has(job.status));
  if (ended.status !== 'CANCELLED' || ended.total !== dataset.items) {
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
  if (next !== dataset.items || cancelled !== ended.cancelled) {
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

/**
 * The request the worker sends for `rows` items, on Triton's own route: the same binary tensors
 * (`sageMakerBinaryRequest`), their header's length in Inference-Header-Content-Length.
 */
function asWorkerSends(inputs: Parameters<typeof sageMakerBinaryRequest>[0]) {
  const { body, contentType } = sageMakerBinaryRequest(inputs)!;
  return {
    body: Buffer.from(body),
    headers: {
      'content-type': 'application/octet-stream',
      'inference-header-content-length': contentType.slice(SAGEMAKER_BINARY_PREFIX.length),
    },
  };
}

/** Fisher's iris rows, one file (a million lines take about 110 MB), on the shipped `iris`. */
async function irisDataset(): Promise<Dataset> {
  const iris = (await loadModelRepository(join(ROOT, 'triton-image/model_repository'))).find(
    (m) => m.name === 'iris',
  )!;
  return {
    model: 'iris',
    items: Number(process.env.BENCH_DATASET_ITEMS ?? 1_000_000),
    line: (index) => JSON.stringify(irisItem(index)),
    linesPerFile: Number.POSITIVE_INFINITY,
    maxBatchSize: iris.signature.maxBatchSize,
    // On the platform's own model server: its process then has no other work than idle pollers.
    measureModel: async (platform, rows) => {
      const before = await platform.cpuMicros();
      const figures = await load(
        `${platform.url}/v2/models/iris/infer`,
        asWorkerSends(JSON.parse(irisRequest(rows)).inputs),
      );
      return { ...figures, cpuMicros: (await platform.cpuMicros()) - before };
    },
    cancel: true,
  };
}

/** Distinct MLP rows the lines cycle through: the model's work does not depend on the values. */
const MLP_ROWS = Array.from({ length: 1024 }, (_, row) =>
  Array.from({ length: BENCH_LAYERS[0] }, (_, i) => Math.round((unitOf(row, i) * 2 - 1) * 1000) / 1000),
);

/**
 * The bench MLP (`bench/bench-model.ts`, 512 FP32 inputs, about 3.1 KB a line): pushed with
 * `models push` as a user ships a model, measured alone in a model server process of its own on the
 * same repository (the platform's endpoint serves a pushed model by TargetModel only).
 */
async function mlpDataset(): Promise<Dataset> {
  const { batched } = await writeBenchRepositories(`${OUT_DIR}/models`);
  const request = (rows: number) =>
    asWorkerSends([
      {
        name: BENCH_INPUT,
        shape: [rows, BENCH_LAYERS[0]],
        datatype: 'FP32',
        data: MLP_ROWS.slice(0, rows).flat(),
      },
    ]);
  return {
    model: BENCH_MODEL_NAME,
    items: Number(process.env.BENCH_DATASET_MLP_ITEMS ?? 1_000_000),
    line: (index) =>
      `{"inputs":[{"name":"${BENCH_INPUT}","shape":[1,${BENCH_LAYERS[0]}],"datatype":"FP32","data":[${MLP_ROWS[index % MLP_ROWS.length]!.join(',')}]}]}`,
    linesPerFile: 250_000,
    maxBatchSize: BENCH_MAX_BATCH_SIZE,
    install: async (cli) => {
      await cli('models', 'push', join(batched, BENCH_MODEL_NAME), '--name', BENCH_MODEL_NAME);
    },
    measureModel: async (_platform, rows) => {
      const server = await startModelServerProcess(batched);
      const figures = await load(`${server.url}/v2/models/${BENCH_MODEL_NAME}/infer`, request(rows)).catch(
        async (error: unknown) => {
          await server.stop().catch(() => undefined);
          throw error;
        },
      );
      return { ...figures, cpuMicros: await server.stop() };
    },
    cancel: false,
  };
}

interface ChunkLine {
  jobId: string;
  items: number;
  queueMs?: number;
  inferenceMs: number;
  storageMs: number;
}

interface JobView {
  status: string;
  total: number;
  succeeded: number;
  failed: number;
  cancelled: number;
  createdAt: string;
  cancelRequestedAt?: string;
  completedAt?: string;
}

async function measureDataset(dataset: Dataset) {
  const dir = mkdtempSync(join(tmpdir(), 'bench-dataset-'));
  const files = await writeInputs(dir, dataset);
  const lineParseCpuMs = lineParseCpuMsPer1000Items(dataset);
  const platform = await startPlatformProcess({
    LOG_LEVEL: 'INFO',
    LOCAL_CONTROL_PORT: '0',
    RATE_LIMIT_TIERS: JSON.stringify({ standard: { limit: 1_000_000, windowSeconds: 60 } }),
  });
  const stats = async () =>
    (
      (await (await fetch(`${platform.controlUrl}/local/faults`)).json()) as {
        stats: {
          requests: { dynamodb: number; s3: number; sqs: number; sagemaker: number };
          peakMemoryBytes: Record<string, number>;
          peakRssBytes: number;
          cpuMicros: number;
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
    await dataset.install?.(cli);
    const submit = ['batch', 'submit', dataset.model, ...files.flatMap((f) => ['--file', f]), '--via', 's3'];
    const before = await requests();
    const submitStarted = Date.now();
    const submitted = await cli(...submit);
    const jobId = submitted.stdout.trim();
    const submittedSeconds = (Date.now() - submitStarted) / 1000;
    const cpuAtSubmission = (await stats()).cpuMicros;
    let job = { status: 'QUEUED' } as JobView;
    while (!TERMINAL.has(job.status)) {
      if (Date.now() - submitStarted > 3_600_000)
        throw new Error(`dataset job ${jobId} did not finish in time`);
      await new Promise((resolve) => setTimeout(resolve, 500));
      job = (await (await fetch(`${platform.apiUrl}/v1/batch-jobs/${jobId}`, { headers })).json()) as JobView;
    }
    const after = await requests();
    const { peakMemoryBytes, peakRssBytes, cpuMicros: cpuAtEnd } = await stats();
    const peakRssMiB = round(peakRssBytes / 1024 / 1024);
    const mib = (name: string) => round((peakMemoryBytes[name] ?? 0) / 1024 / 1024);
    const resultsStarted = Date.now();
    const results = join(dir, 'results.jsonl');
    await cli('batch', 'results', jobId, '--out', results);
    const resultsSeconds = (Date.now() - resultsStarted) / 1000;
    await checkResults(results, dataset, inputIdsOf(submitted.stderr));
    const cancel = dataset.cancel
      ? await measureCancel(cli, platform.apiUrl, headers, dataset, submit, join(dir, 'cancelled.jsonl'))
      : undefined;

    const lines = platform.output().split('\n');
    const chunks = lines
      .filter((line) => line.includes('"chunk processed"') && line.includes(jobId))
      .map((line) => JSON.parse(line) as ChunkLine);
    const scanned = lines.find((line) => line.includes('"input files scanned"') && line.includes(jobId));
    const createdAt = Date.parse(job.createdAt);
    const seconds = (Date.parse(job.completedAt!) - createdAt) / 1000;
    const chunkSize = Math.max(...chunks.map((c) => c.items));
    // A chunk goes to the model as requests of at most the model's batch size.
    const requestRows = Math.min(chunkSize, dataset.maxBatchSize);
    const mean = (key: 'queueMs' | 'inferenceMs' | 'storageMs') =>
      round(chunks.reduce((t, c) => t + (c[key] ?? 0), 0) / chunks.length);
    const model = await dataset.measureModel(
      { url: platform.modelServerUrl, cpuMicros: async () => (await stats()).cpuMicros },
      requestRows,
    );
    const modelItemsPerSecond = model.requestsPerSecond * requestRows;
    const jobCpuMs = (cpuAtEnd - cpuAtSubmission) / 1000;
    const modelCpuMs = model.cpuMicros / 1000;
    const per1000 = (key: 'dynamodb' | 's3' | 'sqs' | 'sagemaker') =>
      round(((after[key] - before[key]) * 1000) / dataset.items);
    return {
      model: dataset.model,
      items: dataset.items,
      inputFiles: files.length,
      status: job.status,
      succeeded: job.succeeded,
      failed: job.failed,
      // From the CLI's start to its answer: writing the upload's parts and the submission.
      uploadAndSubmitSeconds: round(submittedSeconds),
      // From the job's creation to its end, as the platform recorded them.
      seconds: round(seconds),
      itemsPerSecond: round(dataset.items / seconds),
      modelItemsPerSecond: round(modelItemsPerSecond),
      modelErrors: model.errors,
      overModel: round(dataset.items / seconds / modelItemsPerSecond),
      // CPU time per 1,000 items: the platform process's (every emulator and container) from the
      // submission's answer to the job's end, and the model server's alone while it was measured.
      cpuMsPer1000Items: {
        job: round((jobCpuMs * 1000) / dataset.items),
        model: round((modelCpuMs * 1000) / (model.requests * requestRows)),
        lineParse: lineParseCpuMs,
      },
      chunks: chunks.length,
      chunkSize,
      requestRows,
      // The fan-out's scan of the files, from the job's creation to its last line planned.
      scanSeconds: scanned
        ? round((Date.parse((JSON.parse(scanned) as { timestamp: string }).timestamp) - createdAt) / 1000)
        : undefined,
      chunkMs: { queue: mean('queueMs'), inference: mean('inferenceMs'), storage: mean('storageMs') },
      resultsReadSeconds: round(resultsSeconds),
      platformPeakRssMiB: peakRssMiB,
      // Each function's largest container (its isolate's heap and buffers at the end of an invocation).
      peakMemoryMiB: { fanOut: mib('batch-fan-out'), worker: mib('batch-worker') },
      requestsPer1000Items: {
        dynamodb: per1000('dynamodb'),
        s3: per1000('s3'),
        sqs: per1000('sqs'),
        sagemaker: per1000('sagemaker'),
      },
      ...(cancel ? { cancel } : {}),
    };
  } finally {
    await platform.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Lines `JSON.parse` reads for `cpuMsPer1000Items.lineParse`. */
const LINE_PARSE_SAMPLE = 10_000;

/**
 * The CPU `JSON.parse` alone takes per 1,000 of the dataset's lines, in this process once warm: the
 * least a path that reads JSONL spends per item, whatever else it does.
 */
function lineParseCpuMsPer1000Items(dataset: Dataset): number {
  const lines = Array.from({ length: LINE_PARSE_SAMPLE }, (_, index) => dataset.line(index));
  for (const line of lines) JSON.parse(line);
  const before = process.cpuUsage();
  for (const line of lines) JSON.parse(line);
  const used = process.cpuUsage(before);
  // Microseconds per line are milliseconds per 1,000 lines.
  return round((used.user + used.system) / lines.length);
}

export const measureDatasetBatch = async () => measureDataset(await irisDataset());
export const measureMlpDatasetBatch = async () => measureDataset(await mlpDataset());

export type DatasetBatchFigures = Awaited<ReturnType<typeof measureDataset>>;

export const datasetBatchErrors = (figures: DatasetBatchFigures) =>
  figures.modelErrors + (figures.failed === badLines(figures.items).length ? 0 : 1);

export function printDatasetBatch(figures: DatasetBatchFigures): void {
  console.log(
    '\nBatch job of input files in S3: %d %s items in %d file(s), uploaded and submitted by the CLI',
    figures.items,
    figures.model,
    figures.inputFiles,
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
    'CPU per 1,000 items: the job %d ms (platform process, every thread), the model server alone %d ms, JSON.parse of the lines alone %d ms',
    figures.cpuMsPer1000Items.job,
    figures.cpuMsPer1000Items.model,
    figures.cpuMsPer1000Items.lineParse,
  );
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
    'per 1,000 items: %d DynamoDB, %d S3, %d SQS, %d SageMaker requests; platform process peak RSS %d MiB; largest container: fan-out %d MiB, worker %d MiB',
    figures.requestsPer1000Items.dynamodb,
    figures.requestsPer1000Items.s3,
    figures.requestsPer1000Items.sqs,
    figures.requestsPer1000Items.sagemaker,
    figures.platformPeakRssMiB,
    figures.peakMemoryMiB.fanOut,
    figures.peakMemoryMiB.worker,
  );
  if (figures.cancel) {
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
}

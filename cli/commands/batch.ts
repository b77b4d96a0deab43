import { createHash } from 'node:crypto';
import { accessSync, constants, createReadStream, type Stats, statSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { MAX_BATCH_INPUT_BYTES, MAX_JOB_INPUTS } from '../../contracts/batch-data';
import { API_REQUEST_BODY_BYTES } from '../../contracts/lambda-limits';
import {
  type BatchJob,
  IdempotencyKeySchema,
  SubmissionMessageSchema,
  TERMINAL_STATUSES,
} from '../../functions/batch/api-schemas';
import {
  type BatchItem,
  parseJsonl,
  readInputFile,
  secondsOption,
  stringOption,
  stringsOption,
} from '../args';
import { type CommandContext, printJson, segment, write } from '../context';
import { ApiError, CliError, UsageError } from '../errors';
import { ProgressReporter, progressLine, UploadProgress } from '../progress';

/** SQS's message size limit: 1 MiB, the largest and default `MaximumMessageSize` since 2025. */
export const SQS_MAX_MESSAGE_BYTES = 1024 * 1024;
/** How long `wait` treats a 404 as "not stored yet": an SQS submission appears once the fan-out ran. */
const APPEAR_GRACE_MS = 30_000;

const isTerminal = (job: BatchJob) => TERMINAL_STATUSES.includes(job.status);
const jobPath = (jobId: string) => `/v1/batch-jobs/${segment(jobId)}`;

/** `batch submit <model> --file items.jsonl`: over HTTPS, or straight onto the submissions queue. */
export async function submit(ctx: CommandContext): Promise<number> {
  const { values } = ctx;
  const command = 'batch submit';
  const files = stringsOption(values, 'file');
  const uploaded = stringsOption(values, 'input');
  const chosen = stringOption(values, 'via');
  if (chosen !== undefined && !['api', 'sqs', 's3'].includes(chosen)) {
    throw new UsageError(`--via must be api, sqs or s3, got '${chosen}'`, command);
  }
  if (uploaded.length > 0) return submitUploaded(ctx, uploaded, files.length > 0, chosen);
  const file = files[0];
  if (file === undefined) throw new UsageError('--file is required (one JSON item per line)', command);
  if (files.length > 1 && (chosen ?? 's3') !== 's3') {
    throw new UsageError('several --file go up as input files: they take --via s3', command);
  }
  const waitMs = secondsOption(values, 'timeout');
  if (waitMs !== undefined && !values.wait) throw new UsageError('--timeout applies with --wait', command);
  const key = idempotencyKey(values);
  const version = stringOption(values, 'version');
  const model = { model: ctx.args.model!, ...(version ? { version } : {}) };
  let via = chosen ?? defaultVia(files);
  let items: BatchItem[] | undefined;
  if (via !== 's3') {
    items = parseJsonl(readInputFile(file), file === '-' ? 'stdin' : file);
    // The submission's JSON is not the file's size: one a little over the API's body goes up too.
    if (
      chosen === undefined &&
      file !== '-' &&
      submissionBytes({ ...model, items }) > API_REQUEST_BODY_BYTES
    ) {
      via = 's3';
    }
  }

  if (via === 's3') {
    if (files.includes('-'))
      throw new UsageError('--via s3 uploads a file: give its path, not stdin', command);
    refuseSqsFlags(values);
    if (files.length > MAX_JOB_INPUTS) {
      throw new UsageError(`a job names at most ${MAX_JOB_INPUTS} input files, got ${files.length}`, command);
    }
    // Every file is checked before the first goes up.
    for (const path of files) checkInputSize(path);
    const inputIds = [];
    for (const [index, path] of files.entries()) {
      inputIds.push(
        await uploadInput(ctx, path, key === undefined ? undefined : await inputKey(key, index, path)),
      );
    }
    const job = await submitOverApi(ctx, { ...model, inputs: inputIds });
    ctx.io.stderr.write(
      `submitted job ${job.jobId} (${inputIds.length === 1 ? 'input' : 'inputs'} ${inputIds.join(', ')}, via s3)\n`,
    );
    return afterSubmit(ctx, job.jobId, job, waitMs);
  }

  const submission = { ...model, items: items! };

  let jobId: string;
  let submitted: unknown;
  if (via === 'api') {
    refuseSqsFlags(values);
    const job = await submitOverApi(ctx, submission);
    jobId = job.jobId;
    submitted = job;
  } else {
    if (values['idempotency-key'] !== undefined) {
      throw new UsageError(
        '--idempotency-key applies to --via api; over SQS, --job-id names the job',
        command,
      );
    }
    // --wait reads the job over the API: refuse now rather than after the message is sent.
    if (values.wait) ctx.api().requireToken();
    jobId = await submitOverSqs(ctx, submission);
    submitted = { jobId };
  }
  ctx.io.stderr.write(`submitted job ${jobId} (${submission.items.length} items, via ${via})\n`);
  return afterSubmit(ctx, jobId, submitted, waitMs);
}

/** The flags of a submission over SQS, refused on any other path. */
function refuseSqsFlags(values: CommandContext['values']): void {
  for (const flag of ['owner', 'job-id', 'queue-url', 'sqs-endpoint']) {
    if (values[flag] !== undefined) throw new UsageError(`--${flag} applies to --via sqs`, 'batch submit');
  }
}

/** A job of input files uploaded already, named by id, name or `prefix*` (docs/batch.md). */
async function submitUploaded(
  ctx: CommandContext,
  inputs: readonly string[],
  withFiles: boolean,
  via: string | undefined,
): Promise<number> {
  const { values } = ctx;
  const command = 'batch submit';
  if (withFiles) throw new UsageError('give --file or --input, not both', command);
  if (via !== undefined && via !== 's3') {
    throw new UsageError('--input names uploaded input files, which go --via s3', command);
  }
  refuseSqsFlags(values);
  const waitMs = secondsOption(values, 'timeout');
  if (waitMs !== undefined && !values.wait) throw new UsageError('--timeout applies with --wait', command);
  const version = stringOption(values, 'version');
  const job = await submitOverApi(ctx, { model: ctx.args.model!, ...(version ? { version } : {}), inputs });
  ctx.io.stderr.write(`submitted job ${job.jobId} (inputs ${inputs.join(', ')}, via s3)\n`);
  return afterSubmit(ctx, job.jobId, job, waitMs);
}

async function afterSubmit(ctx: CommandContext, jobId: string, submitted: unknown, waitMs?: number) {
  const { values } = ctx;
  if (!values.wait) {
    if (values.json) await printJson(ctx.io, submitted);
    else await write(ctx.io.stdout, `${jobId}\n`);
    return 0;
  }
  if (!values.json) await write(ctx.io.stdout, `${jobId}\n`);
  return finish(ctx, await waitForJob(ctx, jobId, waitMs));
}

/**
 * Where a submission goes without --via: several files, or one larger than the API's request body,
 * go up to S3 as they are, without being read into memory; one smaller file or stdin is sent over
 * the API.
 */
export function defaultVia(files: readonly string[]): 'api' | 's3' {
  if (files.length > 1) return 's3';
  const file = files[0]!;
  return file !== '-' && fileSize(file) > API_REQUEST_BODY_BYTES ? 's3' : 'api';
}

const submissionBytes = (submission: object) => Buffer.byteLength(JSON.stringify(submission));

function fileSize(path: string): number {
  return fileStats(path).size;
}

function fileStats(path: string): Stats {
  try {
    return statSync(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new UsageError(
      `cannot read '${path}': ${code === 'ENOENT' ? 'no such file' : (error as Error).message}`,
    );
  }
}

type StartedInput =
  | { inputId: string; mode: 'stored' }
  | { inputId: string; mode: 'single'; url: string; headers: Record<string, string> }
  | {
      inputId: string;
      mode: 'multipart';
      uploadId: string;
      partSize: number;
      parts: { partNumber: number; url: string }[];
    };

/**
 * Uploads a JSONL file as a batch input (POST /v1/batch-inputs, then one PUT or its parts, read
 * from the file one part at a time) with its progress on stderr; returns the input's id.
 */
function checkInputSize(path: string): number {
  const stats = fileStats(path);
  const size = stats.size;
  try {
    if (!stats.isFile()) throw new Error('not a file');
    accessSync(path, constants.R_OK);
  } catch (error) {
    const reason =
      (error as NodeJS.ErrnoException).code === 'EACCES' ? 'permission denied' : (error as Error).message;
    throw new UsageError(`cannot read '${path}': ${reason}`);
  }
  if (size === 0) throw new UsageError(`'${path}' is empty: no items`);
  if (size > MAX_BATCH_INPUT_BYTES) {
    throw new UsageError(
      `'${path}' is ${formatBytes(size)}, over the ${formatBytes(MAX_BATCH_INPUT_BYTES)} an input file may be; split it into several --file`,
    );
  }
  return size;
}

async function uploadInput(ctx: CommandContext, path: string, key?: string): Promise<string> {
  const size = checkInputSize(path);
  // Retried only with a key: the API then names the same input again instead of another one.
  const started = (
    await ctx.api().request<StartedInput>('POST', '/v1/batch-inputs', {
      body: { size },
      ...(key === undefined ? {} : { headers: { 'Idempotency-Key': key }, retry: true }),
    })
  ).body;
  if (started.mode === 'stored') {
    ctx.io.stderr.write(`'${path}' is uploaded already (input ${started.inputId})\n`);
    return started.inputId;
  }
  const progress = new UploadProgress(ctx.io.stderr, size);
  const file = await open(path, 'r');
  try {
    const put = async (url: string, from: number, length: number, headers: Record<string, string> = {}) => {
      const body = Buffer.alloc(length);
      await file.read(body, 0, length, from);
      const answer = await fetch(url, { method: 'PUT', headers, body });
      // A keyed input another run of the command stored meanwhile: S3 keeps the first (If-None-Match).
      if (answer.status === 412 && key !== undefined) {
        progress.add(length);
        return '';
      }
      if (!answer.ok) {
        throw new CliError(
          `uploading '${path}' failed: ${answer.status} ${(await answer.text()).slice(0, 300)}`,
        );
      }
      progress.add(length);
      return answer.headers.get('etag') ?? '';
    };
    if (started.mode === 'single') {
      await put(started.url, 0, size, started.headers);
    } else {
      const parts = [];
      for (const part of started.parts) {
        const from = (part.partNumber - 1) * started.partSize;
        const etag = await put(part.url, from, Math.min(started.partSize, size - from));
        parts.push({ partNumber: part.partNumber, etag });
      }
      await ctx.api().request('POST', `/v1/batch-inputs/${segment(started.inputId)}/complete`, {
        body: { uploadId: started.uploadId, parts },
      });
    }
  } finally {
    progress.finish();
    await file.close();
  }
  return started.inputId;
}

/**
 * The idempotency key of the job's `index`th input file: the job's key, the file's place, size and
 * SHA-256. Running the command again uploads nothing the first run stored, and names the same
 * inputs, so the job's key finds its job; a changed file is another input, so the job's key is
 * refused (422) rather than its old job returned.
 */
async function inputKey(key: string, index: number, path: string): Promise<string> {
  const content = createHash('sha256');
  for await (const chunk of createReadStream(path)) content.update(chunk as Buffer);
  return createHash('sha256')
    .update(`${key}\n${index}\n${fileSize(path)}\n`)
    .update(content.digest())
    .digest('base64url');
}

/** The `--idempotency-key`, checked before anything is read or uploaded. */
function idempotencyKey(values: CommandContext['values']): string | undefined {
  const key = stringOption(values, 'idempotency-key');
  if (key !== undefined && !IdempotencyKeySchema.safeParse(key).success) {
    throw new UsageError('--idempotency-key must be 1 to 128 printable ASCII characters', 'batch submit');
  }
  return key;
}

async function submitOverApi(ctx: CommandContext, submission: object): Promise<BatchJob> {
  const key = idempotencyKey(ctx.values);
  const bytes = submissionBytes(submission);
  if (bytes > API_REQUEST_BODY_BYTES) {
    throw new UsageError(
      `the submission is ${formatBytes(bytes)}, over the API's ${formatBytes(API_REQUEST_BODY_BYTES)} body limit; submit the file with --via s3`,
    );
  }
  try {
    // Retried only with a key: the API then returns the job the first attempt made instead of a second one.
    const response = await ctx.api().request<BatchJob>('POST', '/v1/batch-jobs', {
      body: submission,
      ...(key === undefined ? {} : { headers: { 'Idempotency-Key': key }, retry: true }),
    });
    return response.body;
  } catch (error) {
    // The API's limit is on the whole proxy event: a body under the CLI's bound may still be refused.
    if (error instanceof ApiError && error.status === 413) {
      throw new CliError(
        `${error.message}\nthe submission is ${formatBytes(bytes)}: submit the file with --via s3`,
      );
    }
    throw error;
  }
}

async function submitOverSqs(ctx: CommandContext, submission: object): Promise<string> {
  const { values, io } = ctx;
  const queueUrl = stringOption(values, 'queue-url') ?? (io.env.INFERENCE_SUBMISSIONS_QUEUE_URL || undefined);
  if (!queueUrl) {
    throw new UsageError(
      '--via sqs needs the submissions queue: --queue-url or INFERENCE_SUBMISSIONS_QUEUE_URL',
      'batch submit',
    );
  }
  const owner = stringOption(values, 'owner');
  if (!owner) throw new UsageError('--via sqs needs --owner, the subject the job belongs to', 'batch submit');
  const jobId = stringOption(values, 'job-id');
  const message = SubmissionMessageSchema.safeParse({ ...submission, owner, ...(jobId ? { jobId } : {}) });
  if (!message.success) {
    const issue = message.error.issues[0]!;
    throw new UsageError(
      `the submission is invalid: '${issue.path.join('.')}' ${issue.message}`,
      'batch submit',
    );
  }
  const body = JSON.stringify(message.data);
  const bytes = Buffer.byteLength(body);
  if (bytes > SQS_MAX_MESSAGE_BYTES) {
    throw new UsageError(
      `the submission is ${formatBytes(bytes)}, over the ${formatBytes(SQS_MAX_MESSAGE_BYTES)} an SQS message holds; ${
        // Over the API's body limit too, only an upload takes it.
        bytes > API_REQUEST_BODY_BYTES ? 'submit the file with --via s3' : 'submit it with --via api'
      }`,
    );
  }

  // The SDK's Node.js support notice is noise on a CLI's stderr. Loaded here: only this path needs the SDK.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const { SQSClient, SendMessageCommand } = await import('@aws-sdk/client-sqs');
  const endpoint = stringOption(values, 'sqs-endpoint') ?? (io.env.AWS_ENDPOINT_URL_SQS || undefined);
  const region =
    io.env.AWS_REGION || io.env.AWS_DEFAULT_REGION || /sqs\.([a-z0-9-]+)\.amazonaws\.com/.exec(queueUrl)?.[1];
  const sqs = new SQSClient({ ...(endpoint ? { endpoint } : {}), ...(region ? { region } : {}) });
  try {
    const sent = await sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: body }));
    // Without a job id the fan-out names the job after the message.
    return message.data.jobId ?? sent.MessageId!;
  } catch (error) {
    throw new CliError(
      `SQS SendMessage to ${queueUrl} failed: ${(error as Error).name}: ${(error as Error).message}`,
    );
  } finally {
    sqs.destroy();
  }
}

/** `batch status <jobId>`. */
export async function status(ctx: CommandContext): Promise<number> {
  const job = (await ctx.api().request<BatchJob>('GET', jobPath(ctx.args.jobId!), { retry: true })).body;
  if (ctx.values.json) await printJson(ctx.io, job);
  else await write(ctx.io.stdout, `${progressLine(job)} (model ${job.model} version ${job.version})\n`);
  return 0;
}

/** `batch wait <jobId>`. */
export async function wait(ctx: CommandContext): Promise<number> {
  return finish(ctx, await waitForJob(ctx, ctx.args.jobId!, secondsOption(ctx.values, 'timeout')));
}

/** Polls the job until it ends or the timeout passes, drawing progress on stderr. */
export async function waitForJob(ctx: CommandContext, jobId: string, timeoutMs?: number): Promise<BatchJob> {
  const intervalMs = secondsOption(ctx.values, 'interval') ?? 1000;
  const started = ctx.now();
  const deadline = timeoutMs === undefined ? Number.POSITIVE_INFINITY : started + timeoutMs;
  const appearBy = Math.min(deadline, started + APPEAR_GRACE_MS);
  const progress = new ProgressReporter(ctx.io.stderr);
  let announced = false;
  for (;;) {
    let job: BatchJob | undefined;
    try {
      job = (await ctx.api().request<BatchJob>('GET', jobPath(jobId), { retry: true })).body;
    } catch (error) {
      if (!(error instanceof ApiError && error.status === 404 && ctx.now() < appearBy)) throw error;
      if (!announced) ctx.io.stderr.write(`job ${jobId} is not stored yet; waiting for it to appear\n`);
      announced = true;
    }
    if (job) {
      progress.update(job);
      if (isTerminal(job)) {
        progress.finish();
        return job;
      }
    }
    // The last poll is at the deadline itself, not an interval before it.
    const left = deadline - ctx.now();
    if (left <= 0) {
      progress.finish();
      const state = job ? `still ${progressLine(job).replace(`job ${jobId} `, '')}` : 'not found';
      throw new CliError(`timed out after ${(ctx.now() - started) / 1000} s: job ${jobId} is ${state}`);
    }
    await ctx.sleep(Math.min(intervalMs, left));
  }
}

/** Prints the finished job and turns its status into the exit code: only SUCCEEDED is 0. */
async function finish(ctx: CommandContext, job: BatchJob): Promise<number> {
  if (ctx.values.json) await printJson(ctx.io, job);
  if (job.status === 'SUCCEEDED') {
    ctx.io.stderr.write(`job ${job.jobId} SUCCEEDED: ${job.succeeded} items\n`);
    return 0;
  }
  const why = job.statusReason ? ` (${job.statusReason})` : '';
  throw new CliError(
    `job ${job.jobId} ended ${job.status}: ${job.succeeded} succeeded, ${job.failed} failed, ${job.cancelled} cancelled of ${job.total}${why}`,
  );
}

interface ResultsPage {
  results: unknown[];
  nextToken?: string;
}

/** An S3 job's results page: its parts as presigned GETs. */
interface ResultLinksPage {
  parts: { url: string; first: number; items: number }[];
  nextToken?: string;
}

/**
 * `batch results <jobId> [--out file]`: one JSON line per item, in item order: every page of a
 * table job's results, or every part an S3 job's links name, streamed as it arrives.
 */
export async function results(ctx: CommandContext): Promise<number> {
  const jobId = ctx.args.jobId!;
  const job = (await ctx.api().request<BatchJob>('GET', jobPath(jobId), { retry: true })).body;
  const inS3 = job.resultsTo === 's3';
  if (inS3 && !isTerminal(job)) {
    throw new CliError(
      `${progressLine(job)}; an S3 job's results can be read once it ends (batch wait ${jobId})`,
    );
  }
  if (!isTerminal(job)) ctx.io.stderr.write(`warning: ${progressLine(job)}; these are the results so far\n`);

  const out = stringOption(ctx.values, 'out');
  const file = out === undefined ? undefined : await openForWriting(out);
  const emit = async (text: string) => {
    if (file) await file.write(text);
    else await write(ctx.io.stdout, text);
  };
  let count = 0;
  try {
    let nextToken: string | undefined;
    do {
      if (inS3) {
        const page = await linksPage(ctx, jobId, nextToken);
        for (const part of page.body.parts) {
          await streamPart(part.url, emit);
          count += part.items;
        }
        nextToken = page.body.nextToken;
      } else {
        const page = await ctx.api().request<ResultsPage>('GET', `${jobPath(jobId)}/results`, {
          query: { limit: 1000, nextToken },
          retry: true,
        });
        await emit(page.body.results.map((r) => `${JSON.stringify(r)}\n`).join(''));
        count += page.body.results.length;
        nextToken = page.body.nextToken;
      }
    } while (nextToken);
  } finally {
    await file?.close();
  }
  ctx.io.stderr.write(`${count} results${out === undefined ? '' : ` written to ${out}`}\n`);
  return 0;
}

/** The manifest is written just after the job ends: a 409 in that moment is waited out, briefly. */
async function linksPage(ctx: CommandContext, jobId: string, nextToken: string | undefined) {
  for (let attempt = 1; ; attempt++) {
    try {
      return await ctx.api().request<ResultLinksPage>('GET', `${jobPath(jobId)}/results`, {
        query: { limit: 100, nextToken },
        retry: true,
      });
    } catch (error) {
      if (!(error instanceof ApiError && error.status === 409) || attempt >= 10) throw error;
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  }
}

/** One part from its presigned link, passed on as it arrives (parts are JSONL already). */
async function streamPart(url: string, emit: (text: string) => Promise<void>): Promise<void> {
  const response = await fetch(url);
  if (!response.ok || !response.body) {
    throw new CliError(
      `reading a results part failed: HTTP ${response.status} (a link lasts 15 minutes; run the command again)`,
    );
  }
  const decoder = new TextDecoder();
  for await (const chunk of response.body) await emit(decoder.decode(chunk, { stream: true }));
  await emit(decoder.decode());
}

async function openForWriting(path: string) {
  try {
    return await open(path, 'w');
  } catch (error) {
    throw new UsageError(`cannot write '${path}': ${(error as Error).message}`);
  }
}

/** `batch list`: the caller's newest jobs. */
export async function list(ctx: CommandContext): Promise<number> {
  const raw = stringOption(ctx.values, 'limit') ?? '20';
  const limit = Number(raw);
  if (!Number.isInteger(limit) || limit < 1 || limit > 100) {
    throw new UsageError(`--limit must be an integer from 1 to 100, got '${raw}'`, 'batch list');
  }
  const page = await ctx.api().request<{ jobs: BatchJob[]; nextToken?: string }>('GET', '/v1/batch-jobs', {
    query: { limit },
    retry: true,
  });
  if (ctx.values.json) {
    await printJson(ctx.io, page.body.jobs);
  } else {
    const lines = page.body.jobs.map(
      (job) => `${progressLine(job)} model ${job.model} created ${job.createdAt}\n`,
    );
    await write(ctx.io.stdout, lines.join(''));
  }
  if (page.body.nextToken) ctx.io.stderr.write(`older jobs exist; showing the newest ${limit}\n`);
  return 0;
}

/** `batch cancel <jobId>`. */
export async function cancel(ctx: CommandContext): Promise<number> {
  const response = await ctx.api().request<BatchJob>('POST', `${jobPath(ctx.args.jobId!)}/cancel`);
  await printJson(ctx.io, response.body);
  return 0;
}

function formatBytes(bytes: number): string {
  return bytes >= 1024 * 1024 ? `${(bytes / 1024 / 1024).toFixed(1)} MiB` : `${Math.ceil(bytes / 1024)} KiB`;
}

import { PutObjectCommand } from '@aws-sdk/client-s3';
import type { InvokeEndpointCommand } from '@aws-sdk/client-sagemaker-runtime';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { batchInputKey } from '../../contracts/batch-data';
import type { ItemResult } from '../../functions/batch/api-schemas';
import { BatchStore } from '../../functions/batch/batch-store';
import { CHUNK_REQUESTS_AT_ONCE, FILE_CHUNK_SCALE_STEP } from '../../functions/batch/chunking';
import { failSubmission } from '../../functions/batch/dead-letters';
import { headInputs, ownerDigest } from '../../functions/batch/input-files';
import { linesOf, readRange } from '../../functions/batch/input-lines';
import { type ScanDependencies, scanInputs } from '../../functions/batch/input-scan';
import { completeInputUpload, keyedInputId, startInputUpload } from '../../functions/batch/input-uploads';
import { resultLinks } from '../../functions/batch/result-links';
import { readPart } from '../../functions/batch/result-parts';
import { IdempotencyKeyReusedError, submitJob } from '../../functions/batch/submission';
import { processChunk, type WorkerDependencies } from '../../functions/batch/worker';
import { BadRequestError, NotFoundError } from '../../functions/edge/errors';
import { ModelCache } from '../../functions/registry/model-cache';
import { ModelRegistry } from '../../functions/registry/registry';
import {
  createBatchTable,
  createRegistryTable,
  type LocalDynamoDb,
  startDynamoDb,
} from '../../local/aws/dynamodb';
import { type LocalS3, startS3 } from '../../local/aws/s3';
import { type ModelServer, startModelServer } from '../../local/model-server/server';
import { loadModelRepository } from '../../triton-image/model-repository';
import { alwaysClosed } from '../helpers/batch-jobs';
import { localDynamoDb, localSageMaker } from '../helpers/local-clients';
import { SIMPLE_VERSION } from '../helpers/simple-model';

const Bucket = 'batch-data';
const simple = SIMPLE_VERSION;

/** Item i: OUTPUT0 (INPUT0 + INPUT1) is i + 1 everywhere. */
const itemLine = (i: number) =>
  JSON.stringify({
    id: `item-${i}`,
    inputs: [
      { name: 'INPUT0', shape: [1, 16], datatype: 'INT32', data: Array.from({ length: 16 }, () => i) },
      { name: 'INPUT1', shape: [1, 16], datatype: 'INT32', data: Array.from({ length: 16 }, () => 1) },
    ],
  });

describe('batch jobs of input files on dynalite, the local S3 and the local model server', () => {
  let dynamo: LocalDynamoDb;
  let s3: LocalS3;
  let server: ModelServer;
  let store: BatchStore;
  let models: ModelCache;
  let worker: WorkerDependencies;
  const inputs = () => ({ s3: s3.client, bucket: Bucket });

  beforeAll(async () => {
    dynamo = await startDynamoDb();
    const dynamodb = localDynamoDb(dynamo.url);
    await createRegistryTable(dynamodb, 'registry');
    await createBatchTable(dynamodb, 'batch');
    const registry = new ModelRegistry(dynamodb, 'registry');
    await registry.putVersion(simple);
    s3 = await startS3({ region: 'us-east-1' });
    await s3.createBucket(Bucket);
    server = await startModelServer({
      models: await loadModelRepository('triton-image/model_repository'),
      endpoints: { triton: {} },
    });
    store = new BatchStore(dynamodb, 'batch');
    models = new ModelCache(registry, { ttlMs: 0 });
    worker = {
      store,
      models,
      inference: { sagemaker: localSageMaker(server.url), circuits: alwaysClosed, timeoutMs: 10_000 },
      outage: { budgetSeconds: 900, defer: async () => {} },
      inputs: inputs(),
      resultFiles: { s3: s3.client, bucket: Bucket },
    };
  });

  afterAll(async () => {
    await server?.close();
    await s3?.close();
    await dynamo?.close();
  });

  /** Puts an input file of the owner's, as a finished upload leaves it; returns its id. */
  async function putInput(owner: string, body: string): Promise<string> {
    const inputId = crypto.randomUUID();
    await s3.client.send(
      new PutObjectCommand({ Bucket, Key: batchInputKey(ownerDigest(owner), inputId), Body: body }),
    );
    return inputId;
  }

  const scanDeps = (overrides: Partial<ScanDependencies> = {}): ScanDependencies => ({
    store,
    inputs: inputs(),
    resultFiles: inputs(),
    models,
    release: async () => {},
    continueLater: async () => {},
    remainingMs: () => Number.POSITIVE_INFINITY,
    sliceMs: Number.POSITIVE_INFINITY,
    rangeBytes: 100,
    chunksPerStep: 2,
    // One of the model's batches per chunk, so that small files make several chunks.
    batchesPerChunk: 1,
    ...overrides,
  });

  async function submit(jobId: string, owner: string, inputIds: string[]) {
    return submitJob(store, models, {
      owner,
      jobId,
      submission: { model: 'simple', inputs: inputIds },
      inputBucket: inputs(),
    });
  }

  /** The job's chunk descriptors, in chunk order. */
  async function descriptors(jobId: string) {
    const job = (await store.getJobRecord(jobId))!;
    return Promise.all(Array.from({ length: job.chunks }, (_, c) => store.getChunk(job, c)));
  }

  it('reads lines by ranges that cut them anywhere, a last line without a newline included', async () => {
    const lines = ['{"a":1}', '', `{"b":"${'x'.repeat(40)}"}`, '{"c":3}\r', '{"d":4}'];
    const body = lines.join('\n');
    const inputId = await putInput('alice', body);
    const [file] = await headInputs(inputs(), 'alice', [inputId]);
    for (const rangeBytes of [1, 3, 7, 64, 1000]) {
      const read: string[] = [];
      for await (const line of linesOf(
        (s, e) => readRange(inputs(), file!, s, e),
        0,
        file!.size,
        1,
        rangeBytes,
      )) {
        read.push(line.bytes!.toString());
        expect(body.slice(line.start, line.end).replace(/\n$/, '')).toBe(line.bytes!.toString());
        expect(line.number).toBe(read.length);
      }
      expect(read).toEqual(lines);
    }
  });

  it('runs a job of input files: every item counted once, bad lines failed with their line numbers', async () => {
    const lines = Array.from({ length: 40 }, (_, i) => itemLine(i));
    lines[4] = '{"inputs": [';
    lines[17] = JSON.stringify({
      id: 'narrow',
      inputs: [{ name: 'INPUT0', shape: [1, 3], datatype: 'INT32', data: [1, 2, 3] }],
    });
    const first = await putInput('alice', `${lines.slice(0, 25).join('\n')}\n\n`);
    const second = await putInput('alice', lines.slice(25).join('\n'));
    const { job } = await submit('files-job', 'alice', [first, second]);
    expect(job).toMatchObject({ status: 'QUEUED', total: 0, chunks: 0 });

    expect(await scanInputs(scanDeps(), 'files-job')).toBe('finished');
    const scanned = (await store.getJobRecord('files-job'))!;
    expect(scanned).toMatchObject({ total: 40 });
    expect(scanned.scan).toBeUndefined();
    for (let chunk = 0; chunk < scanned.chunks; chunk++) {
      await processChunk(worker, { jobId: 'files-job', chunk }, { receiveCount: 1 });
    }

    const done = (await store.getJob('files-job'))!;
    expect(done).toMatchObject({ status: 'COMPLETED_WITH_ERRORS', total: 40, succeeded: 38, failed: 2 });
    const results: ItemResult[] = [];
    // A job of input files writes its results to S3, one part per chunk.
    expect(done.resultsTo).toBe('s3');
    for (let chunk = 0; chunk < scanned.chunks; chunk++)
      results.push(...(await readPart({ s3: s3.client, bucket: Bucket }, 'files-job', chunk))!.results);
    expect(results.map((r) => r.index)).toEqual(Array.from({ length: 40 }, (_, i) => i));
    // Line numbers count in each file: in a job of two, an error names its file's input id too.
    expect(results[4]).toMatchObject({
      index: 4,
      error: expect.stringMatching(new RegExp(`^input ${first}, line 5: not a JSON line`)),
    });
    expect(results[17]).toMatchObject({
      index: 17,
      id: 'narrow',
      error: expect.stringMatching(new RegExp(`^input ${first}, line 18: `)),
    });
    const sum = results[30] as unknown as { outputs: { name: string; data: number[] }[] };
    expect(sum.outputs.find((o) => o.name === 'OUTPUT0')?.data).toEqual(Array.from({ length: 16 }, () => 31));
  });

  it("runs a chunk of several of the model's batches, one request per batch, every item in order", async () => {
    const lines = Array.from({ length: 300 }, (_, i) => itemLine(i));
    lines[29] = '{"inputs": [';
    await submit('batches-job', 'alice', [await putInput('alice', lines.join('\n'))]);
    const sagemaker = localSageMaker(server.url);
    let requests = 0;
    const contentTypes = new Set<string | undefined>();
    const counting: WorkerDependencies = {
      ...worker,
      inference: {
        ...worker.inference,
        sagemaker: Object.assign(Object.create(sagemaker) as typeof sagemaker, {
          send: (...args: Parameters<typeof sagemaker.send>) => {
            requests++;
            contentTypes.add((args[0] as InvokeEndpointCommand).input.ContentType?.split(';')[0]);
            return sagemaker.send(...args);
          },
        }),
      },
    };

    // The default for a model whose batches hold 8: FILE_CHUNK_REQUESTS (32) of them per chunk.
    expect(await scanInputs(scanDeps({ batchesPerChunk: undefined }), 'batches-job')).toBe('finished');
    const scanned = (await store.getJobRecord('batches-job'))!;
    expect(scanned).toMatchObject({ total: 300, chunks: 2 });
    for (const chunk of [0, 1]) {
      await processChunk(counting, { jobId: 'batches-job', chunk }, { receiveCount: 1 });
    }

    // 255 good items in the first chunk and 44 in the second: 32 and 6 batched requests.
    expect(requests).toBe(38);
    // INT32 inputs go as binary data, which the local model server reads as Triton does.
    expect([...contentTypes]).toEqual(['application/vnd.sagemaker-triton.binary+json']);
    expect(await store.getJob('batches-job')).toMatchObject({ succeeded: 299, failed: 1 });
    const results = [
      ...(await readPart(inputs(), 'batches-job', 0))!.results,
      ...(await readPart(inputs(), 'batches-job', 1))!.results,
    ];
    expect(results.map((r) => r.index)).toEqual(Array.from({ length: 300 }, (_, i) => i));
    for (const [index, result] of results.entries()) {
      if (index === 29) {
        expect(result).toMatchObject({ error: expect.stringMatching(/^line 30: not a JSON line/) });
        continue;
      }
      const sum = (result as unknown as { outputs: { name: string; data: number[] }[] }).outputs;
      expect(sum.find((o) => o.name === 'OUTPUT0')?.data).toEqual(
        Array.from({ length: 16 }, () => index + 1),
      );
    }
  });

  it('keeps CHUNK_REQUESTS_AT_ONCE requests of a chunk in flight, its results in item order', async () => {
    // 40 of the model's batches of 8 in one chunk: more requests than a chunk may have in flight.
    const lines = Array.from({ length: 320 }, (_, i) => itemLine(i));
    await submit('wide-chunk-job', 'alice', [await putInput('alice', lines.join('\n'))]);
    expect(await scanInputs(scanDeps({ batchesPerChunk: 40 }), 'wide-chunk-job')).toBe('finished');
    expect(await store.getJobRecord('wide-chunk-job')).toMatchObject({ total: 320, chunks: 1 });
    const sagemaker = localSageMaker(server.url);
    let inFlight = 0;
    let most = 0;
    let requests = 0;
    const gauged: WorkerDependencies = {
      ...worker,
      inference: {
        ...worker.inference,
        sagemaker: Object.assign(Object.create(sagemaker) as typeof sagemaker, {
          send: async (...args: Parameters<typeof sagemaker.send>) => {
            requests++;
            most = Math.max(most, ++inFlight);
            try {
              // Long enough that every request the worker starts at once is in flight together.
              await new Promise((resolve) => setTimeout(resolve, 20));
              return await sagemaker.send(...args);
            } finally {
              inFlight--;
            }
          },
        }),
      },
    };

    await processChunk(gauged, { jobId: 'wide-chunk-job', chunk: 0 }, { receiveCount: 1 });

    expect(requests).toBe(40);
    expect(most).toBe(CHUNK_REQUESTS_AT_ONCE);
    expect(await store.getJob('wide-chunk-job')).toMatchObject({ status: 'SUCCEEDED', succeeded: 320 });
    const { results } = (await readPart(inputs(), 'wide-chunk-job', 0))!;
    expect(results.map((r) => r.index)).toEqual(Array.from({ length: 320 }, (_, i) => i));
    expect(
      results.every(
        (r, i) =>
          (r as { outputs?: { name: string; data: number[] }[] }).outputs?.find((o) => o.name === 'OUTPUT0')
            ?.data[0] ===
          i + 1,
      ),
    ).toBe(true);
  });

  it("grows a job's chunks with their number, so that the job item's per-chunk sets stay bounded", async () => {
    // One batch of 8 per chunk for FILE_CHUNK_SCALE_STEP chunks, then chunks of two batches.
    const step = FILE_CHUNK_SCALE_STEP;
    const lines = Array.from({ length: step * 8 + 40 }, (_, i) => itemLine(i));
    await submit('growing-job', 'alice', [await putInput('alice', lines.join('\n'))]);
    const scan = scanDeps({ rangeBytes: 64 * 1024, chunksPerStep: 64 });
    expect(await scanInputs(scan, 'growing-job')).toBe('finished');
    const job = (await store.getJobRecord('growing-job'))!;
    expect(job).toMatchObject({ total: step * 8 + 40, chunks: step + 3 });
    const planned = await descriptors('growing-job');
    expect(planned.slice(0, step).every((chunk) => chunk?.range?.count === 8)).toBe(true);
    expect(planned.slice(step).map((chunk) => [chunk?.first, chunk?.range?.count])).toEqual([
      [step * 8, 16],
      [step * 8 + 16, 16],
      [step * 8 + 32, 8],
    ]);
    // A grown chunk runs as the model's batches, each item's result in order.
    await processChunk(worker, { jobId: 'growing-job', chunk: step }, { receiveCount: 1 });
    const { results } = (await readPart(inputs(), 'growing-job', step))!;
    expect(results.map((r) => r.index)).toEqual(Array.from({ length: 16 }, (_, i) => step * 8 + i));
    expect(await store.getJob('growing-job')).toMatchObject({ succeeded: 16, failed: 0 });
  });

  it('resumes a scan stopped for time where it stopped, planning the same chunks', async () => {
    const body = Array.from({ length: 60 }, (_, i) => itemLine(i)).join('\n');
    const inputId = await putInput('alice', body);
    await submit('whole-scan', 'alice', [inputId]);
    await submit('resumed-scan', 'alice', [inputId]);
    expect(await scanInputs(scanDeps(), 'whole-scan')).toBe('finished');

    // Time runs short after the third step: a continuation is queued, and the next scan goes on.
    let steps = 0;
    const continued: string[] = [];
    const short = scanDeps({
      release: async () => {
        steps++;
      },
      remainingMs: () => (steps >= 3 ? 1_000 : 600_000),
      continueLater: async (jobId) => {
        continued.push(jobId);
      },
    });
    expect(await scanInputs(short, 'resumed-scan')).toBe('continued');
    expect(continued).toEqual(['resumed-scan']);
    const partway = (await store.getJobRecord('resumed-scan'))!;
    expect(partway.scan).toBeDefined();
    expect(partway.chunks).toBe(6);
    expect(await scanInputs(scanDeps(), 'resumed-scan')).toBe('finished');

    const whole = await descriptors('whole-scan');
    expect(await descriptors('resumed-scan')).toEqual(whole);
    expect((await store.getJobRecord('resumed-scan'))!.total).toBe(60);
  });

  it('plans each chunk once when a redelivered message scans the same job at once', async () => {
    const body = Array.from({ length: 50 }, (_, i) => itemLine(i)).join('\n');
    const inputId = await putInput('alice', body);
    await submit('single-scan', 'alice', [inputId]);
    await submit('twice-scanned', 'alice', [inputId]);
    await scanInputs(scanDeps(), 'single-scan');

    const outcomes = await Promise.all([
      scanInputs(scanDeps(), 'twice-scanned'),
      scanInputs(scanDeps(), 'twice-scanned'),
    ]);
    expect(outcomes).toContain('finished');
    const twice = (await store.getJobRecord('twice-scanned'))!;
    expect(twice).toMatchObject({ total: 50, chunks: (await store.getJobRecord('single-scan'))!.chunks });
    expect(await descriptors('twice-scanned')).toEqual(await descriptors('single-scan'));
  });

  it('ends a job whose files hold no item, with a manifest of no parts', async () => {
    const inputId = await putInput('alice', '\n  \r\n\t\n');
    await submit('no-items', 'alice', [inputId]);

    expect(await scanInputs(scanDeps(), 'no-items')).toBe('finished');

    const ended = (await store.getJob('no-items'))!;
    expect(ended).toMatchObject({ status: 'SUCCEEDED', total: 0, chunks: 0 });
    expect(await resultLinks(inputs(), ended, 10)).toMatchObject({ total: 0, parts: [] });
  });

  it('writes the manifest of a job whose every chunk was counted before its scan ended', async () => {
    // A file of two chunks, then a file of blank lines: the workers count both chunks when the first
    // file's step releases them, while the scan still reads, so the scan's last step ends the job.
    const items = await putInput('alice', Array.from({ length: 16 }, (_, i) => itemLine(i)).join('\n'));
    const blank = await putInput('alice', '\n'.repeat(500));
    await submit('counted-early', 'alice', [items, blank]);
    const processed = new Set<number>();
    const releaseByRunning = async () => {
      const job = (await store.getJobRecord('counted-early'))!;
      for (let chunk = 0; chunk < job.chunks; chunk++) {
        if (processed.has(chunk)) continue;
        processed.add(chunk);
        await processChunk(worker, { jobId: 'counted-early', chunk }, { receiveCount: 1 });
      }
    };

    expect(await scanInputs(scanDeps({ release: releaseByRunning }), 'counted-early')).toBe('finished');

    const ended = (await store.getJob('counted-early'))!;
    expect(processed.size).toBe(2);
    expect(ended).toMatchObject({ status: 'SUCCEEDED', total: 16, succeeded: 16 });
    const links = await resultLinks(inputs(), ended, 10);
    expect(links).toMatchObject({ total: 16, succeeded: 16 });
    expect(links.parts).toHaveLength(2);
  });

  it('counts the lines after a cancel into large chunks that end cancelled without being read', async () => {
    const lines = Array.from({ length: 200 }, (_, i) => itemLine(i));
    lines[150] = '{"inputs": not json';
    const inputId = await putInput('alice', lines.join('\n'));
    await submit('cancelled-scan', 'alice', [inputId]);
    let releases = 0;
    const cancelAtFirstRelease = scanDeps({
      release: async () => {
        if (++releases > 1) return;
        // Every chunk planned so far has started: the lines still to scan are what the cancel stops.
        for (const chunk of [0, 1]) expect(await store.startChunk('cancelled-scan', chunk)).toBe(true);
        expect(await store.requestCancel('cancelled-scan')).toBe(true);
      },
    });

    expect(await scanInputs(cancelAtFirstRelease, 'cancelled-scan')).toBe('finished');

    // Two steps of two chunks of 8 were planned before the scan saw the cancel; then one chunk. The
    // two started before the cancel were never run here, so their redelivery finds them stopped.
    const scanned = (await store.getJobRecord('cancelled-scan'))!;
    expect(scanned).toMatchObject({ total: 200, chunks: 5 });
    expect((await descriptors('cancelled-scan'))[4]).toMatchObject({ first: 32, range: { count: 168 } });
    for (let chunk = 0; chunk < scanned.chunks; chunk++) {
      await processChunk(worker, { jobId: 'cancelled-scan', chunk }, { receiveCount: 1 });
    }
    const ended = (await store.getJob('cancelled-scan'))!;
    expect(ended).toMatchObject({ status: 'CANCELLED', cancelled: 200, succeeded: 0, failed: 0 });
    const results: ItemResult[] = [];
    for (let chunk = 0; chunk < scanned.chunks; chunk++) {
      results.push(...(await readPart(inputs(), 'cancelled-scan', chunk))!.results);
    }
    // The bad line too: a stopped chunk is not read, whoever ends it.
    expect(results).toEqual(Array.from({ length: 200 }, (_, index) => ({ index, cancelled: true })));
  });

  it('keeps the chunks of the scan that counts when a duplicate scan, which read the job before the cancel, writes late', async () => {
    // Prepare: scan A (a duplicate delivery) read the job before the cancel and holds its first
    // chunks' writes; scan B starts after the cancel and counts every line.
    const inputId = await putInput('alice', Array.from({ length: 200 }, (_, i) => itemLine(i)).join('\n'));
    await submit('raced-scan', 'alice', [inputId]);
    let reached!: () => void;
    const blocked = new Promise<void>((resolve) => {
      reached = resolve;
    });
    let open!: () => void;
    const gate = new Promise<void>((resolve) => {
      open = resolve;
    });
    const late = new Proxy(store, {
      get(target, key) {
        if (key === 'putChunk')
          return async (...args: Parameters<BatchStore['putChunk']>) => {
            reached();
            await gate;
            return target.putChunk(...args);
          };
        const value = Reflect.get(target, key);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    // Act
    const a = scanInputs(scanDeps({ store: late }), 'raced-scan');
    await blocked;
    expect(await store.requestCancel('raced-scan')).toBe(true);
    expect(await scanInputs(scanDeps(), 'raced-scan')).toBe('finished');
    open();
    // Assess: A's planned chunk 0 does not replace B's counted one, and A stops.
    expect(await a).toBe('superseded');
    const scanned = (await store.getJobRecord('raced-scan'))!;
    expect(scanned).toMatchObject({ total: 200, chunks: 1 });
    expect((await descriptors('raced-scan'))[0]).toMatchObject({
      first: 0,
      range: { count: 200, counted: true },
    });
    await processChunk(worker, { jobId: 'raced-scan', chunk: 0 }, { receiveCount: 1 });
    expect(await store.getJob('raced-scan')).toMatchObject({ status: 'CANCELLED', cancelled: 200 });
    const results = (await readPart(inputs(), 'raced-scan', 0))!.results;
    expect(results).toEqual(Array.from({ length: 200 }, (_, index) => ({ index, cancelled: true })));
  });

  it('ends a job whose scan died where the scan stopped, with why the rest was not read', async () => {
    const body = Array.from({ length: 60 }, (_, i) => itemLine(i)).join('\n');
    for (const [jobId, run] of [
      ['dead-scan', 3],
      ['dead-scan-counted', 6],
    ] as const) {
      await submit(jobId, 'alice', [await putInput('alice', body)]);
      // The scan stops for time after three steps (48 items), and its continuation is never run.
      let steps = 0;
      const short = scanDeps({
        release: async () => {
          steps++;
        },
        remainingMs: () => (steps >= 3 ? 1_000 : 600_000),
      });
      expect(await scanInputs(short, jobId)).toBe('continued');
      for (let chunk = 0; chunk < run; chunk++) {
        await processChunk(worker, { jobId, chunk }, { receiveCount: 1 });
      }

      await failSubmission(
        store,
        { messageId: `${jobId}-message`, body: JSON.stringify({ jobId, scan: true }) },
        'failed on all 3 deliveries: input unreadable',
        inputs(),
      );

      const ended = (await store.getJobRecord(jobId))!;
      expect(ended).toMatchObject({
        status: 'COMPLETED_WITH_ERRORS',
        total: 48,
        succeeded: run * 8,
        failed: 48 - run * 8,
        statusReason: 'input 0 not read from line 49: failed on all 3 deliveries: input unreadable',
      });
      expect(ended.scan).toBeUndefined();
      expect(await resultLinks(inputs(), ended, 10)).toMatchObject({ total: 48, succeeded: run * 8 });
    }
  });

  it('refuses an input uploaded more than one retention ago, which could expire under the job, unless its job exists', async () => {
    // Prepare: the store's clock one retention (30 days by default) and a minute after the upload.
    const inputId = await putInput('alice', `${itemLine(0)}\n`);
    const later = () => new Date(Date.now() + 30 * 86_400_000 + 60_000);
    const laterStore = new BatchStore(localDynamoDb(dynamo.url), 'batch', later);
    const submitLater = (jobId: string) =>
      submitJob(
        laterStore,
        models,
        { owner: 'alice', jobId, submission: { model: 'simple', inputs: [inputId] }, inputBucket: inputs() },
        later,
      );
    // Act, Assess: a new job is refused, with why and what to do.
    const refused = await submitLater('stale-input-job').catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(BadRequestError);
    expect((refused as Error).message).toMatch(
      new RegExp(
        `^input '${inputId}' was uploaded on .*, more than the batch retention ago: .*upload it again$`,
      ),
    );
    expect(await store.getJobRecord('stale-input-job')).toBeUndefined();
    // The same submission of a job made in time gets its job back.
    await submit('fresh-input-job', 'alice', [inputId]);
    expect(await submitLater('fresh-input-job')).toMatchObject({
      created: false,
      job: { jobId: 'fresh-input-job' },
    });
  });

  it("refuses an input id of another owner's file, or of no file, as not found", async () => {
    const theirs = await putInput('bob', itemLine(0));
    await expect(submit('foreign-input', 'alice', [theirs])).rejects.toBeInstanceOf(NotFoundError);
    await expect(submit('missing-input', 'alice', [crypto.randomUUID()])).rejects.toBeInstanceOf(
      NotFoundError,
    );
    expect(await store.getJob('foreign-input')).toBeUndefined();
  });

  it('uploads an input file through a presigned PUT and through presigned parts', async () => {
    const small = `${itemLine(1)}\n`;
    const single = await startInputUpload(inputs(), 'carol', Buffer.byteLength(small));
    if (single.mode !== 'single') throw new Error('expected one PUT');
    const put = await fetch(single.url, { method: 'PUT', headers: single.headers, body: small });
    expect(put.status).toBe(200);
    expect(await headInputs(inputs(), 'carol', [single.inputId])).toMatchObject([{ size: small.length }]);

    const big = Buffer.alloc(9 * 1024 * 1024, 0x20);
    const multi = await startInputUpload(inputs(), 'carol', big.length);
    if (multi.mode !== 'multipart') throw new Error('expected parts');
    const parts = [];
    for (const part of multi.parts) {
      const from = (part.partNumber - 1) * multi.partSize;
      const answer = await fetch(part.url, {
        method: 'PUT',
        body: big.subarray(from, from + multi.partSize),
      });
      expect(answer.status).toBe(200);
      parts.push({ partNumber: part.partNumber, etag: answer.headers.get('etag')! });
    }
    expect(
      await completeInputUpload(inputs(), 'carol', multi.inputId, { uploadId: multi.uploadId, parts }),
    ).toEqual({ inputId: multi.inputId, size: big.length });
    // Another owner's completion names a key of its own, where nothing was uploaded.
    await expect(
      completeInputUpload(inputs(), 'mallory', multi.inputId, { uploadId: multi.uploadId, parts }),
    ).rejects.toThrow(/multipart upload cannot complete/);
  });

  it('names one input per caller and idempotency key: stored once uploaded, refused for another size', async () => {
    const body = `${itemLine(2)}\n`;
    const size = Buffer.byteLength(body);
    const first = await startInputUpload(inputs(), 'dora', size, { idempotencyKey: 'nightly' });
    const retried = await startInputUpload(inputs(), 'dora', size, { idempotencyKey: 'nightly' });
    if (first.mode !== 'single' || retried.mode !== 'single') throw new Error('expected one PUT each');
    expect(retried.inputId).toBe(first.inputId);
    expect(first.inputId).toBe(keyedInputId('dora', 'nightly'));
    // Version 8 and the RFC 9562 variant: never a random (version 4) input id.
    expect(first.inputId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    // Another caller's key of the same text names another input; no key, a new one each time.
    expect(keyedInputId('erik', 'nightly')).not.toBe(first.inputId);
    const unkeyed = await startInputUpload(inputs(), 'dora', size);
    expect(unkeyed.inputId).not.toBe(first.inputId);

    expect((await fetch(first.url, { method: 'PUT', headers: first.headers, body })).status).toBe(200);
    // The second presigned PUT is refused: the stored input is never replaced.
    expect((await fetch(retried.url, { method: 'PUT', headers: retried.headers, body })).status).toBe(412);
    expect(await startInputUpload(inputs(), 'dora', size, { idempotencyKey: 'nightly' })).toEqual({
      inputId: first.inputId,
      mode: 'stored',
      size,
      maxBytes: expect.any(Number),
    });
    await expect(
      startInputUpload(inputs(), 'dora', size + 1, { idempotencyKey: 'nightly' }),
    ).rejects.toBeInstanceOf(IdempotencyKeyReusedError);
    // A job naming the input by that id reads it.
    const { job } = await submit('keyed-input', 'dora', [first.inputId]);
    expect(job.status).toBe('QUEUED');
  });

  it("names inputs, and reads every one of the caller's inputs under an id prefix, in key order", async () => {
    const put = (owner: string, inputId: string) =>
      s3.client.send(
        new PutObjectCommand({
          Bucket,
          Key: batchInputKey(ownerDigest(owner), inputId),
          Body: `${itemLine(3)}\n`,
        }),
      );
    for (const id of ['day-02', 'day-10', 'day-01', 'night-01']) await put('frida', id);
    await put('gert', 'day-03');
    const idsOf = async (jobId: string) => (await store.getJobRecord(jobId))!.inputs!.map((i) => i.inputId);

    await submit('prefixed-days', 'frida', ['day-*']);
    expect(await idsOf('prefixed-days')).toEqual(['day-01', 'day-02', 'day-10']);
    // Entries keep their order, and an id the prefix also names is read again, as listed.
    await submit('prefixed-mixed', 'frida', ['night-01', '*', 'day-02']);
    expect(await idsOf('prefixed-mixed')).toEqual([
      'night-01',
      'day-01',
      'day-02',
      'day-10',
      'night-01',
      'day-02',
    ]);
    // Another owner's inputs are never listed; a prefix that names none is not found.
    await expect(submit('prefixed-none', 'gert', ['night-*'])).rejects.toBeInstanceOf(NotFoundError);
    for (let i = 0; i <= 100; i++) await put('hanna', `many-${String(i).padStart(3, '0')}`);
    await expect(submit('prefixed-many', 'hanna', ['many-*'])).rejects.toThrow(/more than 100 files/);
    await submit('prefixed-hundred', 'hanna', ['many-0*']);
    expect(await idsOf('prefixed-hundred')).toHaveLength(100);
  });

  it('uploads an input under the name the caller gives it: stored once uploaded, refused for another size', async () => {
    const body = `${itemLine(4)}\n`;
    const size = Buffer.byteLength(body);
    const started = await startInputUpload(inputs(), 'ida', size, { name: 'sales-2026-12-01' });
    if (started.mode !== 'single') throw new Error('expected one PUT');
    expect(started.inputId).toBe('sales-2026-12-01');
    expect((await fetch(started.url, { method: 'PUT', headers: started.headers, body })).status).toBe(200);
    expect(await startInputUpload(inputs(), 'ida', size, { name: 'sales-2026-12-01' })).toMatchObject({
      inputId: 'sales-2026-12-01',
      mode: 'stored',
    });
    await expect(
      startInputUpload(inputs(), 'ida', size + 1, { name: 'sales-2026-12-01' }),
    ).rejects.toBeInstanceOf(IdempotencyKeyReusedError);
    await expect(
      startInputUpload(inputs(), 'ida', size, { name: 'sales', idempotencyKey: 'k' }),
    ).rejects.toBeInstanceOf(BadRequestError);
    await submit('named-input', 'ida', ['sales-*']);
    expect((await store.getJobRecord('named-input'))!.inputs!.map((i) => i.inputId)).toEqual([
      'sales-2026-12-01',
    ]);
  });
});

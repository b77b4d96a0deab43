import { randomUUID } from 'node:crypto';
import {
  type AttributeValue,
  ConditionalCheckFailedException,
  DeleteItemCommand,
  type DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  QueryCommand,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import { marshall, unmarshall } from '@aws-sdk/util-dynamodb';
import { BATCH_KEYS } from '../../contracts/table-keys';
import * as z from '../../contracts/zod';
import { ConflictError } from '../edge/errors';
import { decodePageToken, encodePageToken, keyTokenSchema, type Page } from '../edge/page-token';
import { parseInput } from '../edge/validation';
import { type BatchJob, type ItemResult, type JobStatus, OwnerSchema } from './api-schemas';
import type { StoredItem } from './chunking';
import { mapInFlight } from './in-flight';
import type { InputRange, JobInput, ScanCursor } from './input-schemas';

const { partitionKey: PK, sortKey: SK, ownerIndex, ttlAttribute: TTL } = BATCH_KEYS;
const JOB = '#JOB';
const PACING = '#PACING';
const jobKey = (jobId: string) => `JOB#${jobId}`;
// Zero-padded so chunks and results sort in item order.
const pad = (chunk: number) => String(chunk).padStart(6, '0');
/**
 * How much of the API's answer a page of results may take: Lambda returns at most 6 MiB
 * (contracts/lambda-limits.ts), the body inside the function's JSON result, escaped a second time.
 */
export const RESULTS_PAGE_BYTES = 5 * 1024 * 1024;

/** A result's bytes in the function's result: its JSON, escaped as a string once more. */
function answerBytes(result: ItemResult): number {
  return Buffer.byteLength(JSON.stringify(JSON.stringify(result)));
}

/**
 * Chunks are written before their job, so every submission racing for one id writes a set of its
 * own: keyed by that set's random id, which only the job that wins records, no two submissions ever
 * write the same chunk item, and a job reads only the chunks of the submission that created it.
 */
const chunkKey = (chunkSet: string, chunk: number) => `CHUNK#${chunkSet}#${pad(chunk)}`;
/**
 * A chunk's result is one item, or when its results are too large for one, a first part under this
 * key naming how many parts there are and the attempt that wrote them, then the other parts under
 * keys of that attempt, which sort after the first part and before the next chunk.
 */
const resultKey = (chunk: number) => `RESULT#${pad(chunk)}`;
const resultPartKey = (chunk: number, attempt: string, part: number) =>
  `${resultKey(chunk)}#${attempt}#${pad(part)}`;

/**
 * The most bytes of results (their JSON) one result item holds: DynamoDB items are limited to
 * 400 KB, names and keys included. A single item's result larger than this cannot be stored.
 */
export const MAX_RESULT_PART_BYTES = 380_000;
/** The retention of `batchRetentionDays`' default, for a store built without one. */
const DEFAULT_RETENTION_SECONDS = 30 * 86_400;
/** Result parts written at once. */
const PART_WRITE_CONCURRENCY = 4;
const key = (jobId: string, sort: string) => marshall({ [PK]: jobKey(jobId), [SK]: sort });

/**
 * A chunk's inputs: items `first` .. `first + items.length - 1` of the job; or, for a job that reads
 * input files, `range`, where its items are (and `items` is empty).
 */
export interface StoredChunk {
  readonly first: number;
  readonly items: readonly StoredItem[];
  readonly range?: InputRange;
}

/** A chunk's outcome: one result per item, in item order. */
export interface ChunkResult {
  readonly chunk: number;
  readonly results: readonly ItemResult[];
  /** The job retry that wrote this result (absent for the first run). */
  readonly attempt?: number;
  /** How many of the chunk's failed items that retry turned into successes. */
  readonly recovered?: number;
  /** An S3 part's ETag as read: a retry's outcome replaces the part only while it still has it. */
  readonly etag?: string;
}

export interface Counts {
  readonly succeeded: number;
  readonly failed: number;
  readonly cancelled: number;
}

/**
 * The one live chain of a running job's stall checks (`stall-watch.ts`), never shown to callers: only
 * the check message holding `token` acts, and each check passes the chain on under a new token.
 */
export interface StallWatch {
  /** Random, and carried only by the platform's own check message: a queue sender cannot name it. */
  readonly token: string;
  /** The id of the SQS message whose handling set this token, which sends its check again if redelivered. */
  readonly by: string;
  /** The job's `updatedAt` when a check last saw it move, and when that was (epoch ms). */
  readonly updatedAt: string;
  readonly since: number;
}

/**
 * A job as stored: what the API shows, and what only the batch functions read. `fingerprint` is the
 * hash of the submission that created it; `chunkSet` names the chunks that submission wrote.
 */
export interface JobRecord extends BatchJob {
  readonly fingerprint: string;
  /** The input files the job reads its items from, when it names files rather than items. */
  readonly inputs?: readonly JobInput[];
  /**
   * Where the scan of the input files goes on: present until every line is planned into chunks.
   * Until then `total` and `chunks` grow, and the job cannot finish.
   */
  readonly scan?: ScanCursor;
  readonly chunkSet: string;
  /** How many retries were started (0 before any). */
  readonly attempt: number;
  /** The first run's chunks that a worker started (`startChunk`); none can start after a cancel. */
  readonly started: ReadonlySet<number>;
  /** The chunks of the current retry not yet counted. */
  readonly retryChunks: readonly number[];
  /** Every chunk of the current retry, in the order its work is sent. */
  readonly retryPlan: readonly number[];
  /** How many chunks of the current attempt (first run or retry) have had their work sent. */
  readonly sent: number;
  /** When the event of the job's current end was published (`markNotified`); absent until then. */
  readonly notifiedAt?: string;
  /** When its owner's deletion began (`markDeleting`): no retry may start from then on. */
  readonly deletingAt?: string;
  /** The release sending this job's next chunks, if one holds the job (`leaseRelease`). */
  readonly releasing?: { readonly token: string; readonly untilMs: number };
  /** The chain of stall checks of the current attempt, once its fan-out started one. */
  readonly watch?: StallWatch;
  /**
   * How many chunks of the current attempt are counted, or deferred for a model outage and not yet
   * counted: a deferred chunk waits as a delayed message, out of every worker's way.
   */
  readonly counted: number;
}

/** What names a job's chunks: its id and the set its submission wrote. */
export type ChunkSet = Pick<JobRecord, 'jobId' | 'chunkSet'>;

/** A new job as the submission writes it; its results go to the table unless it says otherwise. */
export type NewJob = Partial<Pick<JobRecord, 'resultsTo'>> &
  Omit<
    JobRecord,
    | 'resultsTo'
    | 'status'
    | 'succeeded'
    | 'failed'
    | 'cancelled'
    | 'updatedAt'
    | 'attempt'
    | 'started'
    | 'retryChunks'
    | 'retryPlan'
    | 'sent'
    | 'counted'
    | 'releasing'
    | 'watch'
    | 'notifiedAt'
    | 'deletingAt'
  >;

const JOB_FIELDS = [
  'jobId',
  'owner',
  'model',
  'version',
  'status',
  'total',
  'succeeded',
  'failed',
  'cancelled',
  'chunks',
  'resultsTo',
  'createdAt',
  'updatedAt',
  'completedAt',
  'cancelRequestedAt',
  'statusReason',
  'attempt',
] as const;

/**
 * Jobs, chunk inputs and chunk results in DynamoDB. Every write is a single-item conditional
 * write (dynalite has no transactions), which is what makes accounting exactly-once:
 * - a chunk's result is put only if absent, so the first outcome recorded is the one that stays;
 * - a chunk's counts are added to the job only if the chunk is not yet in `countedChunks`, in the
 *   same update that adds it there.
 * A worker that dies between the two writes is redelivered: its result put fails (it exists), it
 * reads the stored result and its counts still land once.
 */
export class BatchStore {
  constructor(
    protected readonly client: DynamoDBClient,
    protected readonly tableName: string,
    protected readonly now: () => Date = () => new Date(),
    /** How long a finished job and its data are kept (`BATCH_RETENTION_SECONDS`). */
    private readonly retentionSeconds: number = DEFAULT_RETENTION_SECONDS,
  ) {}

  /** The epoch second `seconds` from now: an `expiresAt`. */
  private expiresIn(seconds: number): number {
    return Math.floor(this.now().getTime() / 1000) + seconds;
  }

  /**
   * The expiry of an item written while its job may run (chunks, results, the running job item,
   * pacing): three retentions. A job ends at most one retention after its creation (`runDeadline`)
   * and is kept one retention after it ends, so these outlive it. See docs/batch.md, "Retention".
   */
  private dataExpiry(): number {
    return this.expiresIn(3 * this.retentionSeconds);
  }

  /** Whether a stored item's expiry has passed: DynamoDB deletes it late, reads still return it. */
  private expired(raw: Record<string, unknown>): boolean {
    const at = raw[TTL];
    return typeof at === 'number' && at <= this.now().getTime() / 1000;
  }

  /** When a job created at `createdAt` must have ended (its retries included): one retention on. */
  runDeadline(createdAt: string): number {
    return Date.parse(createdAt) + this.retentionSeconds * 1000;
  }

  /** A job as the API shows it. */
  async getJob(jobId: string): Promise<BatchJob | undefined> {
    const record = await this.getJobRecord(jobId);
    return record ? toJob(record) : undefined;
  }

  async getJobRecord(jobId: string): Promise<JobRecord | undefined> {
    const { Item } = await this.client.send(
      new GetItemCommand({ TableName: this.tableName, Key: key(jobId, JOB), ConsistentRead: true }),
    );
    if (!Item) return undefined;
    const raw = unmarshall(Item);
    // An expired job is gone, whether or not TTL has deleted it yet.
    return this.expired(raw) ? undefined : toJobRecord(raw);
  }

  /**
   * Writes a chunk's descriptor. A planned chunk of an input file never replaces one its scan
   * counted after a cancel: false then (the scan that planned it was overtaken by one that counts).
   */
  async putChunk(set: ChunkSet, chunk: number, stored: StoredChunk): Promise<boolean> {
    const planned = stored.range !== undefined && !stored.range.counted;
    try {
      await this.client.send(
        new PutItemCommand({
          TableName: this.tableName,
          Item: marshall({
            [PK]: jobKey(set.jobId),
            [SK]: chunkKey(set.chunkSet, chunk),
            first: stored.first,
            items: JSON.stringify(stored.items),
            [TTL]: this.dataExpiry(),
            ...(stored.range ? { range: stored.range } : {}),
          }),
          ...(planned
            ? {
                ConditionExpression: 'attribute_not_exists(#range.#counted)',
                ExpressionAttributeNames: { '#range': 'range', '#counted': 'counted' },
              }
            : {}),
        }),
      );
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  }

  async getChunk(set: ChunkSet, chunk: number): Promise<StoredChunk | undefined> {
    const { Item } = await this.client.send(
      new GetItemCommand({
        TableName: this.tableName,
        Key: key(set.jobId, chunkKey(set.chunkSet, chunk)),
        ConsistentRead: true,
      }),
    );
    if (!Item) return undefined;
    const raw = unmarshall(Item) as { first: number; items: string; range?: InputRange };
    return {
      first: raw.first,
      items: JSON.parse(raw.items) as StoredItem[],
      ...(raw.range ? { range: raw.range } : {}),
    };
  }

  /** Puts a job unless one with its id exists; returns the job that is stored either way. */
  async createJob(job: NewJob): Promise<{ job: JobRecord; created: boolean }> {
    const stored: JobRecord = {
      ...job,
      resultsTo: job.resultsTo ?? 'table',
      status: 'QUEUED',
      succeeded: 0,
      failed: 0,
      cancelled: 0,
      updatedAt: job.createdAt,
      attempt: 0,
      started: new Set(),
      retryChunks: [],
      retryPlan: [],
      sent: 0,
      counted: 0,
    };
    try {
      await this.client.send(
        new PutItemCommand({
          TableName: this.tableName,
          Item: marshall(
            {
              ...job,
              resultsTo: stored.resultsTo,
              status: stored.status,
              succeeded: 0,
              failed: 0,
              cancelled: 0,
              updatedAt: stored.updatedAt,
              [PK]: jobKey(job.jobId),
              [SK]: JOB,
              [ownerIndex.partitionKey]: ownerPartition(job.owner),
              [ownerIndex.sortKey]: `${job.createdAt}#${job.jobId}`,
              [TTL]: this.dataExpiry(),
            },
            { removeUndefinedValues: true },
          ),
          ConditionExpression: 'attribute_not_exists(#pk)',
          ExpressionAttributeNames: { '#pk': PK },
        }),
      );
      return { job: stored, created: true };
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
      const existing = await this.getJobRecord(job.jobId);
      if (!existing) {
        // Its id names a job that expired and awaits deletion: reusing it would mix in its data.
        throw new ConflictError(
          `batch job '${job.jobId}' has expired and is being removed; submit with another idempotency key`,
        );
      }
      // The SDK retries a write whose answer was lost (a 500, a reset connection), and the retry then
      // finds the first attempt's own job: this call created it, with these chunks.
      return { job: existing, created: existing.chunkSet === job.chunkSet };
    }
  }

  /** QUEUED → RUNNING once the work is enqueued; any other state stays. */
  async markRunning(jobId: string): Promise<void> {
    await this.conditionalUpdate(jobId, 'SET #status = :running, updatedAt = :now', '#status = :queued', {
      ':running': 'RUNNING',
      ':queued': 'QUEUED',
    });
  }

  /**
   * Records a cancel request; false when the job is finished (or absent), or when every chunk has
   * started and its input files (if any) are read to their end, so that nothing is left to stop.
   * The job item orders this against `startChunk`: a request recorded here stops every chunk not
   * started before it, and there is at least one unless the lines left to scan are all blank.
   */
  async requestCancel(jobId: string): Promise<boolean> {
    return this.conditionalUpdate(
      jobId,
      'SET cancelRequestedAt = if_not_exists(cancelRequestedAt, :now), updatedAt = :now',
      'attribute_exists(#pk) AND #status IN (:queued, :running) AND ' +
        '(attribute_not_exists(startedChunks) OR size(startedChunks) < chunks OR attribute_exists(#scan))',
      { ':queued': 'QUEUED', ':running': 'RUNNING' },
    );
  }

  /**
   * Starts retry `attempt` of a finished job over `chunks` (those holding failed items): back to
   * RUNNING with the chunks to recount. Conditional on the status and on the previous attempt, so of
   * concurrent retries exactly one starts; false for the others.
   */
  async startRetry(jobId: string, attempt: number, chunks: readonly number[]): Promise<boolean> {
    const previous = attempt === 1 ? 'attribute_not_exists(attempt)' : 'attempt = :previous';
    try {
      await this.client.send(
        new UpdateItemCommand({
          TableName: this.tableName,
          Key: key(jobId, JOB),
          UpdateExpression:
            'SET #status = :running, attempt = :attempt, retryChunks = :chunks, retryPlan = :chunks, #sent = :zero, updatedAt = :now, #ttl = :expiry REMOVE completedAt, notifiedAt, #watch',
          // A retry must end within the job's run deadline too, so it starts only before it.
          ConditionExpression: `#status IN (:failed, :partial) AND ${previous} AND createdAt > :cutoff AND attribute_not_exists(deletingAt)`,
          ExpressionAttributeNames: { '#status': 'status', '#sent': 'sent', '#ttl': TTL, '#watch': 'watch' },
          ExpressionAttributeValues: {
            ...marshall({
              ':running': 'RUNNING',
              ':failed': 'FAILED',
              ':partial': 'COMPLETED_WITH_ERRORS',
              ':attempt': attempt,
              ':zero': 0,
              ...(attempt === 1 ? {} : { ':previous': attempt - 1 }),
              ':now': this.now().toISOString(),
              ':expiry': this.dataExpiry(),
              ':cutoff': new Date(this.now().getTime() - this.retentionSeconds * 1000).toISOString(),
            }),
            ':chunks': { SS: chunks.map(String) },
          },
        }),
      );
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  }

  /**
   * Moves `recovered` items of a retried chunk from failed to succeeded, once: conditional on the
   * chunk still being in the retry's `retryChunks`, from which the same update removes it. `done`
   * is true when no retry chunk is left, so the job's counts are final; `counted` when this call
   * moved the counts (false for a chunk counted before).
   */
  async countRetry(
    jobId: string,
    chunk: number,
    attempt: number,
    recovered: number,
  ): Promise<{ job: BatchJob; done: boolean; counted: boolean } | undefined> {
    try {
      const { Attributes } = await this.client.send(
        new UpdateItemCommand({
          TableName: this.tableName,
          Key: key(jobId, JOB),
          UpdateExpression: 'ADD succeeded :s, failed :f DELETE retryChunks :chunk SET updatedAt = :now',
          ConditionExpression: 'attempt = :attempt AND contains(retryChunks, :chunkId)',
          ExpressionAttributeValues: {
            ...marshall({
              ':s': recovered,
              ':f': -recovered,
              ':attempt': attempt,
              ':chunkId': String(chunk),
              ':now': this.now().toISOString(),
            }),
            ':chunk': { SS: [String(chunk)] },
          },
          ReturnValues: 'ALL_NEW',
        }),
      );
      if (!Attributes) return undefined;
      const raw = unmarshall(Attributes);
      return { job: toJob(raw), done: raw.retryChunks === undefined, counted: true };
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
      const job = await this.getJobRecord(jobId);
      // Counted before (a redelivery): done only if this retry is still the job's and has ended.
      return job
        ? { job: toJob(job), done: job.attempt === attempt && job.retryChunks.length === 0, counted: false }
        : undefined;
    }
  }

  /**
   * Takes the job's release for `token` until `untilMs`, while the job runs attempt `attempt`, has
   * `from` chunks sent and no other release holds it (or the holder's lease ran out: it died). Only
   * the holder sends, so releases racing for one job never send the same chunk twice.
   */
  async leaseRelease(
    jobId: string,
    attempt: number,
    from: number,
    lease: { readonly token: string; readonly untilMs: number },
    nowMs: number,
  ): Promise<boolean> {
    try {
      await this.client.send(
        new UpdateItemCommand({
          TableName: this.tableName,
          Key: key(jobId, JOB),
          UpdateExpression: 'SET releasing = :lease',
          ConditionExpression: `${sentCondition(attempt, from)} AND (attribute_not_exists(releasing) OR releasing.untilMs < :now)`,
          ExpressionAttributeNames: { '#status': 'status', '#sent': 'sent' },
          ExpressionAttributeValues: marshall({
            ...sentValues(attempt, from),
            ':lease': lease,
            ':now': nowMs,
          }),
        }),
      );
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  }

  /**
   * Records chunks `from` to `to` of the current attempt sent and gives up the release `token` held;
   * returns the job as the write left it (the releaser's next look needs no read), or undefined when
   * the job moved on meanwhile (another attempt, finished, or the lease taken over).
   */
  async claimSent(
    jobId: string,
    attempt: number,
    from: number,
    to: number,
    token: string,
  ): Promise<JobRecord | undefined> {
    const held = releaseHeld(attempt, from, token);
    const job = await this.updateJob(
      jobId,
      'SET #sent = :to REMOVE releasing',
      held.condition,
      { ...held.values, ':to': to },
      true,
    );
    return job ?? undefined;
  }

  /** Gives up the release `token` held without recording anything sent (its send failed). */
  async dropRelease(jobId: string, attempt: number, from: number, token: string): Promise<boolean> {
    const held = releaseHeld(attempt, from, token);
    return this.conditionalUpdate(jobId, 'REMOVE releasing', held.condition, held.values);
  }

  /**
   * Passes the job's stall watch on to `next`: from the chain holding token `from`, or, with no
   * `from`, to a first chain of the attempt (a retry removes the last one). False when the chain has
   * moved on or exists already, so of all the messages that try, one passes it on.
   */
  async passWatch(jobId: string, from: string | undefined, next: StallWatch): Promise<boolean> {
    return this.conditionalUpdate(
      jobId,
      'SET #watch = :next',
      from === undefined ? 'attribute_exists(#pk) AND attribute_not_exists(#watch)' : '#watch.#token = :from',
      { ':next': next, ...(from === undefined ? {} : { ':from': from }) },
    );
  }

  /**
   * Adds a running job to its owner's paced jobs, whose chunks share one window. Returns the owner's
   * paced jobs, this one included.
   */
  async joinPacing(owner: string, jobId: string): Promise<string[]> {
    return this.updatePacing(owner, 'ADD jobs :job', jobId);
  }

  /** Takes a job that ended out of its owner's paced jobs; returns the others. */
  async leavePacing(owner: string, jobId: string): Promise<string[]> {
    return this.updatePacing(owner, 'DELETE jobs :job', jobId);
  }

  /** The owner's paced jobs, in a fixed order. */
  async pacedJobs(owner: string): Promise<string[]> {
    const { Item } = await this.client.send(
      new GetItemCommand({
        TableName: this.tableName,
        Key: marshall({ [PK]: pacingKey(owner), [SK]: PACING }),
        ConsistentRead: true,
      }),
    );
    return [...((Item ? (unmarshall(Item).jobs as Set<string> | undefined) : undefined) ?? [])].sort();
  }

  private async updatePacing(owner: string, update: string, jobId: string): Promise<string[]> {
    const { Attributes } = await this.client.send(
      new UpdateItemCommand({
        TableName: this.tableName,
        Key: marshall({ [PK]: pacingKey(owner), [SK]: PACING }),
        UpdateExpression: `${update} SET #ttl = :expiry`,
        ExpressionAttributeNames: { '#ttl': TTL },
        ExpressionAttributeValues: { ':job': { SS: [jobId] }, ':expiry': { N: String(this.dataExpiry()) } },
        ReturnValues: 'ALL_NEW',
      }),
    );
    return [
      ...((Attributes ? (unmarshall(Attributes).jobs as Set<string> | undefined) : undefined) ?? []),
    ].sort();
  }

  /**
   * Marks a chunk started unless a cancel was recorded first; false when it was (the chunk is then
   * cancelled, not run). Repeating it for a redelivered chunk is harmless: the set holds it once.
   */
  async startChunk(jobId: string, chunk: number): Promise<boolean> {
    try {
      await this.client.send(
        new UpdateItemCommand({
          TableName: this.tableName,
          Key: key(jobId, JOB),
          UpdateExpression: 'ADD startedChunks :chunk',
          ConditionExpression: 'attribute_exists(#pk) AND attribute_not_exists(cancelRequestedAt)',
          ExpressionAttributeNames: { '#pk': PK },
          ExpressionAttributeValues: { ':chunk': { SS: [String(chunk)] } },
        }),
      );
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  }

  /** Records that a chunk of `attempt` waits out a model outage (see `JobRecord.counted`). */
  async markDeferred(jobId: string, attempt: number, chunk: number): Promise<void> {
    await this.updateExistingJob(jobId, 'ADD deferredChunks :chunk', `${attempt}:${chunk}`);
  }

  /**
   * Marks a started chunk not started again, when it is deferred for a model outage: while it waits,
   * a cancel can be accepted, and its next `startChunk` then stops it.
   */
  async unstartChunk(jobId: string, chunk: number): Promise<void> {
    await this.updateExistingJob(jobId, 'DELETE startedChunks :chunk', String(chunk));
  }

  /**
   * One change to a chunk set of a job that still exists. An update of a missing item creates it
   * (UpdateItem, API reference), so without the condition a job deleted while one of its chunks ran
   * would come back as a stub: no expiry, holding its id for good.
   */
  private async updateExistingJob(jobId: string, update: string, member: string): Promise<void> {
    await this.conditionalUpdate(jobId, update, 'attribute_exists(#pk)', { ':chunk': new Set([member]) });
  }

  /**
   * Puts a chunk's result unless one exists; returns the result that is stored either way. Results
   * too large for one item go in parts: the other parts first, under keys of this attempt, then the
   * first part, put only if absent, which makes the result exist. So a result is either whole or
   * absent, and a redelivery after any crash finds all of it. Parts of an attempt that lost the race
   * (or died before its first part) are never read; they stay, as the chunks of a submission that
   * lost its job id do. Every item's result must fit `MAX_RESULT_PART_BYTES`.
   */
  async putResult(jobId: string, result: ChunkResult): Promise<ChunkResult> {
    return (await this.writeResult(jobId, result, 'attribute_not_exists(#pk)')) as ChunkResult;
  }

  /**
   * Replaces a chunk's result with the one retry `result.attempt` wrote, unless that retry or a
   * later one stored its result first. Returns the result stored for this attempt, or undefined
   * when a later attempt's is stored (this one is then stale).
   */
  async putRetryResult(jobId: string, result: ChunkResult & { readonly attempt: number }) {
    const stored = await this.writeResult(
      jobId,
      result,
      'attribute_exists(#pk) AND (attribute_not_exists(retryAttempt) OR retryAttempt < :attempt)',
      { ':attempt': { N: String(result.attempt) } },
    );
    return stored?.attempt === result.attempt ? stored : undefined;
  }

  private async writeResult(
    jobId: string,
    result: ChunkResult,
    condition: string,
    values?: Record<string, AttributeValue>,
  ): Promise<ChunkResult | undefined> {
    const [first = [], ...rest] = resultParts(result.results);
    const attempt = rest.length > 0 ? randomUUID() : undefined;
    if (attempt !== undefined) {
      await mapInFlight(rest, PART_WRITE_CONCURRENCY, (part, i) =>
        this.client.send(
          new PutItemCommand({
            TableName: this.tableName,
            Item: marshall({
              [PK]: jobKey(jobId),
              [SK]: resultPartKey(result.chunk, attempt, i + 1),
              chunk: result.chunk,
              attempt,
              part: i + 1,
              results: JSON.stringify(part),
              [TTL]: this.dataExpiry(),
            }),
          }),
        ),
      );
    }
    try {
      await this.client.send(
        new PutItemCommand({
          TableName: this.tableName,
          Item: marshall({
            [PK]: jobKey(jobId),
            [SK]: resultKey(result.chunk),
            chunk: result.chunk,
            results: JSON.stringify(first),
            ...(attempt === undefined ? {} : { attempt, parts: rest.length + 1 }),
            ...(result.attempt === undefined
              ? {}
              : { retryAttempt: result.attempt, recovered: result.recovered ?? 0 }),
            [TTL]: this.dataExpiry(),
          }),
          ConditionExpression: condition,
          ExpressionAttributeNames: { '#pk': PK },
          ...(values ? { ExpressionAttributeValues: values } : {}),
        }),
      );
      return result;
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
      const existing = await this.getResult(jobId, result.chunk);
      if (!existing) throw error;
      return existing;
    }
  }

  /** A chunk's whole result, its parts joined in item order; undefined until its first part exists. */
  async getResult(jobId: string, chunk: number): Promise<ChunkResult | undefined> {
    const { Item } = await this.client.send(
      new GetItemCommand({
        TableName: this.tableName,
        Key: key(jobId, resultKey(chunk)),
        ConsistentRead: true,
      }),
    );
    if (!Item) return undefined;
    const raw = unmarshall(Item);
    const head = toResultPart(raw);
    const retry =
      raw.retryAttempt === undefined
        ? {}
        : { attempt: raw.retryAttempt as number, recovered: raw.recovered as number };
    if (head.parts === 1) return { chunk, results: head.results, ...retry };
    // Read by key, as the worker may: the first part names the others, which were all written before it.
    const rest = await Promise.all(
      Array.from({ length: head.parts - 1 }, async (_, i) => {
        const { Item: part } = await this.client.send(
          new GetItemCommand({
            TableName: this.tableName,
            Key: key(jobId, resultPartKey(chunk, head.attempt ?? '', i + 1)),
            ConsistentRead: true,
          }),
        );
        if (!part) throw new Error(`result of chunk ${chunk} has no part ${i + 1}`);
        return toResultPart(unmarshall(part)).results;
      }),
    );
    return { chunk, results: [head.results, ...rest].flat(), ...retry };
  }

  /**
   * Adds a chunk's counts to its job once: the update is conditional on the chunk not being in
   * `countedChunks` and adds it there. Returns the job after the update, or as it is when the chunk
   * was counted before, and whether this call counted it (a redelivery's does not).
   *
   * `ending`, given when the job as the caller read it (`read`) adds up to its total with this
   * chunk's counts: the same write then ends the job in `status` too, which saves the job's last
   * chunk the round trip of `finish`. It is conditional on everything that decided the status being
   * as read (the counts, the total, no scan or retry, a cancel and a reason present or not), so the
   * write does what counting and then finishing would; when anything moved, the chunk is counted
   * alone and the caller finishes as usual. `ended` is the job this write ended; `record`, the job
   * as a count that did not end it left it.
   */
  async countChunk(
    jobId: string,
    chunk: number,
    counts: Counts,
    ending?: { readonly read: JobRecord; readonly status: JobStatus },
  ): Promise<{ job: BatchJob; counted: boolean; ended?: JobRecord; record?: JobRecord } | undefined> {
    const count = 'ADD succeeded :s, failed :f, cancelled :c, countedChunks :chunk SET updatedAt = :now';
    const uncounted = 'attribute_exists(#pk) AND NOT contains(countedChunks, :chunkId)';
    const values = {
      ':s': counts.succeeded,
      ':f': counts.failed,
      ':c': counts.cancelled,
      ':chunk': new Set([String(chunk)]),
      ':chunkId': String(chunk),
    };
    if (ending) {
      const { read } = ending;
      const ended = await this.updateJob(
        jobId,
        `${count}, #status = :final, completedAt = :now, #ttl = :expiry`,
        `${uncounted} AND #status IN (:queued, :running) AND attribute_not_exists(retryChunks) AND ` +
          'attribute_not_exists(#scan) AND #total = :total AND succeeded = :s0 AND failed = :f0 AND ' +
          `cancelled = :c0 AND ${present('cancelRequestedAt', read.cancelRequestedAt)} AND ` +
          present('statusReason', read.statusReason),
        {
          ...values,
          ':final': ending.status,
          ':queued': 'QUEUED',
          ':running': 'RUNNING',
          ':expiry': this.expiresIn(this.retentionSeconds),
          ':total': read.total,
          ':s0': read.succeeded,
          ':f0': read.failed,
          ':c0': read.cancelled,
        },
        true,
      );
      if (ended) return { job: toJob(ended), counted: true, ended };
    }
    const after = await this.updateJob(jobId, count, uncounted, values, true);
    if (after) return { job: toJob(after), counted: true, record: after };
    const job = await this.getJob(jobId);
    return job && { job, counted: false };
  }

  /**
   * Moves a job whose counts add up to its total into its terminal status, once. `total` is the
   * total those counts were read with: a scan of input files that added items since then (or is
   * still going on) keeps the job running.
   */
  async finish(jobId: string, status: JobStatus, total?: number): Promise<boolean> {
    return this.conditionalUpdate(
      jobId,
      'SET #status = :final, completedAt = :now, updatedAt = :now, #ttl = :expiry',
      // A retry's counts are final only once every one of its chunks is counted.
      '#status IN (:queued, :running) AND attribute_not_exists(retryChunks) AND attribute_not_exists(#scan)' +
        (total === undefined ? '' : ' AND #total = :total'),
      {
        ':final': status,
        ':queued': 'QUEUED',
        ':running': 'RUNNING',
        ':expiry': this.expiresIn(this.retentionSeconds),
        ...(total === undefined ? {} : { ':total': total }),
      },
    );
  }

  /**
   * Moves a job's scan of its input files from `from` to `to`, recording the chunks and items planned
   * so far (`to.chunk`, `to.item`), or ends it there (`done`). Conditional on the scan still being at
   * `from`: of two scans of one job (a redelivered message), one moves it, the other finds it moved
   * (undefined). Returns the job as it is after the move, so the scan sees a cancel.
   */
  async advanceScan(
    jobId: string,
    from: ScanCursor,
    to: ScanCursor,
    done: boolean,
  ): Promise<JobRecord | undefined> {
    const moved = await this.updateJob(
      jobId,
      `SET chunks = :chunks, #total = :items, updatedAt = :now${done ? ' REMOVE #scan' : ', #scan = :to'}`,
      scanAtCondition(from),
      {
        ':chunks': to.chunk,
        ':items': to.item,
        ...scanAt(from),
        ...(done ? {} : { ':to': to }),
      },
      true,
    );
    return moved ?? undefined;
  }

  /**
   * Ends a scan that cannot go on (its messages were dead-lettered, or the job stalled) where it is:
   * the items planned so far are the job's, and `statusReason` says why the rest of its input was not
   * read. False when the scan has moved on (it is alive) or ended.
   */
  async endScan(jobId: string, at: ScanCursor, reason: string): Promise<boolean> {
    return this.conditionalUpdate(
      jobId,
      'SET statusReason = :reason, updatedAt = :now REMOVE #scan',
      `${scanAtCondition(at)} AND #status IN (:queued, :running)`,
      { ':reason': reason, ':queued': 'QUEUED', ':running': 'RUNNING', ...scanAt(at) },
    );
  }

  /**
   * Records that the event of the job's end at `completedAt` was published; false when that end is
   * no longer the job's (a retry started since) or it was recorded before.
   */
  async markNotified(jobId: string, completedAt: string): Promise<boolean> {
    return this.conditionalUpdate(
      jobId,
      'SET notifiedAt = :now',
      'attribute_exists(#pk) AND completedAt = :completedAt AND attribute_not_exists(notifiedAt)',
      { ':completedAt': completedAt },
    );
  }

  /**
   * Marks a finished job as being deleted, so that no retry starts under the deletion; false when the
   * job is absent or has not ended. Repeating it is harmless.
   */
  async markDeleting(jobId: string): Promise<boolean> {
    return this.conditionalUpdate(
      jobId,
      'SET deletingAt = if_not_exists(deletingAt, :now)',
      'attribute_exists(#pk) AND NOT (#status IN (:queued, :running))',
      { ':queued': 'QUEUED', ':running': 'RUNNING' },
    );
  }

  private async conditionalUpdate(
    jobId: string,
    update: string,
    condition: string,
    values: Record<string, unknown>,
  ): Promise<boolean> {
    return (await this.updateJob(jobId, update, condition, values, false)) !== undefined;
  }

  /**
   * A conditional update of the job item: undefined when the condition failed, else the job after it
   * when `returning`, or null.
   */
  private async updateJob(
    jobId: string,
    update: string,
    condition: string,
    values: Record<string, unknown>,
    returning: boolean,
  ): Promise<JobRecord | null | undefined> {
    try {
      const { Attributes } = await this.client.send(
        new UpdateItemCommand({
          TableName: this.tableName,
          Key: key(jobId, JOB),
          UpdateExpression: update,
          ConditionExpression: condition,
          // DynamoDB refuses names and values an expression does not use: pass only those it names.
          ExpressionAttributeNames: Object.fromEntries(
            Object.entries(ATTRIBUTE_NAMES).filter(([name]) => `${update} ${condition}`.includes(name)),
          ),
          ExpressionAttributeValues: marshall({
            ...values,
            ...(`${update} ${condition}`.includes(':now') ? { ':now': this.now().toISOString() } : {}),
          }),
          ReturnValues: returning ? 'ALL_NEW' : 'NONE',
        }),
      );
      return Attributes ? toJobRecord(unmarshall(Attributes)) : null;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return undefined;
      throw error;
    }
  }
}

/**
 * The batch API's store: what it does beyond the items every batch function reads and writes by
 * key, listing (Query) and deleting (DeleteItem). A class of its own so that the queue functions'
 * bundles, which never construct it, carry neither command, and their roles hold neither.
 */
export class BatchApiStore extends BatchStore {
  /**
   * Deletes every item of a job's partition, the job item last: a deletion stopped half way leaves
   * the job, and repeating it finishes the work.
   */
  async deleteJobItems(jobId: string): Promise<void> {
    let startKey: Record<string, AttributeValue> | undefined;
    do {
      const page = await this.client.send(
        new QueryCommand({
          TableName: this.tableName,
          KeyConditionExpression: '#pk = :pk',
          ExpressionAttributeNames: { '#pk': PK, '#sk': SK },
          ExpressionAttributeValues: marshall({ ':pk': jobKey(jobId) }),
          ProjectionExpression: '#pk, #sk',
          ConsistentRead: true,
          ExclusiveStartKey: startKey,
        }),
      );
      const others = (page.Items ?? []).filter((item) => item[SK]?.S !== JOB);
      await mapInFlight(others, PART_WRITE_CONCURRENCY, (other) =>
        this.client.send(new DeleteItemCommand({ TableName: this.tableName, Key: other })),
      );
      startKey = page.LastEvaluatedKey;
    } while (startKey);
    await this.client.send(new DeleteItemCommand({ TableName: this.tableName, Key: key(jobId, JOB) }));
  }

  /** An owner's jobs, newest first. */
  async listJobs(owner: string, limit: number, nextToken?: string): Promise<Page<BatchJob>> {
    const page = await this.client.send(
      new QueryCommand({
        TableName: this.tableName,
        IndexName: ownerIndex.name,
        KeyConditionExpression: '#g = :owner',
        ExpressionAttributeNames: { '#g': ownerIndex.partitionKey, '#ttl': TTL },
        ExpressionAttributeValues: marshall({
          ':owner': ownerPartition(owner),
          ':now': Math.floor(this.now().getTime() / 1000),
        }),
        // Expired jobs are gone before TTL deletes them; a page may then hold fewer than `limit`.
        FilterExpression: 'attribute_not_exists(#ttl) OR #ttl > :now',
        ScanIndexForward: false,
        Limit: limit,
        ExclusiveStartKey: nextToken ? decodeJobsToken(nextToken, owner) : undefined,
      }),
    );
    return {
      items: (page.Items ?? []).map((item) => toJob(unmarshall(item))),
      nextToken: page.LastEvaluatedKey ? encodePageToken(page.LastEvaluatedKey) : undefined,
    };
  }

  /**
   * Finished items in item order, `limit` at a time, from the chunk and offset a token names.
   * Chunks still running are skipped: the results of a running job are the results so far.
   */
  async listResults(
    jobId: string,
    limit: number,
    nextToken?: string,
    maxBytes = RESULTS_PAGE_BYTES,
  ): Promise<Page<ItemResult>> {
    const start = nextToken ? decodeResultsToken(nextToken) : { chunk: 0, offset: 0 };
    const items: ItemResult[] = [];
    let bytes = 0;
    // The chunk whose first part was read last, and how many of its results came before this part.
    let chunk: { number: number; attempt?: string; parts: number; passed: number } | undefined;
    let startKey: Record<string, unknown> | undefined;
    do {
      const page = await this.client.send(
        new QueryCommand({
          TableName: this.tableName,
          KeyConditionExpression: '#pk = :pk AND #sk BETWEEN :from AND :to',
          ExpressionAttributeNames: { '#pk': PK, '#sk': SK },
          ExpressionAttributeValues: marshall({
            ':pk': jobKey(jobId),
            ':from': resultKey(start.chunk),
            ':to': 'RESULT#~',
          }),
          ConsistentRead: true,
          // Result items are up to ~380 KB each: a few per page keeps each read bounded.
          Limit: 4,
          ExclusiveStartKey: startKey as never,
        }),
      );
      for (const raw of page.Items ?? []) {
        const part = toResultPart(unmarshall(raw));
        if (part.part === 0) {
          chunk = { number: part.chunk, attempt: part.attempt, parts: part.parts, passed: 0 };
        } else if (chunk?.number !== part.chunk || chunk.attempt !== part.attempt) {
          // A part of an attempt that did not make the chunk's result, or of a chunk not finished.
          continue;
        }
        const skip = part.chunk === start.chunk ? Math.max(0, start.offset - chunk.passed) : 0;
        let taken = 0;
        for (const result of part.results.slice(skip)) {
          const size = answerBytes(result);
          // At least one result a page, which always fits: a result item is under 400 KB.
          if (items.length >= limit || (items.length > 0 && bytes + size > maxBytes)) break;
          items.push(result);
          bytes += size;
          taken++;
        }
        const next = chunk.passed + skip + taken;
        const full = taken < part.results.length - skip;
        chunk.passed += part.results.length;
        if (items.length >= limit || full) {
          const token =
            next < chunk.passed || part.part < chunk.parts - 1
              ? { chunk: part.chunk, offset: next }
              : { chunk: part.chunk + 1, offset: 0 };
          return { items, nextToken: encodePageToken(token) };
        }
      }
      startKey = page.LastEvaluatedKey;
    } while (startKey);
    return { items };
  }
}

/** The condition that `attribute` is present when `value` is, and absent when it is not. */
function present(attribute: string, value: unknown): string {
  return value === undefined ? `attribute_not_exists(${attribute})` : `attribute_exists(${attribute})`;
}

/** The condition that the release `token` still holds the job's sending at `from` of `attempt`. */
function releaseHeld(attempt: number, from: number, token: string) {
  return {
    condition: `${sentCondition(attempt, from)} AND releasing.#token = :token`,
    values: { ...sentValues(attempt, from), ':token': token },
  };
}

/**
 * The condition that the job's cursor is `cursor`, with the values `scanAt` gives: a cursor that
 * counts is not the one that plans at the same place.
 */
function scanAtCondition(cursor: ScanCursor): string {
  const mode = cursor.counting ? '#scan.#counting = :counting' : 'attribute_not_exists(#scan.#counting)';
  return `#scan.#input = :input AND #scan.#offset = :offset AND #scan.#chunk = :chunk AND ${mode}`;
}

function scanAt(cursor: ScanCursor) {
  return {
    ':input': cursor.input,
    ':offset': cursor.offset,
    ':chunk': cursor.chunk,
    ...(cursor.counting ? { ':counting': true } : {}),
  };
}

/** The placeholders of attribute names that are reserved words or keys, as the job's updates write them. */
const ATTRIBUTE_NAMES: Record<string, string> = {
  '#status': 'status',
  '#ttl': TTL,
  '#pk': PK,
  '#sent': 'sent',
  '#token': 'token',
  '#total': 'total',
  '#scan': 'scan',
  '#input': 'input',
  '#offset': 'offset',
  '#chunk': 'chunk',
  '#counting': 'counting',
  '#watch': 'watch',
};

/** A job from its stored item (or record): the job's own attributes, no keys or bookkeeping. */
export function toJob(stored: object): BatchJob {
  const raw = stored as Record<string, unknown>;
  const reading = inputScanOf(
    raw.inputs as readonly JobInput[] | undefined,
    raw.scan as ScanCursor | undefined,
  );
  return {
    resultsTo: 'table',
    attempt: 0,
    ...Object.fromEntries(JOB_FIELDS.filter((f) => raw[f] !== undefined).map((f) => [f, raw[f]])),
    ...(reading ? { inputScan: reading } : {}),
  } as unknown as BatchJob;
}

/** How far a scan still going on has read the job's input files, in bytes of all of them. */
function inputScanOf(inputs: readonly JobInput[] | undefined, scan: ScanCursor | undefined) {
  if (!inputs || !scan) return undefined;
  const before = inputs.slice(0, scan.input).reduce((sum, input) => sum + input.size, 0);
  return {
    bytesRead: before + scan.offset,
    bytes: inputs.reduce((sum, input) => sum + input.size, 0),
  };
}

function toJobRecord(raw: Record<string, unknown>): JobRecord {
  const numbers = (set: unknown) => [...((set as Set<string> | undefined) ?? [])].map(Number);
  const attempt = (raw.attempt as number | undefined) ?? 0;
  const retryChunks = numbers(raw.retryChunks);
  const retryPlan = numbers(raw.retryPlan).sort((a, b) => a - b);
  return {
    ...toJob(raw),
    fingerprint: raw.fingerprint as string,
    chunkSet: raw.chunkSet as string,
    ...(raw.inputs ? { inputs: raw.inputs as JobInput[] } : {}),
    ...(raw.scan ? { scan: raw.scan as ScanCursor } : {}),
    attempt,
    started: new Set(numbers(raw.startedChunks)),
    retryChunks,
    retryPlan,
    sent: (raw.sent as number | undefined) ?? 0,
    ...(raw.notifiedAt ? { notifiedAt: raw.notifiedAt as string } : {}),
    ...(raw.deletingAt ? { deletingAt: raw.deletingAt as string } : {}),
    ...(raw.releasing ? { releasing: raw.releasing as { token: string; untilMs: number } } : {}),
    ...(raw.watch ? { watch: raw.watch as StallWatch } : {}),
    counted:
      (attempt === 0 ? numbers(raw.countedChunks).length : retryPlan.length - retryChunks.length) +
      waiting(raw, attempt, retryChunks),
  };
}

/** The current attempt's chunks deferred for an outage and not yet counted. */
function waiting(raw: Record<string, unknown>, attempt: number, retryChunks: readonly number[]): number {
  const counted = new Set((raw.countedChunks as Set<string> | undefined) ?? []);
  const uncounted = (chunk: string) =>
    attempt === 0 ? !counted.has(chunk) : retryChunks.includes(Number(chunk));
  return [...((raw.deferredChunks as Set<string> | undefined) ?? [])]
    .map((entry) => entry.split(':'))
    .filter(([a, chunk]) => Number(a) === attempt && uncounted(chunk!)).length;
}

/** One stored result item: the first part (0) names the attempt and the count of parts. */
function toResultPart(raw: Record<string, unknown>): {
  chunk: number;
  part: number;
  parts: number;
  attempt?: string;
  results: ItemResult[];
} {
  return {
    chunk: raw.chunk as number,
    part: (raw.part as number | undefined) ?? 0,
    parts: (raw.parts as number | undefined) ?? 1,
    ...(raw.attempt === undefined ? {} : { attempt: raw.attempt as string }),
    results: JSON.parse(raw.results as string) as ItemResult[],
  };
}

/** Results in item order, split where one more would take a part's JSON past `MAX_RESULT_PART_BYTES`. */
function resultParts(results: readonly ItemResult[]): ItemResult[][] {
  const parts: ItemResult[][] = [];
  let current: ItemResult[] = [];
  // `[` and `]`, then each result and a comma.
  let bytes = 2;
  for (const result of results) {
    const size = Buffer.byteLength(JSON.stringify(result)) + 1;
    if (size + 2 > MAX_RESULT_PART_BYTES) {
      throw new Error(`item ${result.index}'s result is larger than a result item can hold`);
    }
    if (bytes + size > MAX_RESULT_PART_BYTES && current.length > 0) {
      parts.push(current);
      current = [];
      bytes = 2;
    }
    current.push(result);
    bytes += size;
  }
  parts.push(current);
  return parts;
}

const ResultsTokenSchema = z.strictObject({
  chunk: z.number().check(z.int(), z.minimum(0)),
  offset: z.number().check(z.int(), z.minimum(0)),
});

/** The current attempt, still running, with `from` chunks sent. */
function sentCondition(attempt: number, from: number): string {
  const sentBefore = from === 0 ? '(attribute_not_exists(#sent) OR #sent = :from)' : '#sent = :from';
  const sameAttempt = attempt === 0 ? 'attribute_not_exists(attempt)' : 'attempt = :attempt';
  return `#status IN (:queued, :running) AND ${sameAttempt} AND ${sentBefore}`;
}

function sentValues(attempt: number, from: number): Record<string, unknown> {
  return {
    ':from': from,
    ':queued': 'QUEUED',
    ':running': 'RUNNING',
    ...(attempt === 0 ? {} : { ':attempt': attempt }),
  };
}

/** The item listing an owner's paced jobs. */
function pacingKey(owner: string): string {
  return `PACING#${checkedOwner(owner)}`;
}

/** Well-formed owners encode to distinct UTF-8, so the keys built from them stay distinct. */
function checkedOwner(owner: string): string {
  return parseInput(OwnerSchema, owner, 'owner');
}

function ownerPartition(owner: string): string {
  return `OWNER#${checkedOwner(owner)}`;
}

/** Only a token from this owner's own listing resumes it. */
function decodeJobsToken(token: string, owner: string): Record<string, never> {
  const schema = keyTokenSchema([PK, SK, ownerIndex.partitionKey, ownerIndex.sortKey], {
    [ownerIndex.partitionKey]: ownerPartition(owner),
  });
  return decodePageToken(schema, token) as unknown as Record<string, never>;
}

function decodeResultsToken(token: string): { chunk: number; offset: number } {
  return decodePageToken(ResultsTokenSchema, token);
}

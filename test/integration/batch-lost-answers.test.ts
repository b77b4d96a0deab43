/**
 * DynamoDB writes whose answer is lost after they committed (a 500, a reset connection): the SDK
 * sends the same request again (DynamoDB's error handling guide lists InternalServerError as one to
 * retry), and the retry meets the first attempt's own write. The store must read that as its own.
 */
import { type DynamoDBClient, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BatchStore, type NewJob } from '../../functions/batch/batch-store';
import { createBatchTable, type LocalDynamoDb, startDynamoDb } from '../../local/aws/dynamodb';
import { localDynamoDb } from '../helpers/local-clients';

function newJob(jobId: string, chunkSet: string): NewJob {
  return {
    jobId,
    owner: 'alice',
    model: 'simple',
    version: '1',
    total: 2,
    chunks: 2,
    createdAt: new Date().toISOString(),
    fingerprint: 'f',
    chunkSet,
  };
}

describe('batch store writes whose answer was lost', () => {
  let dynamo: LocalDynamoDb;
  let dynamodb: DynamoDBClient;
  let store: BatchStore;
  /** Commands of these names lose the answer of their next successful send once. */
  const loseNextAnswer = new Set<string>();

  beforeAll(async () => {
    dynamo = await startDynamoDb();
    dynamodb = localDynamoDb(dynamo.url);
    await createBatchTable(dynamodb, 'batch');
    // Inside the SDK's retry loop: the request reaches the table, then its answer is lost as a 500.
    dynamodb.middlewareStack.add(
      (next, context) => async (args) => {
        const result = await next(args);
        if (loseNextAnswer.delete(context.commandName ?? '')) {
          throw Object.assign(new Error('answer lost'), {
            name: 'InternalServerError',
            $fault: 'server',
            $metadata: { httpStatusCode: 500 },
          });
        }
        return result;
      },
      { step: 'deserialize', name: 'loseAnswer' },
    );
    store = new BatchStore(dynamodb, 'batch');
  });

  afterAll(async () => {
    dynamodb?.destroy();
    await dynamo?.close();
  });

  it('reads a job its own lost write created as created, with its chunks', async () => {
    loseNextAnswer.add(PutItemCommand.name);

    const stored = await store.createJob(newJob('lost-create', 'mine'));

    expect(loseNextAnswer.size).toBe(0);
    expect(stored.created).toBe(true);
    expect(stored.job.chunkSet).toBe('mine');
  });

  it("still reads another submission's job as not created", async () => {
    await store.createJob(newJob('taken', 'first'));

    const stored = await store.createJob(newJob('taken', 'second'));

    expect(stored.created).toBe(false);
    expect(stored.job.chunkSet).toBe('first');
  });

  // UpdateItem creates a missing item: a job deleted while a chunk of it ran must stay gone.
  it('leaves a deleted job gone when a chunk of it is deferred or unstarted afterwards', async () => {
    await store.markDeferred('deleted-job', 0, 3);
    await store.unstartChunk('deleted-job', 3);

    expect(await store.getJobRecord('deleted-job')).toBeUndefined();
  });

  it('tells the call that counted a chunk from one that found it counted', async () => {
    await store.createJob(newJob('counting', 'set'));
    const counts = { succeeded: 1, failed: 0, cancelled: 0 };

    const first = await store.countChunk('counting', 0, counts);
    const again = await store.countChunk('counting', 0, counts);

    expect(first).toMatchObject({ counted: true, job: { succeeded: 1 } });
    expect(again).toMatchObject({ counted: false, job: { succeeded: 1 } });
  });
});

/**
 * A job's lifecycle on `npm start` with a short retention (`batchRetentionSeconds`, local only): it
 * publishes one job-ended event, a deleted job's data is gone at once, and an ended job's data goes
 * by itself through the local TTL and S3 lifecycle sweepers.
 */
import { QueryCommand } from '@aws-sdk/client-dynamodb';
import { ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { batchResultsPrefix } from '../../contracts/batch-data';
import { platformToken } from '../../local/dev-credentials';
import { BATCH_DATA_BUCKET } from '../../local/platform';
import { type PlatformProcess, startPlatformProcess } from '../../local/platform-process';
import { LOCAL_CREDENTIALS, localDynamoDb } from '../helpers/local-clients';

const RETENTION_SECONDS = 20;
const BATCH_TABLE = 'inference-platform-batch';

const items = (count: number) =>
  Array.from({ length: count }, (_, i) => ({
    inputs: [
      { name: 'INPUT0', shape: [1, 16], datatype: 'INT32', data: Array.from({ length: 16 }, () => i) },
      { name: 'INPUT1', shape: [1, 16], datatype: 'INT32', data: Array.from({ length: 16 }, () => 1) },
    ],
  }));

describe('batch retention, deletion and the job-ended event (npm start)', () => {
  let platform: PlatformProcess;
  let token: string;
  let s3: S3Client;

  const call = async (path: string, init: { method?: string; json?: unknown } = {}) => {
    const response = await fetch(`${platform.apiUrl}${path}`, {
      method: init.method ?? 'GET',
      body: init.json === undefined ? undefined : JSON.stringify(init.json),
      headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${token}` },
    });
    const text = await response.text();
    return { status: response.status, body: text ? JSON.parse(text) : undefined };
  };

  /** Submits a job of `count` items and waits for it to end. */
  async function endedJob(count: number): Promise<{ jobId: string; status: string }> {
    const submitted = await call('/v1/batch-jobs', {
      method: 'POST',
      json: { model: 'simple', items: items(count) },
    });
    expect(submitted.status).toBe(202);
    const jobId = submitted.body.jobId as string;
    await expect
      .poll(async () => (await call(`/v1/batch-jobs/${jobId}`)).body?.status, {
        timeout: 15_000,
        interval: 200,
      })
      .toBe('SUCCEEDED');
    // A results object, as a job whose results go to S3 writes them.
    await s3.send(
      new PutObjectCommand({
        Bucket: BATCH_DATA_BUCKET,
        Key: `${batchResultsPrefix(jobId)}part-00000.jsonl`,
        Body: '{}\n',
      }),
    );
    return { jobId, status: 'SUCCEEDED' };
  }

  async function partitionItems(jobId: string): Promise<number> {
    const dynamodb = localDynamoDb(platform.dynamodbUrl);
    try {
      const { Count = 0 } = await dynamodb.send(
        new QueryCommand({
          TableName: BATCH_TABLE,
          KeyConditionExpression: 'pk = :pk',
          ExpressionAttributeValues: { ':pk': { S: `JOB#${jobId}` } },
          ConsistentRead: true,
        }),
      );
      return Count;
    } finally {
      dynamodb.destroy();
    }
  }

  async function resultsObjects(jobId: string): Promise<number> {
    const page = await s3.send(
      new ListObjectsV2Command({ Bucket: BATCH_DATA_BUCKET, Prefix: batchResultsPrefix(jobId) }),
    );
    return page.KeyCount ?? 0;
  }

  const eventsOf = (jobId: string) =>
    platform
      .output()
      .split('\n')
      .filter(
        (line) => line.startsWith('[eventbridge] Batch Job Ended') && line.includes(`"jobId":"${jobId}"`),
      );

  beforeAll(async () => {
    platform = await startPlatformProcess({
      LOCAL_CONTEXT: JSON.stringify({ batchRetentionSeconds: RETENTION_SECONDS }),
    });
    token = await platformToken({ sub: 'lifecycle', scope: 'batch:submit batch:read' });
    s3 = new S3Client({
      endpoint: platform.s3Url,
      region: 'us-east-1',
      forcePathStyle: true,
      credentials: LOCAL_CREDENTIALS,
    });
  }, 120_000);

  afterAll(async () => {
    s3?.destroy();
    await platform?.stop();
  });

  it('publishes one event when a job ends, and deletes an ended job with all its data', async () => {
    // Prepare
    const { jobId } = await endedJob(3);
    expect(await partitionItems(jobId)).toBeGreaterThan(1);

    // Act
    const deleted = await call(`/v1/batch-jobs/${jobId}`, { method: 'DELETE' });
    const again = await call(`/v1/batch-jobs/${jobId}`, { method: 'DELETE' });

    // Assess
    await expect.poll(() => eventsOf(jobId).length, { timeout: 10_000 }).toBe(1);
    const event = JSON.parse(eventsOf(jobId)[0]!.slice('[eventbridge] Batch Job Ended '.length));
    expect(event).toMatchObject({
      jobId,
      owner: 'lifecycle',
      model: 'simple',
      status: 'SUCCEEDED',
      total: 3,
    });
    expect(deleted.status).toBe(204);
    expect(again.status).toBe(404);
    expect((await call(`/v1/batch-jobs/${jobId}`)).status).toBe(404);
    expect(await partitionItems(jobId)).toBe(0);
    expect(await resultsObjects(jobId)).toBe(0);
  });

  it('lets an ended job and its data expire by themselves', async () => {
    // Prepare
    const { jobId } = await endedJob(2);

    // Act and assess: gone to the API one retention after it ended, then from the table and the bucket.
    await expect
      .poll(async () => (await call(`/v1/batch-jobs/${jobId}`)).status, { timeout: 40_000, interval: 1_000 })
      .toBe(404);
    const listed = await call('/v1/batch-jobs?limit=100');
    expect((listed.body.jobs as { jobId: string }[]).map((j) => j.jobId)).not.toContain(jobId);
    await expect.poll(() => resultsObjects(jobId), { timeout: 60_000, interval: 1_000 }).toBe(0);
    await expect.poll(() => partitionItems(jobId), { timeout: 100_000, interval: 2_000 }).toBe(0);
  }, 200_000);
});

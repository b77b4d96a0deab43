/**
 * The local platform (npm start) with DynamoDB throttling a quarter of its calls below the SDK
 * while a batch job runs: a chunk whose writes stay throttled through the SDK's retries comes back
 * after the work queue's visibility timeout, and every item still ends with exactly one result. Same
 * timings as `faults.test.ts`, which keeps the realtime side of this scenario (answers under a 3 s
 * backend timeout); the checks here are counts, not durations, so this file runs beside others and
 * mostly waits for redeliveries.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FaultPlatform, startFaultPlatform, WORK_VISIBILITY_MS } from '../helpers/fault-platform';

const LONG = process.env.FAULT_SUITE === 'long';
const ITEMS = LONG ? 2000 : 240;
/** Beyond the redeliveries the scenario may wait for: the job's own work, on a busy machine. */
const WORK_MS = LONG ? 300_000 : 60_000;

describe('a batch job while DynamoDB throttles', () => {
  let faults: FaultPlatform;

  beforeAll(async () => {
    faults = await startFaultPlatform('batch-throttling', ['throttle']);
  });

  afterAll(async () => {
    await faults?.stop();
  });

  it(
    'keeps every batch count right while DynamoDB throttles a quarter of its calls',
    async () => {
      const jobId = await faults.submit('faults-throttle', ITEMS);
      await faults.control('PUT', '/local/faults/dynamodb', { throttleRate: 0.25, seed: 3 });
      // The wait leaves room for three redeliveries of one chunk in a row: on a busy machine, two of
      // thirty chunks were still undone when two redeliveries' wait ran out (224 of 240 items).
      const job = await faults.finished(jobId, 3 * WORK_VISIBILITY_MS + WORK_MS);
      const { stats } = await faults.control('DELETE', '/local/faults/dynamodb');
      await faults.expectResults(job, ITEMS);

      expect(stats.dynamodbThrottled).toBeGreaterThan(0);
      expect(job).toMatchObject({ status: 'SUCCEEDED', succeeded: ITEMS });
    },
    4 * WORK_VISIBILITY_MS + WORK_MS,
  );
});

/**
 * The local platform (npm start) with batch worker containers crashing mid-chunk: a chunk that
 * crashed comes back after the work queue's visibility timeout and is recounted nowhere. Same timings
 * as `faults.test.ts`; the checks are counts, not durations, so this file runs beside others and
 * mostly waits for the redelivery. `dead-lettered-chunk.test.ts` crashes a chunk on every delivery.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FaultPlatform, startFaultPlatform, WORK_VISIBILITY_MS } from '../helpers/fault-platform';

const LONG = process.env.FAULT_SUITE === 'long';
const ITEMS = LONG ? 2000 : 240;
/** Beyond the redelivery the scenario waits for: the job's own work, on a busy machine. */
const WORK_MS = LONG ? 300_000 : 60_000;

describe('batch worker containers crashing mid-chunk', () => {
  let faults: FaultPlatform;

  beforeAll(async () => {
    faults = await startFaultPlatform('worker-crashes', ['crash']);
  });

  afterAll(async () => {
    await faults?.stop();
  });

  it(
    'recounts nothing when a batch worker container crashes mid-chunk',
    async () => {
      // Right after a chunk's SageMaker answer, before its result is written: SQS redelivers it.
      await faults.control('PUT', '/local/faults/crash', {
        function: 'batch-worker',
        afterSageMakerCalls: 2,
        times: 2,
      });
      const jobId = await faults.submit('faults-crash', ITEMS);
      const job = await faults.finished(jobId, WORK_VISIBILITY_MS + WORK_MS);
      await faults.expectResults(job, ITEMS);
      const { stats } = await faults.control('GET', '/local/faults');

      expect(stats.crashes).toBe(2);
      expect(job).toMatchObject({ status: 'SUCCEEDED', succeeded: ITEMS, failed: 0 });
    },
    2 * WORK_VISIBILITY_MS + WORK_MS,
  );
});

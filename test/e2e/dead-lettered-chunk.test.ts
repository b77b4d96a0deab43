/**
 * The local platform (npm start) with a batch chunk that crashes its worker container on every
 * delivery: after the last delivery the work queue allows, SQS dead-letters it and the job ends with
 * the reason on its items, unattended. Same timings as `faults.test.ts`; the checks are counts, not
 * durations, so this file runs beside others. It mostly waits: each crashed delivery comes back
 * after the work queue's visibility timeout.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readLocalConfig } from '../../local/local-config';
import {
  type FaultPlatform,
  type ItemResult,
  startFaultPlatform,
  WORK_VISIBILITY_MS,
} from '../helpers/fault-platform';

const DELIVERIES = readLocalConfig().batchMaxReceiveCount;
/** Beyond the redeliveries the scenario waits for: the job's own work, on a busy machine. */
const WORK_MS = 60_000;

describe('a batch chunk that crashes its worker on every delivery', () => {
  let faults: FaultPlatform;

  beforeAll(async () => {
    faults = await startFaultPlatform('dead-lettered-chunk', ['crash']);
  });

  afterAll(async () => {
    await faults?.stop();
  });

  it(
    'ends the job, with the reason on its items, unattended',
    async () => {
      // One chunk (the model batches 8 items), so each crash is a delivery of that chunk: after the
      // last the queue allows, SQS dead-letters it, and nobody redrives the queue.
      await faults.control('PUT', '/local/faults/crash', {
        function: 'batch-worker',
        afterSageMakerCalls: 1,
        times: DELIVERIES,
      });
      const jobId = await faults.submit('faults-crash', 8);
      const job = await faults.finished(jobId, DELIVERIES * WORK_VISIBILITY_MS + WORK_MS);
      await faults.expectResults(job, 8);
      const { stats } = await faults.control('GET', '/local/faults');
      const results = await faults.call(`/v1/batch-jobs/${jobId}/results`);

      expect(stats.crashes).toBe(DELIVERIES);
      expect(job).toMatchObject({ status: 'FAILED', succeeded: 0, failed: 8 });
      expect((results.body as { results: ItemResult[] }).results[0]?.error).toMatch(
        new RegExp(`^dead-lettered after ${DELIVERIES} deliveries: `),
      );
    },
    (DELIVERIES + 1) * WORK_VISIBILITY_MS + WORK_MS,
  );
});

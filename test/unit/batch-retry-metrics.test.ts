import { beforeEach, describe, expect, it, vi } from 'vitest';
import { METRIC } from '../../contracts/metric-catalog';
import type { BatchJob } from '../../functions/batch/api-schemas';
import type { BatchStore } from '../../functions/batch/batch-store';

const published = vi.hoisted(() => [] as { name: string; value: number }[]);
vi.mock('../../functions/observability/metrics', () => ({
  publishEvent: (name: string, _unit: unknown, value: number) => published.push({ name, value }),
}));
const { countRetry } = await import('../../functions/batch/accounting');

const job = { jobId: 'j', model: 'simple', createdAt: new Date().toISOString() } as BatchJob;

/** A store whose retry count lands once, as the conditional update makes it: later calls find it counted. */
function storeCountingOnce(): Pick<BatchStore, 'countRetry' | 'finish'> {
  let counted = false;
  return {
    countRetry: async () => {
      const first = !counted;
      counted = true;
      return { job, done: false, counted: first };
    },
    finish: async () => true,
  };
}

describe('items recovered by a retry in the batch metrics', () => {
  beforeEach(() => {
    published.length = 0;
  });

  it('publishes the recovered items as succeeded once, however often the chunk is delivered', async () => {
    const store = storeCountingOnce() as BatchStore;

    await countRetry(store, job, 0, 1, 5);
    await countRetry(store, job, 0, 1, 5);

    expect(published).toEqual([{ name: METRIC.batchItemsSucceeded, value: 5 }]);
  });

  it('publishes nothing for a retried chunk that recovered no item', async () => {
    await countRetry(storeCountingOnce() as BatchStore, job, 0, 1, 0);

    expect(published).toEqual([]);
  });
});

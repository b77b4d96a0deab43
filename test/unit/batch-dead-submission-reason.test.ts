import { describe, expect, it } from 'vitest';
import { deadSubmissionReason } from '../../functions/batch/dead-letters';

describe('deadSubmissionReason', () => {
  it.each([
    [
      'a stall check',
      { jobId: 'j', watch: { updatedAt: '2026-01-01T00:00:00.000Z', since: 0 } },
      /^the job's stall check failed on every delivery and was dead-lettered, so the job ended rather than run unwatched$/,
    ],
    [
      "a scan's continuation",
      { jobId: 'j', scan: true },
      /^the scan of the job's input files failed on every delivery and was dead-lettered$/,
    ],
    [
      "a retry's fan-out",
      { jobId: 'j', retry: 2 },
      /^the retry's fan-out failed on every delivery and was dead-lettered before all its work was queued$/,
    ],
    [
      "the API's submission",
      { jobId: 'j' },
      /^the submission failed on every delivery and was dead-lettered before all its work was queued$/,
    ],
  ])('names %s', (_, body, reason) => {
    expect(deadSubmissionReason(JSON.stringify(body))).toMatch(reason);
  });

  it('names the submission for a body that is no stored job message', () => {
    for (const body of ['not json', '{"model":"simple","owner":"alice","items":[]}', 'null']) {
      expect(deadSubmissionReason(body)).toMatch(/^the submission failed/);
    }
  });
});

import { beforeAll, describe, expect, it } from 'vitest';
import { type NagFinding, nagFindings } from './nag-findings';
import { buildPlatform } from './platform-app';

/**
 * Findings not fixed yet, each with the reason it is still open. Anything else fails the test; a
 * fixed finding must be removed from here. Design decisions are acknowledged next to the resource
 * with `Validations.of(...).acknowledge`, not listed here.
 */
const OPEN_FINDINGS: NagFinding[] = [];

describe('cdk-nag AwsSolutions', () => {
  let violations: NagFinding[];

  beforeAll(() => {
    violations = nagFindings((outdir) => buildPlatform({}, { outdir }).app);
  });

  it('reports no unacknowledged findings beyond the known open ones', () => {
    expect(violations).toEqual(OPEN_FINDINGS);
  });
});

import { marshall } from '@aws-sdk/util-dynamodb';
import { describe, expect, it } from 'vitest';
import { MAX_LABELS, RegisterVersionSchema, VersionPatchSchema } from '../../functions/registry/api-schemas';
import { largestLabels, largestRegistration } from '../helpers/fuzz/registry-bodies';

/** DynamoDB's item size limit. */
const ITEM_LIMIT_BYTES = 400 * 1024;

describe('registry write schemas', () => {
  it('keep the largest version they accept well below DynamoDB’s 400 KB item limit', () => {
    const version = RegisterVersionSchema.parse(largestRegistration());
    // The item's JSON in DynamoDB's wire format: larger than its stored size, which counts names and
    // values without type tags, quotes or separators.
    const wireBytes = Buffer.byteLength(
      JSON.stringify(marshall({ ...version, createdAt: '', updatedAt: '' })),
    );

    expect(wireBytes).toBeLessThan(ITEM_LIMIT_BYTES / 1.5);
  });

  it.each([
    ['register', (labels: unknown) => RegisterVersionSchema.safeParse({ ...largestRegistration(), labels })],
    ['update', (labels: unknown) => VersionPatchSchema.safeParse({ labels })],
  ])(`%s: refuses more than ${MAX_LABELS} labels, and an empty label key`, (_, parse) => {
    expect(parse(largestLabels(MAX_LABELS)).success).toBe(true);
    expect(parse(largestLabels(MAX_LABELS + 1)).error?.issues[0]?.message).toBe(
      `must have at most ${MAX_LABELS} labels`,
    );
    // A label key is an attribute name in a DynamoDB map, which is at least one character long.
    expect(parse({ '': 'x' }).success).toBe(false);
  });
});

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

  it.each([
    [
      'register',
      (backend: object) => RegisterVersionSchema.safeParse({ ...largestRegistration(), backends: [backend] }),
    ],
    ['update', (backend: object) => VersionPatchSchema.safeParse({ backends: [backend] })],
  ])('%s: takes only a variant and target model InvokeEndpoint can send', (_, parse) => {
    const backend = {
      endpointName: 'triton',
      variant: 'AllTraffic',
      targetModel: 'simple-31f69e37ff3f2b68.tar.gz',
    };
    expect(parse(backend).success).toBe(true);
    expect(parse({ ...backend, variant: `a${'-b'.repeat(31)}` }).success).toBe(true);
    for (const variant of [
      'AllTraffic\u0001',
      'All Traffic',
      '-a',
      'a-',
      'a_b',
      'a'.repeat(64),
      `a${'--b'.repeat(21)}`,
    ]) {
      expect(parse({ ...backend, variant }).success, JSON.stringify(variant)).toBe(false);
    }
    for (const targetModel of [
      '',
      ' model.tar.gz',
      'model\u0000.tar.gz',
      'mod\u00e9l.tar.gz',
      'a\tb',
      'a'.repeat(1025),
    ]) {
      expect(parse({ ...backend, targetModel }).success, JSON.stringify(targetModel)).toBe(false);
    }
    expect(parse({ ...backend, targetModel: 'a b/c~!.tar.gz' }).success).toBe(true);
  });
});

import { describe, expect, it } from 'vitest';
import { JobInputsSchema, StartInputUploadSchema } from '../../functions/batch/input-schemas';

describe('how a job names its input files', () => {
  it.each([
    ['a random id', '0b7e9a52-6a0e-4d4f-9d1e-2f0f2a4f3c11'],
    ['a name', 'sales-2026-12-01.part_1'],
    ['a name prefix and *', 'sales-2026-*'],
    ['every input of the caller', '*'],
  ])('takes %s', (_, entry) => {
    expect(JobInputsSchema.safeParse([entry]).success).toBe(true);
  });

  it.each([
    ['a path', 'sales/2026'],
    ['a leading dot', '.hidden'],
    ['a * inside', 'sales-*-01'],
    ['two *', 'sales**'],
    ['an empty id', ''],
    ['a 201-character id', 'a'.repeat(201)],
  ])('refuses %s, saying what an entry may be', (_, entry) => {
    const parsed = JobInputsSchema.safeParse([entry]);
    expect(parsed.error?.issues[0]?.message).toMatch(/must be an inputId, or an id prefix and "\*"/);
  });

  it('lets an upload name its input, as an id would be written', () => {
    expect(StartInputUploadSchema.safeParse({ size: 1, name: 'sales-2026-12-01' }).success).toBe(true);
    expect(StartInputUploadSchema.safeParse({ size: 1, name: 'sales-*' }).success).toBe(false);
    expect(StartInputUploadSchema.safeParse({ size: 1, name: 'a/b' }).success).toBe(false);
  });
});

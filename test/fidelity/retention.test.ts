import { describe, expect, it } from 'vitest';
import { batchDataLifecycleRules } from '../../contracts/batch-data';
import { LOCAL_TABLE_ENVIRONMENT, LOCAL_TTL_TABLES } from '../../local/platform';
import { synthesizePlatform } from '../infra/platform-app';

/** The local emulation of TTL and lifecycle rules against what the stack deploys. */
describe('local retention matches the stack', () => {
  const { template } = synthesizePlatform({ batchRetentionDays: 7 });

  it('sweeps exactly the tables whose TTL the stack enables, on the attribute it names', () => {
    // Each local table name is found in the template through the variable that names it to the functions.
    const tables = template.findResources('AWS::DynamoDB::Table');
    const logicalIdOf = new Map<string, string>();
    for (const fn of Object.values(template.findResources('AWS::Lambda::Function'))) {
      for (const [name, value] of Object.entries(fn.Properties.Environment?.Variables ?? {})) {
        const ref = (value as { Ref?: string }).Ref;
        if (ref && tables[ref]) logicalIdOf.set(name, ref);
      }
    }
    const deployed = Object.entries(LOCAL_TABLE_ENVIRONMENT).flatMap(([variable, tableName]) => {
      const spec = tables[logicalIdOf.get(variable) ?? '']?.Properties.TimeToLiveSpecification;
      return spec ? [{ tableName, attribute: spec.AttributeName, enabled: spec.Enabled }] : [];
    });

    expect(deployed).toHaveLength(3);
    expect(deployed.every((table) => table.enabled)).toBe(true);
    expect(LOCAL_TTL_TABLES.map(({ tableName, attribute }) => ({ tableName, attribute }))).toEqual(
      expect.arrayContaining(deployed.map(({ tableName, attribute }) => ({ tableName, attribute }))),
    );
    expect(LOCAL_TTL_TABLES).toHaveLength(deployed.length);
  });

  it('applies the batch data bucket lifecycle rules the template holds', () => {
    const rules = template.findResources('AWS::S3::Bucket').BatchDataBucket?.Properties.LifecycleConfiguration
      .Rules as {
      Id: string;
      Prefix?: string;
      ExpirationInDays?: number;
      AbortIncompleteMultipartUpload?: { DaysAfterInitiation: number };
      Status: string;
    }[];

    expect(rules.every((rule) => rule.Status === 'Enabled')).toBe(true);
    expect(batchDataLifecycleRules(7)).toEqual(
      rules.map((rule) => ({
        id: rule.Id,
        prefix: rule.Prefix ?? '',
        ...(rule.ExpirationInDays === undefined ? {} : { expirationDays: rule.ExpirationInDays }),
        ...(rule.AbortIncompleteMultipartUpload
          ? { abortIncompleteMultipartUploadDays: rule.AbortIncompleteMultipartUpload.DaysAfterInitiation }
          : {}),
      })),
    );
  });
});

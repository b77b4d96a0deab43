import { describe, expect, it } from 'vitest';
import { BATCH_RETENTION_SECONDS } from '../../contracts/environment-variables';
import { BATCH_KEYS } from '../../contracts/table-keys';
import { synthesizePlatform } from './platform-app';

describe('batch retention in the stack', () => {
  it('enables TTL on the batch table and tells every function of the table the retention', () => {
    const { template } = synthesizePlatform({ batchRetentionDays: 7 });
    const table = template.findResources('AWS::DynamoDB::Table').BatchTable;
    expect(table?.Properties.TimeToLiveSpecification).toEqual({
      AttributeName: BATCH_KEYS.ttlAttribute,
      Enabled: true,
    });
    const functions = Object.values(template.findResources('AWS::Lambda::Function')).filter(
      (fn) => fn.Properties.Environment?.Variables?.BATCH_TABLE_NAME !== undefined,
    );
    // The batch API, the fan-out, the worker and the dead-letter consumer.
    expect(functions).toHaveLength(4);
    for (const fn of functions) {
      expect(fn.Properties.Environment.Variables[BATCH_RETENTION_SECONDS]).toBe(String(7 * 86_400));
    }
  });
});

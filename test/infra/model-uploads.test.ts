import { describe, expect, it } from 'vitest';
import * as ENV from '../../contracts/environment-variables';
import { FUNCTIONS } from '../../contracts/functions';
import { synthesizePlatform } from './platform-app';

interface Statement {
  Action: string | string[];
  Resource: unknown;
  Condition?: unknown;
}

/** The models function's S3 statements and environment, as synthesized in the given serving mode. */
function modelsFunction(overrides: Record<string, unknown> = {}) {
  const { template } = synthesizePlatform(overrides);
  const [fn] = Object.values(template.findResources('AWS::Lambda::Function')).filter(
    (f) => f.Properties.Description === FUNCTIONS.models.description,
  );
  const roleId = fn!.Properties.Role['Fn::GetAtt'][0] as string;
  const statements = Object.values(template.findResources('AWS::IAM::Policy'))
    .filter((p) => (p.Properties.Roles as { Ref?: string }[]).some((r) => r.Ref === roleId))
    .flatMap((p) => p.Properties.PolicyDocument.Statement as Statement[])
    .filter((s) => [s.Action].flat().some((a) => a.startsWith('s3:')));
  return { statements, environment: fn!.Properties.Environment.Variables as Record<string, unknown> };
}

describe('the upload routes in the stack', () => {
  it('grant the models function exactly PutObject and GetObject, with DeleteObject for retirement, on the archives under the models prefix, and the listing that makes a missing archive a 404', () => {
    const { statements, environment } = modelsFunction();
    expect(
      statements.map((s) => ({
        actions: [s.Action].flat().sort(),
        resource: s.Resource,
        condition: s.Condition,
      })),
    ).toEqual([
      // "Is this archive stored already?": S3 answers 404 only to a caller that may list the bucket.
      {
        actions: ['s3:ListBucket'],
        resource: { 'Fn::GetAtt': ['ModelStoreBucket', 'Arn'] },
        condition: undefined,
      },
      {
        actions: ['s3:DeleteObject', 's3:GetObject', 's3:PutObject'],
        resource: { 'Fn::Join': ['', [{ 'Fn::GetAtt': ['ModelStoreBucket', 'Arn'] }, '/models/*']] },
        condition: undefined,
      },
    ]);
    expect(JSON.stringify(environment[ENV.MODEL_STORE_URL])).toContain('ModelStoreBucket');
    expect(environment[ENV.MODEL_UPLOAD_ENDPOINT_NAME]).toBeDefined();
  });

  it('name no endpoint for pushed versions on a single-model endpoint', () => {
    const { environment } = modelsFunction({ servingMode: 'single-model', instanceType: 'ml.g5.xlarge' });
    expect(environment[ENV.MODEL_UPLOAD_ENDPOINT_NAME]).toBeUndefined();
  });
});

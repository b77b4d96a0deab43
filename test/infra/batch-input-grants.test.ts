import { beforeAll, describe, expect, it } from 'vitest';
import { FUNCTIONS, type FunctionName } from '../../contracts/functions';
import { synthesizePlatform } from './platform-app';

interface Statement {
  Action: string | string[];
  Resource: unknown;
}

const INPUTS = { 'Fn::Join': ['', [{ 'Fn::GetAtt': ['BatchDataBucket', 'Arn'] }, '/inputs/*']] };

describe('the batch functions’ grants on input files', () => {
  let template: ReturnType<typeof synthesizePlatform>['template'];

  beforeAll(() => {
    ({ template } = synthesizePlatform());
  });

  /** The function's S3 statements. */
  const s3Statements = (name: FunctionName): Statement[] => {
    const [fn] = Object.values(template.findResources('AWS::Lambda::Function')).filter(
      (f) => f.Properties.Description === FUNCTIONS[name].description,
    );
    const roleId = fn!.Properties.Role['Fn::GetAtt'][0] as string;
    return Object.values(template.findResources('AWS::IAM::Policy'))
      .filter((p) => (p.Properties.Roles as { Ref?: string }[]).some((r) => r.Ref === roleId))
      .flatMap((p) => p.Properties.PolicyDocument.Statement as Statement[])
      .filter((s) => [s.Action].flat().some((a) => a.startsWith('s3:')));
  };

  it.each([
    ['batch', ['s3:GetObject', 's3:PutObject']],
    ['batchFanOut', ['s3:GetObject']],
    ['batchWorker', ['s3:GetObject']],
  ] as const)('%s may %j on the inputs prefix and nothing else of S3', (name, actions) => {
    const statements = s3Statements(name);
    expect(statements).toHaveLength(1);
    expect([statements[0]!.Action].flat().sort()).toEqual(actions);
    expect(statements[0]!.Resource).toEqual(INPUTS);
  });

  it('gives the dead-letter function nothing of S3', () => {
    expect(s3Statements('batchDeadLetters')).toEqual([]);
  });
});

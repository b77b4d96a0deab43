import { beforeAll, describe, expect, it } from 'vitest';
import { FUNCTIONS, type FunctionName } from '../../contracts/functions';
import { synthesizePlatform } from './platform-app';

interface Statement {
  Action: string | string[];
  Resource: unknown;
  Condition?: unknown;
}

const BUCKET = { 'Fn::GetAtt': ['BatchDataBucket', 'Arn'] };
const objects = (prefix: string) => ({ 'Fn::Join': ['', [BUCKET, `/${prefix}*`]] });
/**
 * With no condition: S3 answers a missing object 404 only to a caller with s3:ListBucket on the
 * bucket (docs/security.md, IAM), and a read of one carries no s3:prefix.
 */
const LISTING = { actions: ['s3:ListBucket'], resource: BUCKET };

/**
 * Every S3 permission of each batch function on the batch data bucket, and what its code does with
 * it: uploads and lookups of input files, range reads of them, result parts and manifests, links,
 * deletion. Anything more is a grant no code calls.
 */
const EXPECTED: Record<string, readonly { actions: string[]; resource: unknown; condition?: unknown }[]> = {
  batch: [
    // Presigned input uploads and the submission's HeadObject of each input.
    { actions: ['s3:GetObject', 's3:PutObject'], resource: objects('inputs/') },
    // The manifest and presigned part links (GetObject); deleting a job's results.
    { actions: ['s3:DeleteObject', 's3:GetObject'], resource: objects('results/') },
    // Listing results to delete them; and for every function, the 404 of a missing object.
    LISTING,
  ],
  batchFanOut: [
    { actions: ['s3:GetObject'], resource: objects('inputs/') },
    { actions: ['s3:GetObject', 's3:PutObject'], resource: objects('results/') },
    LISTING,
  ],
  batchWorker: [
    { actions: ['s3:GetObject'], resource: objects('inputs/') },
    { actions: ['s3:GetObject', 's3:PutObject'], resource: objects('results/') },
    LISTING,
  ],
  batchDeadLetters: [{ actions: ['s3:GetObject', 's3:PutObject'], resource: objects('results/') }, LISTING],
};

describe('the batch functions’ grants on the batch data bucket', () => {
  let template: ReturnType<typeof synthesizePlatform>['template'];

  beforeAll(() => {
    ({ template } = synthesizePlatform());
  });

  /** The function's S3 statements, as action lists on resources. */
  const s3Statements = (name: FunctionName) => {
    const [fn] = Object.values(template.findResources('AWS::Lambda::Function')).filter(
      (f) => f.Properties.Description === FUNCTIONS[name].description,
    );
    const roleId = fn!.Properties.Role['Fn::GetAtt'][0] as string;
    return Object.values(template.findResources('AWS::IAM::Policy'))
      .filter((p) => (p.Properties.Roles as { Ref?: string }[]).some((r) => r.Ref === roleId))
      .flatMap((p) => p.Properties.PolicyDocument.Statement as Statement[])
      .filter((s) => [s.Action].flat().some((a) => a.startsWith('s3:')))
      .map((s) => ({
        actions: [s.Action].flat().sort(),
        resource: s.Resource,
        ...(s.Condition ? { condition: s.Condition } : {}),
      }));
  };

  it.each(Object.keys(EXPECTED))('%s may exactly what its code does with inputs and results', (name) => {
    const key = (s: { resource: unknown; actions: string[] }) => JSON.stringify([s.resource, s.actions]);
    const sorted = <T extends { resource: unknown; actions: string[] }>(list: readonly T[]) =>
      [...list].sort((a, b) => key(a).localeCompare(key(b)));
    expect(sorted(s3Statements(name as FunctionName))).toEqual(sorted(EXPECTED[name]!));
  });
});

import * as path from 'node:path';
import { build } from 'esbuild';
import { beforeAll, describe, expect, it } from 'vitest';
import { FUNCTIONS, type FunctionName } from '../../contracts/functions';
import { LAMBDA_ESBUILD_OPTIONS } from '../../lib/lambda-esbuild-options';
import { PROJECT_ROOT } from '../../lib/project-root';
import { SQS_POLLER_ACTIONS } from '../../lib/queue-event-source';
import { synthesizePlatform } from './platform-app';

/** IAM's service prefix for each SDK client package (`@aws-sdk/client-<name>`). */
const IAM_SERVICE: Record<string, string> = {
  dynamodb: 'dynamodb',
  sqs: 'sqs',
  s3: 's3',
  sagemaker: 'sagemaker',
  'sagemaker-runtime': 'sagemaker',
  'secrets-manager': 'secretsmanager',
  eventbridge: 'events',
};

/**
 * Commands a client carries for its own use, which it never sends here: DynamoDB's endpoint
 * discovery is off unless configured, and S3 creates sessions only for directory buckets.
 */
const NEVER_SENT = new Set(['dynamodb:DescribeEndpoints', 's3:CreateSession']);

/** Commands whose permission is another action, or more than one. */
const ACTIONS_OF_COMMAND: Record<string, readonly string[]> = {
  // SQS has no permission of its own for batch actions: SendMessage covers SendMessageBatch.
  'sqs:SendMessageBatch': ['sqs:SendMessage'],
  // A copy reads its source and writes its target.
  's3:CopyObject': ['s3:GetObject', 's3:PutObject'],
  // S3 authorizes every step of a multipart upload as s3:PutObject.
  's3:CreateMultipartUpload': ['s3:PutObject'],
  's3:UploadPart': ['s3:PutObject'],
  's3:CompleteMultipartUpload': ['s3:PutObject'],
  // A read that may find no object also needs s3:ListBucket: S3 answers a missing object 404 only to
  // a caller that has it, and 403 to any other (HeadObject and GetObject, S3 API reference).
  's3:HeadObject': ['s3:GetObject', 's3:ListBucket'],
  's3:GetObject': ['s3:GetObject', 's3:ListBucket'],
  // A listing is authorized as s3:ListBucket, a multi-object delete as s3:DeleteObject per key.
  's3:ListObjectsV2': ['s3:ListBucket'],
  's3:DeleteObjects': ['s3:DeleteObject'],
  // A conditional PutObject is s3:PutObject; with If-Match it also needs s3:GetObject (S3 User Guide,
  // conditional writes), which the batch functions that write so hold already: they read the part
  // (GetObject) whose ETag they give.
};

/** What a function's role needs for work that AWS, not its bundle, does with its credentials. */
const GRANTED_FOR_THE_RUNTIME: Partial<Record<FunctionName, readonly string[]>> = {
  // The Parameters and Secrets extension fetches the signing key (HS256 mode).
  authorizer: ['secretsmanager:GetSecretValue'],
  batchFanOut: SQS_POLLER_ACTIONS,
  batchWorker: SQS_POLLER_ACTIONS,
  batchDeadLetters: SQS_POLLER_ACTIONS,
  modelWarmup: SQS_POLLER_ACTIONS,
};

/** X-Ray tracing and the function's own log group: every function has them (PlatformFunction). */
const isPlatformAction = (action: string) => action.startsWith('xray:') || action.startsWith('logs:');

/** The IAM actions of the SDK commands that the function's bundle, as deployed, contains. */
async function actionsOfBundle(entry: string): Promise<string[]> {
  const { metafile } = await build({
    ...LAMBDA_ESBUILD_OPTIONS,
    absWorkingDir: PROJECT_ROOT,
    entryPoints: [path.join(PROJECT_ROOT, entry)],
    outdir: path.join(PROJECT_ROOT, 'cdk.out', 'grants-test'),
    write: false,
    metafile: true,
    logLevel: 'error',
  });
  const inputs = Object.values(metafile.outputs).flatMap((output) => Object.keys(output.inputs));
  const actions = inputs.flatMap((input) => {
    const match = /@aws-sdk\/client-([a-z0-9-]+)\/dist-es\/commands\/(\w+)Command\.js$/.exec(input);
    if (!match) return [];
    const service = IAM_SERVICE[match[1]!];
    if (!service) throw new Error(`no IAM service known for @aws-sdk/client-${match[1]}`);
    const command = `${service}:${match[2]}`;
    if (NEVER_SENT.has(command)) return [];
    return ACTIONS_OF_COMMAND[command] ?? [command];
  });
  return [...new Set(actions)].sort();
}

interface PolicyDocument {
  Statement: { Action: string | string[]; Effect: string; Condition?: unknown }[];
}

describe('the grants of each catalogued function', () => {
  let template: ReturnType<typeof synthesizePlatform>['template'];

  beforeAll(() => {
    ({ template } = synthesizePlatform());
  });

  /** The policy statements attached to the function's role. */
  const statementsOf = (description: string): PolicyDocument['Statement'] => {
    const functions = Object.values(template.findResources('AWS::Lambda::Function')).filter(
      (fn) => fn.Properties.Description === description,
    );
    expect(functions).toHaveLength(1);
    const roleId = functions[0]!.Properties.Role['Fn::GetAtt'][0] as string;
    const policies = Object.values(template.findResources('AWS::IAM::Policy')).filter((policy) =>
      (policy.Properties.Roles as { Ref?: string }[]).some((role) => role.Ref === roleId),
    );
    return policies.flatMap((policy) => (policy.Properties.PolicyDocument as PolicyDocument).Statement);
  };

  /** The actions the policies attached to the function's role allow, X-Ray and logs aside. */
  const grantedActions = (description: string): string[] => {
    const actions = statementsOf(description).flatMap((statement) => {
      expect(statement.Effect).toBe('Allow');
      return [statement.Action].flat();
    });
    return [...new Set(actions.filter((action) => !isPlatformAction(action)))].sort();
  };

  it.each(Object.entries(FUNCTIONS) as [FunctionName, (typeof FUNCTIONS)[FunctionName]][])(
    '%s: the actions its role allows are those its bundle can send',
    async (name, spec) => {
      const expected = [...(await actionsOfBundle(spec.entry)), ...(GRANTED_FOR_THE_RUNTIME[name] ?? [])];

      expect(grantedActions(spec.description)).toEqual([...new Set(expected)].sort());
    },
  );

  it.each(Object.entries(FUNCTIONS) as [FunctionName, (typeof FUNCTIONS)[FunctionName]][])(
    '%s: its s3:ListBucket has no condition, so S3 tells it a missing object from a refusal',
    (_, spec) => {
      // A GetObject or HeadObject request carries no s3:prefix, so a listing conditioned on one would
      // not count toward the 404.
      const listings = statementsOf(spec.description).filter((statement) =>
        [statement.Action].flat().includes('s3:ListBucket'),
      );
      for (const listing of listings) expect(listing.Condition).toBeUndefined();
    },
  );
});

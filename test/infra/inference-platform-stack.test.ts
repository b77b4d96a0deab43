import { App } from 'aws-cdk-lib';
import { Match, type Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { API_FUNCTION_NAMES, FUNCTIONS } from '../../contracts/functions';
import { parsePlatformConfig } from '../../lib/config';
import { InferencePlatformStack } from '../../lib/inference-platform-stack';
import { PLATFORM_FUNCTION_ENVIRONMENT } from '../../lib/platform-function';
import { endpointArn } from '../../lib/triton-endpoint';
import {
  buildPlatform,
  createModelRepositoryFixture,
  FIXTURE_MODELS,
  synthesizePlatform,
} from './platform-app';

type Statement = { Action: string | string[]; Resource: unknown; Effect: string; Condition?: unknown };

const capitalize = (name: string) => `${name[0]!.toUpperCase()}${name.slice(1)}`;

/**
 * Platform functions: those behind the API and its authorizer, the one behind the stack's custom
 * resources, the two of the batch pipeline and the signing key's rotation.
 */
const PLATFORM_FUNCTIONS = [
  ...API_FUNCTION_NAMES.map(capitalize),
  'Authorizer',
  'Deployment',
  'FanOut',
  'Worker',
  'DeadLetters',
  'KeyRotation',
  'WarmUp',
];
type PlatformFunctionName = string;

const functionIdPrefix = (name: PlatformFunctionName) => {
  if (name === 'Deployment') return 'DeploymentFunction';
  if (name === 'FanOut' || name === 'Worker' || name === 'DeadLetters') return `Batch${name}Function`;
  if (name === 'KeyRotation') return 'JwtSigningKeyRotationFunction';
  if (name === 'WarmUp') return 'WarmUpFunction';
  return `Api${name}Function`;
};

function functionLogicalId(template: Template, name: PlatformFunctionName): string {
  const ids = Object.keys(template.findResources('AWS::Lambda::Function')).filter((id) =>
    id.startsWith(functionIdPrefix(name)),
  );
  expect(ids).toHaveLength(1);
  return ids[0]!;
}

/** The statements of the default policy attached to a function's role. */
function functionStatements(template: Template, name: PlatformFunctionName): Statement[] {
  const fn = template.toJSON().Resources[functionLogicalId(template, name)];
  const roleId = fn.Properties.Role['Fn::GetAtt'][0];
  const policies = Object.values(template.findResources('AWS::IAM::Policy')).filter((p) =>
    p.Properties.Roles.some((r: { Ref: string }) => r.Ref === roleId),
  );
  expect(policies).toHaveLength(1);
  return policies[0]!.Properties.PolicyDocument.Statement;
}

function layersOf(template: Template, name: PlatformFunctionName): unknown[] {
  return template.toJSON().Resources[functionLogicalId(template, name)].Properties.Layers ?? [];
}

function environmentOf(template: Template, name: PlatformFunctionName): Record<string, unknown> {
  return template.toJSON().Resources[functionLogicalId(template, name)].Properties.Environment.Variables;
}

const actionsOf = (s: Statement) => [s.Action].flat();

describe('InferencePlatformStack', () => {
  let template: Template;

  let stack: InferencePlatformStack;
  const endpointArnOf = (name: string) => stack.resolve(endpointArn(stack, name));

  beforeAll(() => {
    ({ template, stack } = synthesizePlatform());
  });

  describe('functions', () => {
    it('runs every platform function on nodejs22.x arm64 with active tracing and an explicit log group', () => {
      const functions = PLATFORM_FUNCTIONS.map(
        (name) => template.toJSON().Resources[functionLogicalId(template, name)],
      );
      for (const fn of functions) {
        expect(fn.Properties).toMatchObject({
          Runtime: 'nodejs22.x',
          Architectures: ['arm64'],
          TracingConfig: { Mode: 'Active' },
          Handler: 'index.handler',
          MemorySize: 512,
          LoggingConfig: { LogGroup: { Ref: expect.stringMatching(/LogGroup/) } },
        });
        expect(fn.Properties.Environment.Variables).toMatchObject(PLATFORM_FUNCTION_ENVIRONMENT);
      }
      // The only other function is CDK's provider framework in front of the deployment function.
      template.resourceCountIs('AWS::Lambda::Function', PLATFORM_FUNCTIONS.length + 1);
      template.hasResourceProperties('AWS::Lambda::Function', {
        Handler: 'framework.onEvent',
        LoggingConfig: Match.objectLike({
          LogGroup: { Ref: Match.stringLikeRegexp('^DeploymentProviderLogGroup') },
        }),
      });
      // Platform functions, the provider framework and the API access logs: all kept for 30 days.
      template.resourceCountIs('AWS::Logs::LogGroup', PLATFORM_FUNCTIONS.length + 2);
      template.resourcePropertiesCountIs(
        'AWS::Logs::LogGroup',
        { RetentionInDays: 30 },
        PLATFORM_FUNCTIONS.length + 2,
      );
    });

    it('sets the Powertools service, namespace, log level and source maps', () => {
      // POWERTOOLS_SERVICE_NAME is each function's own (operations.test.ts).
      expect(PLATFORM_FUNCTION_ENVIRONMENT).toEqual({
        POWERTOOLS_METRICS_NAMESPACE: 'InferencePlatform',
        POWERTOOLS_LOG_LEVEL: 'INFO',
        NODE_OPTIONS: '--enable-source-maps',
      });
    });

    it('gives API functions the integration timeout, the authorizer 10 s, the key rotation 30 s, the deployment and fan-out functions 5 min and the worker its configured timeout', () => {
      const timeoutOf = (name: PlatformFunctionName) =>
        template.toJSON().Resources[functionLogicalId(template, name)].Properties.Timeout as number;
      expect(timeoutOf('Inference')).toBe(29);
      expect(timeoutOf('Health')).toBe(29);
      expect(timeoutOf('Authorizer')).toBe(10);
      expect(timeoutOf('KeyRotation')).toBe(30);
      expect(timeoutOf('Deployment')).toBe(300);
      expect(timeoutOf('FanOut')).toBe(300);
      expect(timeoutOf('Worker')).toBe(120);
    });

    it('lets the inference function query model partitions, count its callers and keep circuits, nothing more', () => {
      expect(environmentOf(template, 'Inference')).toMatchObject({
        REGISTRY_TABLE_NAME: { Ref: 'RegistryTable' },
        RATE_LIMIT_TABLE_NAME: { Ref: 'RateLimitTable' },
        RATE_LIMIT_TIERS: expect.stringContaining('"standard"'),
        ALLOWED_ORIGINS: '*',
      });
      const dynamo = functionStatements(template, 'Inference').filter((s) =>
        actionsOf(s).some((a) => a.startsWith('dynamodb:')),
      );
      expect(dynamo).toEqual(
        expect.arrayContaining([
          { Action: 'dynamodb:Query', Effect: 'Allow', Resource: { 'Fn::GetAtt': ['RegistryTable', 'Arn'] } },
          {
            Action: 'dynamodb:UpdateItem',
            Effect: 'Allow',
            Resource: { 'Fn::GetAtt': ['RateLimitTable', 'Arn'] },
          },
          {
            Action: ['dynamodb:DeleteItem', 'dynamodb:GetItem', 'dynamodb:UpdateItem'],
            Effect: 'Allow',
            Resource: { 'Fn::GetAtt': ['CircuitTable', 'Arn'] },
          },
        ]),
      );
      expect(dynamo).toHaveLength(3);
      const settings = JSON.parse(environmentOf(template, 'Inference').CIRCUIT_SETTINGS as string);
      expect(settings).toEqual({
        failureThreshold: 5,
        windowSeconds: 30,
        cooldownSeconds: 30,
        probeTimeoutSeconds: 30,
        cacheTtlMs: 1000,
      });
    });

    it('lets the models function read and write the registry and its index', () => {
      expect(environmentOf(template, 'Models')).toMatchObject({
        REGISTRY_TABLE_NAME: { Ref: 'RegistryTable' },
        RATE_LIMIT_TABLE_NAME: { Ref: 'RateLimitTable' },
      });
      const actions = functionStatements(template, 'Models').flatMap(actionsOf);
      expect(actions).toEqual(
        expect.arrayContaining(['dynamodb:PutItem', 'dynamodb:DeleteItem', 'dynamodb:Query']),
      );
      expect(actions.filter((a) => a.startsWith('sagemaker:'))).toEqual([]);
    });

    it('lets the inference function invoke only the Triton endpoint, with no wildcard actions', () => {
      const statements = functionStatements(template, 'Inference');
      const sagemaker = statements.filter((s) => actionsOf(s).some((a) => a.startsWith('sagemaker:')));
      expect(sagemaker).toEqual([
        {
          Action: 'sagemaker:InvokeEndpoint',
          Effect: 'Allow',
          Resource: endpointArnOf(stack.endpoint.endpointName),
        },
      ]);
      for (const statement of statements) {
        for (const action of actionsOf(statement)) expect(action).not.toContain('*');
      }
    });

    it('grants InvokeEndpoint on each additional endpoint too, by its lower-case ARN, and tells the models function the list', () => {
      const platform = synthesizePlatform({ additionalEndpointNames: 'Standby,canary' });
      const own = platform.stack.endpoint.endpointName;
      const arn = (name: string) => platform.stack.resolve(endpointArn(platform.stack, name));
      for (const name of ['Inference', 'Worker'] as const) {
        const sagemaker = functionStatements(platform.template, name).filter((s) =>
          actionsOf(s).some((a) => a.startsWith('sagemaker:')),
        );
        expect(sagemaker).toEqual([
          {
            Action: 'sagemaker:InvokeEndpoint',
            Effect: 'Allow',
            Resource: expect.arrayContaining([arn(own), arn('Standby'), arn('canary')]),
          },
        ]);
        expect(sagemaker[0]!.Resource).toHaveLength(3);
      }
      expect(JSON.stringify(arn('Standby'))).toContain('endpoint/standby');
      expect(environmentOf(platform.template, 'Models')).toMatchObject({
        INVOKABLE_ENDPOINT_NAMES: `${own},Standby,canary`,
      });
    });

    it('passes the platform version to the health function', () => {
      expect(environmentOf(template, 'Health')).toMatchObject({
        PLATFORM_VERSION: '9.8.7-test',
        ENDPOINT_NAME: stack.endpoint.endpointName,
      });
      // Readiness reads the status of the stack's endpoint, and of nothing else.
      const statements = functionStatements(template, 'Health').filter((s) =>
        actionsOf(s).some((a) => !a.startsWith('logs:') && !a.startsWith('xray:')),
      );
      expect(statements).toEqual([
        {
          Action: 'sagemaker:DescribeEndpoint',
          Effect: 'Allow',
          Resource: endpointArnOf(stack.endpoint.endpointName),
        },
      ]);
    });

    it('gives the authorizer the signing secret in HS256 mode, read through the secrets extension', () => {
      const env = environmentOf(template, 'Authorizer');
      expect(env).toMatchObject({
        JWT_SECRET_ARN: { Ref: 'JwtSigningSecret' },
        PARAMETERS_SECRETS_EXTENSION_CACHE_ENABLED: 'true',
        // bounds, with the authorizer's own cache, how long a rotated-out key is trusted
        SECRETS_MANAGER_TTL: '60',
      });
      expect(JSON.stringify(layersOf(template, 'Authorizer'))).toContain(
        'AWS-Parameters-and-Secrets-Lambda-Extension-Arm64',
      );
      expect(env).not.toHaveProperty('JWKS_URL');
      expect(env).not.toHaveProperty('JWT_ISSUER');
      const secretStatements = functionStatements(template, 'Authorizer').filter((s) =>
        actionsOf(s).some((a) => a.startsWith('secretsmanager:')),
      );
      expect(secretStatements).toEqual([
        {
          Action: 'secretsmanager:GetSecretValue',
          Effect: 'Allow',
          Resource: { Ref: 'JwtSigningSecret' },
        },
      ]);
    });

    it('refuses HS256 mode, naming the way out, where the extension has no arm64 layer (CDK region facts)', () => {
      // ap-northeast-3 has a Triton image but no arm64 layer of the extension.
      expect(() => buildPlatform({ region: 'ap-northeast-3' })).toThrow(
        /region ap-northeast-3 has no arm64 layer of the Parameters and Secrets extension.*set jwksUrl/,
      );
    });

    it('allows no `*` or `service:*` action in any policy of the stack', () => {
      // IAM policies, roles' inline policies, and resource policies (keys, buckets, queues, topics).
      const documents = Object.values(
        template.toJSON().Resources as Record<string, { Properties?: object }>,
      ).flatMap(({ Properties = {} }) =>
        Object.entries(Properties)
          .filter(([key]) => /PolicyDocument|KeyPolicy|^Policies$/.test(key))
          .flatMap(([key, value]) =>
            key === 'Policies'
              ? (value as { PolicyDocument: object }[]).map((p) => p.PolicyDocument)
              : [value],
          ),
      ) as { Statement: Statement[] }[];
      const allowed = documents.flatMap((d) => d.Statement).filter((s) => s.Effect === 'Allow');
      expect(allowed.length).toBeGreaterThan(20);
      const wide = allowed.flatMap(actionsOf).filter((a) => a === '*' || /^[\w-]+:\*$/.test(a));
      expect(wide).toEqual([]);
    });

    it('lets each function write only to its own log group', () => {
      for (const name of PLATFORM_FUNCTIONS) {
        const logs = functionStatements(template, name).filter((s) =>
          actionsOf(s).some((a) => a.startsWith('logs:')),
        );
        expect(logs).toEqual([
          {
            Action: ['logs:CreateLogStream', 'logs:PutLogEvents'],
            Effect: 'Allow',
            Resource: {
              'Fn::GetAtt': [expect.stringMatching(new RegExp(`^${functionIdPrefix(name)}LogGroup`)), 'Arn'],
            },
          },
        ]);
      }
      const framework = Object.values(
        template.findResources('AWS::IAM::Policy', {
          Properties: { Roles: [{ Ref: Match.stringLikeRegexp('^DeploymentProviderRole') }] },
        }),
      );
      expect(framework).toHaveLength(1);
      const frameworkStatements: Statement[] = framework[0]!.Properties.PolicyDocument.Statement;
      expect(frameworkStatements.filter((s) => actionsOf(s).some((a) => a.startsWith('logs:')))).toEqual([
        {
          Action: ['logs:CreateLogStream', 'logs:PutLogEvents'],
          Effect: 'Allow',
          Resource: { 'Fn::GetAtt': [expect.stringMatching(/^DeploymentProviderLogGroup/), 'Arn'] },
        },
      ]);
      template.resourceCountIs('AWS::IAM::ManagedPolicy', 0);
      const roles = Object.values(
        template.findResources('AWS::IAM::Role', {
          Properties: {
            AssumeRolePolicyDocument: {
              Statement: [Match.objectLike({ Principal: { Service: 'lambda.amazonaws.com' } })],
            },
          },
        }),
      );
      expect(roles).toHaveLength(PLATFORM_FUNCTIONS.length + 1);
      for (const role of roles) expect(role.Properties.ManagedPolicyArns).toBeUndefined();
    });
  });

  describe('registry table', () => {
    it('keys on pk/sk strings, bills on demand, keeps point-in-time recovery and AWS-managed encryption', () => {
      template.hasResourceProperties('AWS::DynamoDB::Table', {
        KeySchema: [
          { AttributeName: 'pk', KeyType: 'HASH' },
          { AttributeName: 'sk', KeyType: 'RANGE' },
        ],
        AttributeDefinitions: Match.arrayWith([
          { AttributeName: 'pk', AttributeType: 'S' },
          { AttributeName: 'sk', AttributeType: 'S' },
        ]),
        BillingMode: 'PAY_PER_REQUEST',
        PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
        SSESpecification: { SSEEnabled: true },
        GlobalSecondaryIndexes: [
          Match.objectLike({
            IndexName: 'models',
            KeySchema: [
              { AttributeName: 'gsi1pk', KeyType: 'HASH' },
              { AttributeName: 'gsi1sk', KeyType: 'RANGE' },
            ],
          }),
        ],
      });
      template.hasResource('AWS::DynamoDB::Table', {
        DeletionPolicy: 'Retain',
        UpdateReplacePolicy: 'Retain',
      });
    });
  });

  it('pins the logical ids of stateful resources', () => {
    expect(Object.keys(template.findResources('AWS::DynamoDB::Table')).sort()).toEqual([
      'BatchTable',
      'CircuitTable',
      'RateLimitTable',
      'RegistryTable',
    ]);
    expect(Object.keys(template.findResources('AWS::SecretsManager::Secret'))).toEqual(['JwtSigningSecret']);
    expect(Object.keys(template.findResources('AWS::S3::Bucket'))).toEqual([
      'BatchDataBucket',
      'ModelStoreBucket',
    ]);
  });

  it('generates a 64-character signing key in CloudFormation', () => {
    template.hasResourceProperties('AWS::SecretsManager::Secret', {
      GenerateSecretString: { PasswordLength: 64, ExcludePunctuation: true, IncludeSpace: false },
    });
  });

  describe('signing key rotation', () => {
    it('rotates the key with the rotation function every jwtKeyRotationDays (30 by default), never on deploy', () => {
      template.resourceCountIs('AWS::SecretsManager::RotationSchedule', 1);
      template.hasResourceProperties('AWS::SecretsManager::RotationSchedule', {
        SecretId: { Ref: 'JwtSigningSecret' },
        RotationLambdaARN: { 'Fn::GetAtt': [functionLogicalId(template, 'KeyRotation'), 'Arn'] },
        RotationRules: { ScheduleExpression: 'rate(30 days)' },
        RotateImmediatelyOnUpdate: false,
      });
      const weekly = synthesizePlatform({ jwtKeyRotationDays: '7' }).template;
      weekly.hasResourceProperties('AWS::SecretsManager::RotationSchedule', {
        RotationRules: { ScheduleExpression: 'rate(7 days)' },
      });
    });

    it('lets the rotation function stage versions of the signing secret only, and generate a key', () => {
      const statements = functionStatements(template, 'KeyRotation').filter(
        (s) => !actionsOf(s).every((a) => a.startsWith('logs:') || a.startsWith('xray:')),
      );
      expect(statements).toEqual([
        {
          Action: ['secretsmanager:GetRandomPassword', 'xray:PutTelemetryRecords', 'xray:PutTraceSegments'],
          Effect: 'Allow',
          Resource: '*',
        },
        {
          Action: [
            'secretsmanager:DescribeSecret',
            'secretsmanager:GetSecretValue',
            'secretsmanager:PutSecretValue',
            'secretsmanager:UpdateSecretVersionStage',
          ],
          Effect: 'Allow',
          Resource: { Ref: 'JwtSigningSecret' },
        },
      ]);
      expect(environmentOf(template, 'KeyRotation')).toEqual({
        ...PLATFORM_FUNCTION_ENVIRONMENT,
        POWERTOOLS_SERVICE_NAME: 'inference-platform',
      });
    });

    it("lets only this account's Secrets Manager invoke the rotation function", () => {
      const permissions = Object.values(template.findResources('AWS::Lambda::Permission')).filter((p) =>
        JSON.stringify(p.Properties.FunctionName).includes(functionLogicalId(template, 'KeyRotation')),
      );
      expect(permissions.map((p) => p.Properties)).toEqual([
        {
          Action: 'lambda:InvokeFunction',
          FunctionName: { 'Fn::GetAtt': [functionLogicalId(template, 'KeyRotation'), 'Arn'] },
          Principal: 'secretsmanager.amazonaws.com',
          SourceAccount: { Ref: 'AWS::AccountId' },
        },
      ]);
    });

    it('alarms when a rotation step fails', () => {
      template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        MetricName: 'Errors',
        Namespace: 'AWS/Lambda',
        Dimensions: [{ Name: 'FunctionName', Value: { Ref: functionLogicalId(template, 'KeyRotation') } }],
        Threshold: 1,
        AlarmActions: [{ Ref: Match.stringLikeRegexp('^AlarmsTopic') }],
      });
    });
  });

  it('outputs the API URL, table name, endpoint name and secret ARN', () => {
    template.hasOutput('ApiUrl', {});
    template.hasOutput('RegistryTableName', { Value: { Ref: 'RegistryTable' } });
    template.hasOutput('EndpointName', {});
    template.hasOutput('JwtSecretArn', { Value: { Ref: 'JwtSigningSecret' } });
  });
});

describe('InferencePlatformStack in JWKS mode', () => {
  it('drops the signing secret and points the authorizer at the JWKS URL, issuer, audience and token use', () => {
    const { template } = synthesizePlatform({
      jwksUrl: 'https://issuer.example.com/.well-known/jwks.json',
      jwtIssuer: 'https://issuer.example.com/',
      jwtAudience: 'inference-platform',
      jwtTokenType: 'at+jwt',
      jwtTokenUse: 'access',
      instanceType: 'ml.g5.2xlarge',
      initialInstanceCount: '3',
      maxInstanceCount: '4',
      defaultModelName: 'simple',
    });

    template.resourceCountIs('AWS::SecretsManager::Secret', 0);
    template.resourceCountIs('AWS::SecretsManager::RotationSchedule', 0);
    expect(
      Object.values(template.findResources('AWS::Lambda::Function')).map((f) => f.Properties.Description),
    ).not.toContain(FUNCTIONS.keyRotation.description);
    expect(Object.keys(template.toJSON().Outputs)).not.toContain('JwtSecretArn');
    const env = environmentOf(template, 'Authorizer');
    expect(env).toMatchObject({
      JWKS_URL: 'https://issuer.example.com/.well-known/jwks.json',
      JWT_ISSUER: 'https://issuer.example.com/',
      JWT_AUDIENCE: 'inference-platform',
      JWT_TOKEN_TYPE: 'at+jwt',
      JWT_TOKEN_USE: 'access',
    });
    expect(env).not.toHaveProperty('JWT_SECRET_ARN');
    expect(layersOf(template, 'Authorizer')).toEqual([]);
    expect(JSON.stringify(functionStatements(template, 'Authorizer'))).not.toContain('secretsmanager');
    template.hasResourceProperties('AWS::SageMaker::EndpointConfig', {
      ProductionVariants: [Match.objectLike({ InstanceType: 'ml.g5.2xlarge', InitialInstanceCount: 3 })],
    });
  });
});

describe('InferencePlatformStack validation', () => {
  const newStack = (overrides: Record<string, unknown>, props: Record<string, unknown> = {}) =>
    new InferencePlatformStack(new App({ context: { 'aws:cdk:bundling-stacks': [] } }), 'InferencePlatform', {
      config: parsePlatformConfig(overrides),
      modelRepositoryPath: createModelRepositoryFixture(),
      models: FIXTURE_MODELS,
      ...props,
    });

  it('rejects a default model that is not in the model repository', () => {
    expect(() => newStack({ defaultModelName: 'resnet50', servingMode: 'single-model' })).toThrow(
      /defaultModelName .*"resnet50"/,
    );
  });

  it('rejects instance counts out of order even in a configuration that skipped parsing', () => {
    const config = { ...parsePlatformConfig({}), minInstanceCount: 3 };
    expect(() => newStack({}, { config })).toThrow(/min <= initial <= max, got 3, 1, 2/);
  });

  it('rejects an env region that disagrees with the configured region', () => {
    expect(() => newStack({ region: 'eu-west-1' }, { env: { region: 'us-east-1' } })).toThrow(
      /env.region must match config.region \(eu-west-1\), got "us-east-1"/,
    );
  });

  it('deploys to the configured region', () => {
    expect(newStack({ region: 'eu-west-1' }).region).toBe('eu-west-1');
  });
});

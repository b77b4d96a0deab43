import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { Match, type Template } from 'aws-cdk-lib/assertions';
import { Parser } from 'tar';
import { beforeAll, describe, expect, it } from 'vitest';
import { ModelVersionSchema } from '../../contracts/registry-schemas';
import * as z from '../../contracts/zod';
import { FIXTURE_MODELS, synthesizePlatform } from './platform-app';

type Statement = { Action: string | string[]; Resource: unknown; Effect: string; Condition?: unknown };
type Resource = { Type: string; Properties: Record<string, unknown>; DependsOn?: string[] };
interface Archive {
  readonly sourceBucket: string;
  readonly sourceKey: string;
  readonly targetBucket: string;
  readonly targetKey: string;
}

const actionsOf = (s: Statement) => [s.Action].flat();
const resourcesOf = (s: Statement) => [s.Resource].flat();

/** The one resource of a type, with its logical id. */
function onlyResource(template: Template, type: string): { id: string; resource: Resource } {
  const found = Object.entries(template.findResources(type));
  expect(found).toHaveLength(1);
  const [id, resource] = found[0]!;
  return { id, resource: resource as Resource };
}

/** The statements of the one policy attached to the role whose logical id starts with `rolePrefix`. */
function roleStatements(template: Template, rolePrefix: string): Statement[] {
  const policies = Object.values(
    template.findResources('AWS::IAM::Policy', {
      Properties: { Roles: [{ Ref: Match.stringLikeRegexp(`^${rolePrefix}`) }] },
    }),
  );
  expect(policies).toHaveLength(1);
  return policies[0]!.Properties.PolicyDocument.Statement;
}

/**
 * A JSON string property. CloudFormation builds one with tokens in it as an `Fn::Join`; each
 * intrinsic becomes a readable marker: `{Ref:X}`, `{X.Attr}` or `{Sub:...}`.
 */
function parseJsonProperty(value: unknown): unknown {
  if (typeof value === 'string') return JSON.parse(value);
  const [separator, parts] = (value as { 'Fn::Join': [string, unknown[]] })['Fn::Join'];
  const marker = (part: Record<string, unknown>) => {
    if ('Ref' in part) return `{Ref:${part.Ref}}`;
    if ('Fn::GetAtt' in part) return `{${(part['Fn::GetAtt'] as string[]).join('.')}}`;
    if ('Fn::Sub' in part) return `{Sub:${part['Fn::Sub']}}`;
    throw new Error(`unexpected intrinsic in a JSON property: ${JSON.stringify(part)}`);
  };
  return JSON.parse(
    parts.map((p) => (typeof p === 'string' ? p : marker(p as Record<string, unknown>))).join(separator),
  );
}

function archivesOf(template: Template): Archive[] {
  return parseJsonProperty(
    onlyResource(template, 'Custom::ModelArchives').resource.Properties.Archives,
  ) as Archive[];
}

/** Paths inside the archive CDK uploads under `objectKey`, read from the cloud assembly. */
function archiveEntries(outdir: string, objectKey: string): string[] {
  const manifest = JSON.parse(readFileSync(path.join(outdir, 'InferencePlatform.assets.json'), 'utf8')) as {
    files: Record<string, { source: { path: string }; destinations: Record<string, { objectKey: string }> }>;
  };
  const file = Object.values(manifest.files).find((f) =>
    Object.values(f.destinations).some((d) => d.objectKey === objectKey),
  );
  expect(file).toBeDefined();
  const entries: string[] = [];
  const parser = new Parser({
    onReadEntry: (entry) => {
      entries.push(entry.path);
      entry.resume();
    },
  });
  parser.end(gunzipSync(readFileSync(path.join(outdir, file!.source.path))));
  return entries;
}

/** What the published image's `serve` reads to pick Triton's log levels. */
const LOGGING = {
  SAGEMAKER_TRITON_LOG_VERBOSE: 'false',
  SAGEMAKER_TRITON_LOG_INFO: 'true',
  SAGEMAKER_TRITON_LOG_WARNING: 'true',
  SAGEMAKER_TRITON_LOG_ERROR: 'true',
};

/** The Docker image assets of the cloud assembly's asset manifest. */
function dockerImages(outdir: string): Record<string, { source: Record<string, unknown> }> {
  const manifest = JSON.parse(readFileSync(path.join(outdir, 'InferencePlatform.assets.json'), 'utf8')) as {
    dockerImages?: Record<string, { source: Record<string, unknown> }>;
  };
  return manifest.dockerImages ?? {};
}

// biome-ignore lint/suspicious/noTemplateCurlyInString: an Fn::Sub pattern of CloudFormation, not a template.
const ASSET_BUCKET_SUB = 'cdk-hnb659fds-assets-${AWS::AccountId}-us-east-1';
const ASSET_BUCKET = `{Sub:${ASSET_BUCKET_SUB}}`;
const STORE_ARN = { 'Fn::GetAtt': ['ModelStoreBucket', 'Arn'] };
const storeObjectArn = (key: string) => ({ 'Fn::Join': ['', [STORE_ARN, `/${key}`]] });
const storeUrl = (key: string) => ({ 'Fn::Join': ['', ['s3://', { Ref: 'ModelStoreBucket' }, `/${key}`]] });
const assetObjectArn = (key: string) => ({
  'Fn::Join': ['', ['arn:aws:s3:::', { 'Fn::Sub': ASSET_BUCKET_SUB }, `/${key}`]],
});

/** The store key the archive of `model` is copied to (`models/<model>-<content hash>.tar.gz`). */
function archiveKeyOf(template: Template, model: string): string {
  const key = archivesOf(template).find(
    (a) => /^models\/(.+)-[0-9a-f]{16}\.tar\.gz$/.exec(a.targetKey)?.[1] === model,
  )?.targetKey;
  if (!key) throw new Error(`no archive for ${model}`);
  return key;
}

describe('Triton serving', () => {
  let multi: Template;
  let multiOutdir: string;
  let single: Template;
  let scaled: Template;
  let endpointName: string;

  beforeAll(() => {
    const platform = synthesizePlatform();
    multi = platform.template;
    multiOutdir = platform.app.outdir;
    single = synthesizePlatform({ servingMode: 'single-model' }).template;
    scaled = synthesizePlatform({
      minInstanceCount: 2,
      initialInstanceCount: 2,
      maxInstanceCount: 5,
      targetInvocationsPerInstance: 250,
      instanceType: 'ml.g5.2xlarge',
    }).template;
    endpointName = onlyResource(multi, 'AWS::SageMaker::Endpoint').resource.Properties.EndpointName as string;
  });

  describe('SageMaker model', () => {
    it('serves every archive under the models/ prefix on a multi-model endpoint', () => {
      multi.hasResourceProperties('AWS::SageMaker::Model', {
        EnableNetworkIsolation: true,
        ExecutionRoleArn: { 'Fn::GetAtt': [Match.stringLikeRegexp('^TritonExecutionRole'), 'Arn'] },
        PrimaryContainer: {
          Mode: 'MultiModel',
          Image: '763104351884.dkr.ecr.us-east-1.amazonaws.com/sagemaker-tritonserver:24.09-py3',
          ModelDataUrl: storeUrl('models/'),
          Environment: Match.exact(LOGGING),
        },
      });
    });

    it('serves the default model archive alone in single-model mode', () => {
      single.hasResourceProperties('AWS::SageMaker::Model', {
        EnableNetworkIsolation: true,
        PrimaryContainer: {
          Mode: Match.absent(),
          Image: '763104351884.dkr.ecr.us-east-1.amazonaws.com/sagemaker-tritonserver:24.09-py3',
          ModelDataUrl: storeUrl(archiveKeyOf(single, 'simple')),
          Environment: Match.exact({ SAGEMAKER_TRITON_DEFAULT_MODEL_NAME: 'simple', ...LOGGING }),
        },
      });
    });

    it('builds no image by default: the cloud assembly has no Docker image asset', () => {
      expect(dockerImages(multiOutdir)).toEqual({});
    });

    it('builds triton-image/ from the published image only with customImage, and pulls only that repository', () => {
      const platform = synthesizePlatform({ customImage: 'true' });
      const images = Object.values(dockerImages(platform.app.outdir));
      expect(images).toHaveLength(1);
      expect(images[0]!.source).toMatchObject({
        directory: expect.stringMatching(/^asset\./),
        dockerBuildArgs: {
          TRITON_BASE_IMAGE: '763104351884.dkr.ecr.us-east-1.amazonaws.com/sagemaker-tritonserver:24.09-py3',
        },
        platform: 'linux/amd64',
      });
      platform.template.hasResourceProperties('AWS::SageMaker::Model', {
        PrimaryContainer: { Image: { 'Fn::Sub': Match.stringLikeRegexp('container-assets') } },
      });
      const ecr = roleStatements(platform.template, 'TritonExecutionRole').filter((s) =>
        actionsOf(s).some((a) => a.startsWith('ecr:')),
      );
      const pull = ecr.find((s) => actionsOf(s).includes('ecr:BatchGetImage'))!;
      expect(actionsOf(pull).sort()).toEqual([
        'ecr:BatchCheckLayerAvailability',
        'ecr:BatchGetImage',
        'ecr:GetDownloadUrlForLayer',
      ]);
      expect(JSON.stringify(pull.Resource)).toMatch(/:repository\/".*container-assets-/);
      expect(ecr.filter((s) => s !== pull)).toEqual([
        { Action: 'ecr:GetAuthorizationToken', Effect: 'Allow', Resource: '*' },
      ]);
    });

    it.each([
      ['multi-model', () => multi],
      ['single-model', () => single],
    ])(
      'in %s mode, is created only once the archives are copied and the role policy exists',
      (_, template) => {
        const archivesId = onlyResource(template(), 'Custom::ModelArchives').id;
        const model = onlyResource(template(), 'AWS::SageMaker::Model').resource;
        expect(model.DependsOn).toEqual(
          expect.arrayContaining([archivesId, expect.stringMatching(/^TritonExecutionRoleDefaultPolicy/)]),
        );
      },
    );
  });

  describe('endpoint', () => {
    it('updates half the fleet at a time, rolling back on the endpoint 5xx and latency alarms, and keeps the scaled count', () => {
      const { resource } = onlyResource(multi, 'AWS::SageMaker::Endpoint');
      const alarmId = (prefix: string) => {
        const ids = Object.keys(multi.findResources('AWS::CloudWatch::Alarm')).filter((id) =>
          id.startsWith(prefix),
        );
        expect(ids).toHaveLength(1);
        return ids[0]!;
      };
      expect(resource.Properties).toMatchObject({
        RetainAllVariantProperties: true,
        DeploymentConfig: {
          RollingUpdatePolicy: {
            MaximumBatchSize: { Type: 'CAPACITY_PERCENT', Value: 50 },
            WaitIntervalInSeconds: 600,
            MaximumExecutionTimeoutInSeconds: 7200,
          },
          AutoRollbackConfiguration: {
            Alarms: [
              { AlarmName: { Ref: alarmId('AlarmsEndpointServerErrors') } },
              { AlarmName: { Ref: alarmId('AlarmsModelLatencyP99') } },
            ],
          },
        },
      });
      // Every variant property stays as the endpoint has it; none is taken from the new config.
      expect(resource.Properties.ExcludeRetainedVariantProperties).toBeUndefined();
      expect(resource.Properties.DeploymentConfig).not.toHaveProperty('BlueGreenUpdatePolicy');
    });

    it('runs one AllTraffic variant with the instance type and count from the configuration', () => {
      multi.hasResourceProperties('AWS::SageMaker::EndpointConfig', {
        ProductionVariants: [
          {
            VariantName: 'AllTraffic',
            InstanceType: 'ml.g5.xlarge',
            InitialInstanceCount: 1,
            InitialVariantWeight: 1,
            ModelName: { 'Fn::GetAtt': [Match.stringLikeRegexp('^TritonModel'), 'ModelName'] },
          },
        ],
      });
      scaled.hasResourceProperties('AWS::SageMaker::EndpointConfig', {
        ProductionVariants: [Match.objectLike({ InstanceType: 'ml.g5.2xlarge', InitialInstanceCount: 2 })],
      });
    });

    it('names the endpoint at synth and outputs that name', () => {
      expect(endpointName).toMatch(/^InferencePlatform-Triton-[0-9A-F]{8}$/);
      multi.hasResourceProperties('AWS::SageMaker::Endpoint', {
        EndpointName: endpointName,
        EndpointConfigName: { 'Fn::GetAtt': [Match.stringLikeRegexp('^TritonConfig'), 'EndpointConfigName'] },
      });
      multi.hasOutput('EndpointName', { Value: endpointName });
    });
  });

  describe('autoscaling', () => {
    it('registers the AllTraffic variant as a scalable target within the configured bounds', () => {
      const target = {
        ServiceNamespace: 'sagemaker',
        ScalableDimension: 'sagemaker:variant:DesiredInstanceCount',
        ResourceId: `endpoint/${endpointName}/variant/AllTraffic`,
      };
      multi.resourceCountIs('AWS::ApplicationAutoScaling::ScalableTarget', 1);
      multi.hasResourceProperties('AWS::ApplicationAutoScaling::ScalableTarget', {
        ...target,
        MinCapacity: 1,
        MaxCapacity: 2,
      });
      scaled.hasResourceProperties('AWS::ApplicationAutoScaling::ScalableTarget', {
        ...target,
        MinCapacity: 2,
        MaxCapacity: 5,
      });
    });

    it('registers nothing for a fixed fleet, whose instance type and count can then change', () => {
      const fixed = synthesizePlatform({
        minInstanceCount: 2,
        initialInstanceCount: 2,
        maxInstanceCount: 2,
      }).template;
      fixed.resourceCountIs('AWS::ApplicationAutoScaling::ScalableTarget', 0);
      fixed.resourceCountIs('AWS::ApplicationAutoScaling::ScalingPolicy', 0);
      fixed.hasResourceProperties('AWS::SageMaker::EndpointConfig', {
        ProductionVariants: [Match.objectLike({ InitialInstanceCount: 2 })],
      });
      // ...and whose deploys set its count from the config, which nothing else would change.
      fixed.hasResourceProperties('AWS::SageMaker::Endpoint', {
        RetainAllVariantProperties: true,
        ExcludeRetainedVariantProperties: [{ VariantPropertyType: 'DesiredInstanceCount' }],
      });
    });

    it('registers the target only once the endpoint exists', () => {
      const endpointId = onlyResource(multi, 'AWS::SageMaker::Endpoint').id;
      const target = onlyResource(multi, 'AWS::ApplicationAutoScaling::ScalableTarget').resource;
      expect(target.DependsOn).toContain(endpointId);
    });

    it('tracks invocations per instance with the configured target, scaling out faster than in', () => {
      const targetId = onlyResource(multi, 'AWS::ApplicationAutoScaling::ScalableTarget').id;
      const policy = (targetValue: number) => ({
        PolicyType: 'TargetTrackingScaling',
        ScalingTargetId: { Ref: Match.stringLikeRegexp('^TritonScaling') },
        TargetTrackingScalingPolicyConfiguration: {
          PredefinedMetricSpecification: { PredefinedMetricType: 'SageMakerVariantInvocationsPerInstance' },
          TargetValue: targetValue,
          ScaleOutCooldown: 60,
          ScaleInCooldown: 600,
        },
      });
      multi.resourceCountIs('AWS::ApplicationAutoScaling::ScalingPolicy', 1);
      multi.hasResourceProperties('AWS::ApplicationAutoScaling::ScalingPolicy', {
        ...policy(1000),
        ScalingTargetId: { Ref: targetId },
      });
      scaled.hasResourceProperties('AWS::ApplicationAutoScaling::ScalingPolicy', policy(250));
    });
  });

  describe('execution role', () => {
    let statements: Statement[];

    beforeAll(() => {
      const roles = multi.findResources('AWS::IAM::Role', {
        Properties: {
          AssumeRolePolicyDocument: {
            Statement: [Match.objectLike({ Principal: { Service: 'sagemaker.amazonaws.com' } })],
          },
        },
      });
      expect(Object.keys(roles)).toEqual([expect.stringMatching(/^TritonExecutionRole/)]);
      statements = roleStatements(multi, 'TritonExecutionRole');
    });

    it('gets the model archives under models/ of the model store and does nothing else in S3', () => {
      const s3 = statements.filter((s) => actionsOf(s).some((a) => a.startsWith('s3:')));
      expect(s3).toEqual([{ Action: 's3:GetObject', Effect: 'Allow', Resource: storeObjectArn('models/*') }]);
    });

    it('gets only the default model archive in single-model mode', () => {
      const s3 = roleStatements(single, 'TritonExecutionRole').filter((s) =>
        actionsOf(s).some((a) => a.startsWith('s3:')),
      );
      expect(s3).toEqual([
        { Action: 's3:GetObject', Effect: 'Allow', Resource: storeObjectArn(archiveKeyOf(single, 'simple')) },
      ]);
    });

    it('may read exactly the rollback alarms, which SageMaker watches with this role', () => {
      const rollback = multi.findResources('AWS::SageMaker::Endpoint');
      const alarms = (
        Object.values(rollback)[0]!.Properties.DeploymentConfig.AutoRollbackConfiguration.Alarms as {
          AlarmName: { Ref: string };
        }[]
      ).map((a) => ({ 'Fn::GetAtt': [a.AlarmName.Ref, 'Arn'] }));
      const described = statements.filter((s) => actionsOf(s).includes('cloudwatch:DescribeAlarms'));
      expect(described).toEqual([{ Action: 'cloudwatch:DescribeAlarms', Effect: 'Allow', Resource: alarms }]);
    });

    it('has no ECR permission: SageMaker pulls its published image itself', () => {
      expect(statements.flatMap(actionsOf).filter((a) => a.startsWith('ecr:'))).toEqual([]);
    });

    it("writes only to its endpoint's log group and its streams", () => {
      const logs = statements.filter((s) => actionsOf(s).some((a) => a.startsWith('logs:')));
      const logGroupArn = (suffix: string) => ({
        'Fn::Join': [
          '',
          [
            'arn:aws:logs:us-east-1:',
            { Ref: 'AWS::AccountId' },
            `:log-group:/aws/sagemaker/Endpoints/${endpointName}${suffix}`,
          ],
        ],
      });
      expect(logs).toEqual([
        {
          Action: [
            'logs:CreateLogGroup',
            'logs:CreateLogStream',
            'logs:DescribeLogStreams',
            'logs:PutLogEvents',
          ],
          Effect: 'Allow',
          Resource: [logGroupArn(''), logGroupArn(':*')],
        },
      ]);
    });

    it('leaves unscoped only the actions AWS cannot scope, metrics limited to SageMaker namespaces', () => {
      const unscoped = statements.filter((s) => s.Resource === '*');
      expect(unscoped.flatMap(actionsOf).sort()).toEqual(['cloudwatch:PutMetricData']);
      const metrics = unscoped.find((s) => actionsOf(s).includes('cloudwatch:PutMetricData'))!;
      expect(metrics.Condition).toEqual({ StringLike: { 'cloudwatch:namespace': '/aws/sagemaker/*' } });
    });
  });

  describe('deployment function', () => {
    it.each([
      ['multi-model', () => multi, ['simple', 'classifier']],
      ['single-model', () => single, ['simple']],
    ])(
      'in %s mode, reads only the archive assets and puts only their copies under models/',
      (_, template, models) => {
        const statements = roleStatements(template(), 'DeploymentFunctionRole');
        const s3 = statements.filter((s) => actionsOf(s).some((a) => a.startsWith('s3:')));
        const sourceKeys = archivesOf(template()).map((a) => a.sourceKey);
        expect(s3.map((s) => s.Action)).toEqual(['s3:GetObject', 's3:PutObject']);
        const [read, put] = s3.map(resourcesOf);
        expect(read).toHaveLength(models.length);
        expect(read).toEqual(expect.arrayContaining(sourceKeys.map(assetObjectArn)));
        expect(put).toHaveLength(models.length);
        expect(put).toEqual(
          expect.arrayContaining(models.map((m) => storeObjectArn(archiveKeyOf(template(), m)))),
        );
      },
    );

    it('writes the registry and touches no SageMaker resource', () => {
      const statements = roleStatements(multi, 'DeploymentFunctionRole');
      const dynamo = statements.filter((s) => actionsOf(s).some((a) => a.startsWith('dynamodb:')));
      const registry = { 'Fn::GetAtt': ['RegistryTable', 'Arn'] };
      expect(dynamo).toEqual([
        {
          Action: ['dynamodb:DeleteItem', 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem'],
          Effect: 'Allow',
          Resource: registry,
        },
        {
          Action: 'dynamodb:Query',
          Effect: 'Allow',
          Resource: [registry, { 'Fn::Join': ['', [registry, '/index/models']] }],
        },
      ]);
      expect(statements.flatMap(actionsOf).filter((a) => a.startsWith('sagemaker:'))).toEqual([]);
      multi.hasResourceProperties('AWS::Lambda::Function', {
        Handler: 'index.handler',
        Description: Match.stringLikeRegexp('model archives'),
        Environment: { Variables: Match.objectLike({ REGISTRY_TABLE_NAME: { Ref: 'RegistryTable' } }) },
      });
    });

    it('lets the provider framework invoke the deployment function and nothing else', () => {
      const fnIds = Object.keys(multi.findResources('AWS::Lambda::Function')).filter((id) =>
        id.startsWith('DeploymentFunction'),
      );
      expect(fnIds).toHaveLength(1);
      const arn = { 'Fn::GetAtt': [fnIds[0], 'Arn'] };
      const statements = roleStatements(multi, 'DeploymentProviderRole');
      const lambda = statements.filter((s) => actionsOf(s).some((a) => a.startsWith('lambda:')));
      expect(lambda).toEqual([
        {
          Action: 'lambda:InvokeFunction',
          Effect: 'Allow',
          Resource: [arn, { 'Fn::Join': ['', [arn, ':*']] }],
        },
        { Action: 'lambda:GetFunction', Effect: 'Allow', Resource: arn },
      ]);
    });
  });

  describe('model store', () => {
    it('copies one archive per served model to the flat key models/<model>-<content hash>.tar.gz', () => {
      const archives = archivesOf(multi);
      expect(archives).toEqual([
        {
          sourceBucket: ASSET_BUCKET,
          sourceKey: expect.stringMatching(/^[0-9a-f]{64}\.gz$/),
          targetBucket: '{Ref:ModelStoreBucket}',
          targetKey: expect.stringMatching(/^models\/simple-[0-9a-f]{16}\.tar\.gz$/),
        },
        {
          sourceBucket: ASSET_BUCKET,
          sourceKey: expect.stringMatching(/^[0-9a-f]{64}\.gz$/),
          targetBucket: '{Ref:ModelStoreBucket}',
          targetKey: expect.stringMatching(/^models\/classifier-[0-9a-f]{16}\.tar\.gz$/),
        },
      ]);
      expect(archives[0]!.sourceKey).not.toBe(archives[1]!.sourceKey);
      multi.hasResourceProperties('Custom::ModelArchives', {
        ServiceToken: {
          'Fn::GetAtt': [Match.stringLikeRegexp('^DeploymentProviderframeworkonEvent'), 'Arn'],
        },
      });
    });

    it('packs each archive with its model folder at the top and nothing else', () => {
      for (const archive of archivesOf(multi)) {
        const model = /^models\/(.+)-[0-9a-f]{16}\.tar\.gz$/.exec(archive.targetKey)![1]!;
        const entries = archiveEntries(multiOutdir, archive.sourceKey);
        expect(entries).toEqual(expect.arrayContaining([`${model}/config.pbtxt`]));
        for (const entry of entries) expect(entry).toMatch(new RegExp(`^${model}/`));
      }
    });

    it('copies only the default model in single-model mode, from the same deterministic archive', () => {
      const archives = archivesOf(single);
      expect(archives.map((a) => a.targetKey)).toEqual([archiveKeyOf(multi, 'simple')]);
      expect(archives[0]!.sourceKey).toBe(archivesOf(multi)[0]!.sourceKey);
    });

    it('keeps the bucket, with S3-managed encryption and public access blocked', () => {
      multi.hasResource('AWS::S3::Bucket', {
        Properties: {
          BucketEncryption: {
            ServerSideEncryptionConfiguration: [
              { ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } },
            ],
          },
          PublicAccessBlockConfiguration: {
            BlockPublicAcls: true,
            BlockPublicPolicy: true,
            IgnorePublicAcls: true,
            RestrictPublicBuckets: true,
          },
        },
        DeletionPolicy: 'Retain',
        UpdateReplacePolicy: 'Retain',
      });
      expect(Object.keys(multi.findResources('AWS::S3::Bucket'))).toContain('ModelStoreBucket');
    });

    it('denies any request that does not use TLS', () => {
      multi.hasResourceProperties('AWS::S3::BucketPolicy', {
        Bucket: { Ref: 'ModelStoreBucket' },
        PolicyDocument: {
          Statement: Match.arrayWith([
            {
              Action: 's3:*',
              Condition: { Bool: { 'aws:SecureTransport': 'false' } },
              Effect: 'Deny',
              Principal: { AWS: '*' },
              Resource: [STORE_ARN, storeObjectArn('*')],
            },
          ]),
        },
      });
    });
  });

  describe('registry seed', () => {
    const seededModels = (template: Template) =>
      parseJsonProperty(onlyResource(template, 'Custom::RegistrySeed').resource.Properties.Models) as Record<
        string,
        unknown
      >[];

    it('registers every model with its archive on the multi-model endpoint as backend', () => {
      expect(seededModels(multi)).toEqual(
        FIXTURE_MODELS.map((model) => ({
          ...model,
          backends: [
            {
              endpointName,
              variant: 'AllTraffic',
              targetModel: archiveKeyOf(multi, model.name).slice('models/'.length),
              weight: 100,
            },
          ],
          status: 'ACTIVE',
          description: expect.any(String),
        })),
      );
      // Triton on SageMaker registers the model under the whole TargetModel string: keep it flat.
      for (const seeded of seededModels(multi)) {
        const [backend] = seeded.backends as { targetModel: string }[];
        expect(backend!.targetModel).toMatch(/^[^/]+-[0-9a-f]{16}\.tar\.gz$/);
      }
    });

    it('registers only the default model, with no target model, in single-model mode', () => {
      const simple = FIXTURE_MODELS.find((m) => m.name === 'simple')!;
      expect(seededModels(single)).toEqual([
        {
          ...simple,
          backends: [{ endpointName, variant: 'AllTraffic', weight: 100 }],
          status: 'ACTIVE',
          description: expect.any(String),
        },
      ]);
    });

    it.each([
      ['multi-model', () => multi],
      ['single-model', () => single],
    ])('in %s mode, sends records the deployment function accepts', (_, template) => {
      for (const model of seededModels(template())) {
        expect(
          z.omit(ModelVersionSchema, { createdAt: true, updatedAt: true }).safeParse(model).error,
        ).toBeUndefined();
      }
    });

    it('seeds only once the endpoint is in service, through the deployment provider', () => {
      const endpointId = onlyResource(multi, 'AWS::SageMaker::Endpoint').id;
      const seed = onlyResource(multi, 'Custom::RegistrySeed').resource;
      expect(seed.DependsOn).toContain(endpointId);
      expect(seed.Properties.ServiceToken).toEqual({
        'Fn::GetAtt': [expect.stringMatching(/^DeploymentProviderframeworkonEvent/), 'Arn'],
      });
    });
  });
});

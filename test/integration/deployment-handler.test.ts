import { GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import type { CloudFormationCustomResourceEvent } from 'aws-lambda';
import { type FauxqsServer, interceptLocalhostDns, startFauxqs } from 'fauxqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ModelRegistry } from '../../functions/registry/registry';
import { tritonBackend } from '../../lib/served-models';
import { createRegistryTable, type LocalDynamoDb, startDynamoDb } from '../../local/aws/dynamodb';
import { lambdaContext } from '../helpers/events';
import { LOCAL_CREDENTIALS, localDynamoDb } from '../helpers/local-clients';
import { SIMPLE_SIGNATURE } from '../helpers/simple-model';

const credentials = LOCAL_CREDENTIALS;
const seeded = (name: string) => ({
  name,
  version: '1',
  platform: 'onnxruntime_onnx',
  ...SIMPLE_SIGNATURE,
  backends: [tritonBackend(name, 'triton-endpoint', 'multi-model')],
  status: 'ACTIVE',
  description: 'seeded',
});

function event(
  type: 'Create' | 'Update' | 'Delete',
  resourceType: string,
  properties: Record<string, string>,
  oldProperties?: Record<string, string>,
): CloudFormationCustomResourceEvent {
  return {
    RequestType: type,
    ResourceType: resourceType,
    ResourceProperties: { ServiceToken: 'token', ...properties },
    ...(oldProperties ? { OldResourceProperties: { ServiceToken: 'token', ...oldProperties } } : {}),
    ...(type === 'Create' ? {} : { PhysicalResourceId: 'id' }),
    ServiceToken: 'token',
    ResponseURL: 'http://127.0.0.1:9/response',
    StackId: 'stack',
    RequestId: 'request',
    LogicalResourceId: 'Resource',
  } as CloudFormationCustomResourceEvent;
}

describe('deployment handler on emulated S3 and DynamoDB', () => {
  let dynamo: LocalDynamoDb;
  let fauxqs: FauxqsServer;
  let restoreDns: () => void;
  let s3: S3Client;
  let registry: ModelRegistry;
  let handler: (
    e: CloudFormationCustomResourceEvent,
    c: unknown,
  ) => Promise<{ PhysicalResourceId: string; Data?: Record<string, string> }>;

  beforeAll(async () => {
    dynamo = await startDynamoDb();
    fauxqs = await startFauxqs({ port: 0, logger: false, host: '127.0.0.1' });
    restoreDns = interceptLocalhostDns();
    fauxqs.createBucket('cdk-assets');
    fauxqs.createBucket('model-store');
    const s3Endpoint = `http://s3.localhost:${fauxqs.port}`;
    s3 = new S3Client({ endpoint: s3Endpoint, region: 'us-east-1', credentials });
    const client = localDynamoDb(dynamo.url);
    await createRegistryTable(client, 'registry');
    registry = new ModelRegistry(client, 'registry');
    Object.assign(process.env, {
      REGISTRY_TABLE_NAME: 'registry',
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'local',
      AWS_SECRET_ACCESS_KEY: 'local',
      AWS_ENDPOINT_URL_DYNAMODB: dynamo.url,
      AWS_ENDPOINT_URL_S3: s3Endpoint,
      POWERTOOLS_TRACE_ENABLED: 'false',
      POWERTOOLS_METRICS_DISABLED: 'true',
      POWERTOOLS_LOG_LEVEL: 'SILENT',
    });
    ({ handler } = (await import('../../functions/handlers/deployment/handler')) as never);
  });

  afterAll(async () => {
    restoreDns();
    await fauxqs.stop();
    await dynamo.close();
  });

  it('copies each model archive to the store under its TargetModel name', async () => {
    // Prepare
    const archive = Buffer.from('gzipped tar bytes');
    await s3.send(new PutObjectCommand({ Bucket: 'cdk-assets', Key: 'abc123.gz', Body: archive }));
    const archives = [
      {
        sourceBucket: 'cdk-assets',
        sourceKey: 'abc123.gz',
        targetBucket: 'model-store',
        targetKey: 'models/simple.tar.gz',
      },
    ];
    // Act
    await handler(
      event('Create', 'Custom::ModelArchives', { Archives: JSON.stringify(archives) }),
      lambdaContext(),
    );
    // Assess
    const copied = await s3.send(
      new GetObjectCommand({ Bucket: 'model-store', Key: 'models/simple.tar.gz' }),
    );
    expect(Buffer.from(await copied.Body!.transformToByteArray())).toEqual(archive);
  });

  it('registers the served models, then drops the ones a later deploy no longer serves', async () => {
    // Act: create with two models
    const both = { Models: JSON.stringify([seeded('simple'), seeded('iris')]) };
    await handler(event('Create', 'Custom::RegistrySeed', both), lambdaContext());
    // Assess
    const simple = await registry.getVersion('simple', '1');
    expect(simple).toMatchObject({
      status: 'ACTIVE',
      backends: [{ endpointName: 'triton-endpoint', targetModel: 'simple.tar.gz' }],
    });
    expect(await registry.getVersion('iris', '1')).toBeDefined();

    // Act: update to one model
    const one = { Models: JSON.stringify([seeded('simple')]) };
    await handler(event('Update', 'Custom::RegistrySeed', one, both), lambdaContext());
    // Assess: simple kept its creation time, iris is gone
    expect((await registry.getVersion('simple', '1'))?.createdAt).toBe(simple?.createdAt);
    expect(await registry.getVersion('iris', '1')).toBeUndefined();
  });

  it('removes seeded versions on delete, except one an alias still routes to', async () => {
    // Prepare
    const models = { Models: JSON.stringify([seeded('a'), seeded('b')]) };
    await handler(event('Create', 'Custom::RegistrySeed', models), lambdaContext());
    await registry.putAlias({
      name: 'b',
      alias: 'prod',
      routes: [{ version: '1', weight: 100 }],
      createdAt: 'now',
      updatedAt: 'now',
    });
    // Act
    await handler(event('Delete', 'Custom::RegistrySeed', models), lambdaContext());
    // Assess
    expect(await registry.getVersion('a', '1')).toBeUndefined();
    expect(await registry.getVersion('b', '1')).toBeDefined();
  });

  it('creates only shipped versions that do not exist, leaving changes made through the API', async () => {
    // Prepare: a shipped version, then changed through the API
    const models = { Models: JSON.stringify([seeded('kept')]) };
    await handler(event('Create', 'Custom::RegistrySeed', models), lambdaContext());
    const changed = await registry.updateVersion(
      'kept',
      '1',
      { status: 'DISABLED', description: 'changed through the API' },
      'later',
    );
    // Act: a redeploy with the same and one new shipped version
    const again = { Models: JSON.stringify([seeded('kept'), seeded('added')]) };
    const result = await handler(event('Update', 'Custom::RegistrySeed', again, models), lambdaContext());
    // Assess
    expect(await registry.getVersion('kept', '1')).toEqual(changed);
    expect(await registry.getVersion('added', '1')).toMatchObject({ status: 'ACTIVE' });
    expect(result).toMatchObject({ Data: { Registered: 'added:1' } });
  });

  it('fails on malformed properties rather than seeding half a registry', async () => {
    await expect(
      handler(event('Create', 'Custom::RegistrySeed', { Models: '[{"name":"x"}]' }), lambdaContext()),
    ).rejects.toThrow();
  });
});

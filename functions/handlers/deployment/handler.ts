import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { CopyObjectCommand, S3Client } from '@aws-sdk/client-s3';
import type { CloudFormationCustomResourceEvent } from 'aws-lambda';
import { FUNCTIONS } from '../../../contracts/functions';
import { ModelVersionSchema } from '../../../contracts/registry-schemas';
import * as z from '../../../contracts/zod';
import { ConflictError, NotFoundError } from '../../edge/errors';
import { instrument } from '../../observability/instrument';
import { logger } from '../../observability/logger';
import { tracer } from '../../observability/tracer';
import { ModelRegistry } from '../../registry/registry';

/**
 * Deploy-time work of the stack, as CloudFormation custom resources:
 * - `Custom::ModelArchives` copies each model's archive from the CDK asset bucket to the model store
 *   under the name SageMaker's multi-model `TargetModel` uses (`<model>-<content hash>.tar.gz`);
 * - `Custom::RegistrySeed` registers the models the endpoint serves that the registry does not hold
 *   yet, once it is in service, so the API routes to them with no manual step; it never overwrites a
 *   version, so changes made through the API survive a redeploy.
 */
const env = FUNCTIONS.deployment.environment.parse(process.env);

const s3 = tracer.captureAWSv3Client(new S3Client({}));
const registry = new ModelRegistry(
  tracer.captureAWSv3Client(new DynamoDBClient({})),
  env.REGISTRY_TABLE_NAME,
);

/** A custom resource property: CloudFormation passes the JSON we serialized as a string. */
const parseJson = z.pipe(
  z.string(),
  z.transform((s: string) => JSON.parse(s) as unknown),
);

const ArchivesSchema = z.object({
  Archives: z.pipe(
    parseJson,
    z.array(
      z.object({
        sourceBucket: z.string(),
        sourceKey: z.string(),
        targetBucket: z.string(),
        targetKey: z.string(),
      }),
    ),
  ),
});

const SeedSchema = z.object({
  Models: z.pipe(parseJson, z.array(z.omit(ModelVersionSchema, { createdAt: true, updatedAt: true }))),
});
type SeededModel = z.output<typeof SeedSchema>['Models'][number];

interface ProviderResult {
  PhysicalResourceId: string;
  Data?: Record<string, string>;
}

async function copyArchives(event: CloudFormationCustomResourceEvent): Promise<ProviderResult> {
  const PhysicalResourceId = 'model-archives';
  // The store keeps archives after a delete, as it keeps them across updates: SageMaker may still be
  // loading one while CloudFormation replaces the endpoint.
  if (event.RequestType === 'Delete') return { PhysicalResourceId };
  const { Archives } = ArchivesSchema.parse(event.ResourceProperties);
  for (const archive of Archives) {
    await s3.send(
      new CopyObjectCommand({
        CopySource: `${archive.sourceBucket}/${archive.sourceKey}`,
        Bucket: archive.targetBucket,
        Key: archive.targetKey,
        ServerSideEncryption: 'AES256',
      }),
    );
    logger.info('model archive copied', { targetKey: archive.targetKey });
  }
  return { PhysicalResourceId };
}

async function seedRegistry(event: CloudFormationCustomResourceEvent): Promise<ProviderResult> {
  const PhysicalResourceId = 'registry-seed';
  const current = event.RequestType === 'Delete' ? [] : SeedSchema.parse(event.ResourceProperties).Models;
  const previous =
    event.RequestType === 'Create'
      ? []
      : SeedSchema.parse(
          event.RequestType === 'Update' ? event.OldResourceProperties : event.ResourceProperties,
        ).Models;
  const now = new Date().toISOString();
  const created: string[] = [];
  for (const model of current) {
    // A version that exists stays as it is: it may have been disabled, described or re-pointed
    // through the API since, and a deploy must not revert that. Versions are immutable, so changed
    // weights ship under a new version number.
    try {
      await registry.putVersion({ ...model, createdAt: now, updatedAt: now });
      created.push(key(model));
    } catch (error) {
      if (!(error instanceof ConflictError)) throw error;
      logger.info('shipped version already registered; left as it is', { model: key(model) });
    }
  }
  const kept = new Set(current.map(key));
  for (const model of previous.filter((m) => !kept.has(key(m)))) await removeSeeded(model);
  return { PhysicalResourceId, Data: { Registered: created.join(',') } };
}

const key = (m: SeededModel) => `${m.name}:${m.version}`;

/** Best effort: a version that an alias still routes to stays, and one already gone is fine. */
async function removeSeeded(model: SeededModel): Promise<void> {
  const aliases = (await registry.getModel(model.name))?.aliases ?? [];
  if (aliases.some((a) => a.routes.some((r) => r.version === model.version))) {
    logger.warn('seeded version left in the registry: an alias routes to it', { model: key(model) });
    return;
  }
  try {
    await registry.deleteVersion(model.name, model.version);
  } catch (error) {
    if (!(error instanceof NotFoundError)) throw error;
  }
}

export const handler = instrument(
  async (event: CloudFormationCustomResourceEvent): Promise<ProviderResult> => {
    switch (event.ResourceType) {
      case 'Custom::ModelArchives':
        return copyArchives(event);
      case 'Custom::RegistrySeed':
        return seedRegistry(event);
      default:
        throw new Error(`unknown resource type ${event.ResourceType}`);
    }
  },
  // Deploy-time work stores no metrics; flushing would only log "no metrics" on every deploy.
  { requestMetrics: false },
);

import {
  DescribeSecretCommand,
  GetRandomPasswordCommand,
  GetSecretValueCommand,
  PutSecretValueCommand,
  ResourceNotFoundException,
  SecretsManagerClient,
  UpdateSecretVersionStageCommand,
} from '@aws-sdk/client-secrets-manager';
import type { SecretsManagerRotationEvent } from 'aws-lambda';
import { SIGNING_KEY_FORMAT, SIGNING_KEY_PATTERN } from '../../../contracts/signing-key';
import * as z from '../../../contracts/zod';
import { instrument } from '../../observability/instrument';
import { logger } from '../../observability/logger';
import { tracer } from '../../observability/tracer';

/**
 * Rotates the HS256 signing key under Secrets Manager's rotation contract: Secrets Manager stages a
 * new version id (the ClientRequestToken) as AWSPENDING, then invokes this function once per step,
 * createSecret, setSecret, testSecret and finishSecret, retrying a step that fails. So every step is
 * idempotent, and none acts on a version that is not the pending one. Key values are never logged.
 */
const secretsManager = tracer.captureAWSv3Client(new SecretsManagerClient({}));

const CURRENT = 'AWSCURRENT';
const PENDING = 'AWSPENDING';

const RotationEventSchema = z.object({
  SecretId: z.string().check(z.minLength(1)),
  ClientRequestToken: z.string().check(z.minLength(1)),
  Step: z.enum(['createSecret', 'setSecret', 'testSecret', 'finishSecret']),
});

export class RotationError extends Error {}

/**
 * The pending version's value, or undefined while it has none: Secrets Manager stages the version id
 * before createSecret, and GetSecretValue answers ResourceNotFoundException until a value is put.
 */
async function pendingKey(secretId: string, versionId: string): Promise<string | undefined> {
  try {
    const { SecretString } = await secretsManager.send(
      new GetSecretValueCommand({ SecretId: secretId, VersionId: versionId, VersionStage: PENDING }),
    );
    return SecretString ?? '';
  } catch (error) {
    if (error instanceof ResourceNotFoundException) return undefined;
    throw error;
  }
}

/** A short or malformed value put by hand as AWSPENDING must never become the key tokens are signed with. */
function assertWellFormed(key: string | undefined, versionId: string): void {
  if (key === undefined || !SIGNING_KEY_PATTERN.test(key)) {
    throw new RotationError(
      `the pending version ${versionId} is not a key of ${SIGNING_KEY_FORMAT.length} ASCII letters and digits`,
    );
  }
}

/** Puts a new random key as the pending version, unless an earlier try of this step already did. */
async function createKey(secretId: string, versionId: string): Promise<void> {
  if ((await pendingKey(secretId, versionId)) !== undefined) {
    logger.info('pending key already created');
    return;
  }
  // The generator and options CloudFormation used for the first key, so every key has one form.
  const { RandomPassword } = await secretsManager.send(
    new GetRandomPasswordCommand({
      PasswordLength: SIGNING_KEY_FORMAT.length,
      ExcludePunctuation: SIGNING_KEY_FORMAT.excludePunctuation,
      IncludeSpace: SIGNING_KEY_FORMAT.includeSpace,
    }),
  );
  // The version id as ClientRequestToken: the put lands on the staged version, and only once.
  await secretsManager.send(
    new PutSecretValueCommand({
      SecretId: secretId,
      ClientRequestToken: versionId,
      SecretString: RandomPassword,
      VersionStages: [PENDING],
    }),
  );
  logger.info('pending key created');
}

/**
 * The key configures nothing outside the secret (the authorizer reads it from the secret, by
 * staging label), so testing it means checking its form. A pending version with no value is
 * Secrets Manager testing the rotation configuration alone (a schedule that does not rotate at
 * once runs only testSecret, on a version it then removes): there is nothing to check yet.
 */
async function testKey(secretId: string, versionId: string): Promise<void> {
  const key = await pendingKey(secretId, versionId);
  if (key === undefined) {
    logger.info('no pending key: rotation configuration test');
    return;
  }
  assertWellFormed(key, versionId);
}

/**
 * Moves AWSCURRENT to the pending version, once its key is checked; Secrets Manager moves
 * AWSPREVIOUS to the version that loses AWSCURRENT, so tokens signed before the rotation keep
 * verifying until the next one.
 */
async function finishRotation(
  secretId: string,
  versionId: string,
  versions: Record<string, string[]>,
): Promise<void> {
  assertWellFormed(await pendingKey(secretId, versionId), versionId);
  const current = Object.entries(versions).find(([, stages]) => stages.includes(CURRENT))?.[0];
  await secretsManager.send(
    new UpdateSecretVersionStageCommand({
      SecretId: secretId,
      VersionStage: CURRENT,
      MoveToVersionId: versionId,
      RemoveFromVersionId: current,
    }),
  );
  await secretsManager.send(
    new UpdateSecretVersionStageCommand({
      SecretId: secretId,
      VersionStage: PENDING,
      RemoveFromVersionId: versionId,
    }),
  );
  logger.info('key rotated', { previousVersionId: current });
}

export const handler = instrument(
  async (event: SecretsManagerRotationEvent): Promise<void> => {
    const { SecretId, ClientRequestToken: versionId, Step } = RotationEventSchema.parse(event);
    logger.appendKeys({ step: Step, versionId });
    const metadata = await secretsManager.send(new DescribeSecretCommand({ SecretId }));
    if (!metadata.RotationEnabled) throw new RotationError(`rotation is not enabled for ${SecretId}`);
    const versions = metadata.VersionIdsToStages ?? {};
    const stages = versions[versionId];
    if (!stages) throw new RotationError(`version ${versionId} has no staging label`);
    // Every step of a finished rotation is done: a retry after finishSecret changes nothing.
    if (stages.includes(CURRENT)) {
      logger.info('version already AWSCURRENT');
      return;
    }
    if (!stages.includes(PENDING)) throw new RotationError(`version ${versionId} is not staged ${PENDING}`);
    switch (Step) {
      case 'createSecret':
        return createKey(SecretId, versionId);
      case 'setSecret':
        // Nothing outside the secret holds the key: no service or database to give the new one to.
        return;
      case 'testSecret':
        return testKey(SecretId, versionId);
      case 'finishSecret':
        return finishRotation(SecretId, versionId, versions);
    }
  },
  { requestMetrics: false },
);

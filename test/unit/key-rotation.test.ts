import {
  DescribeSecretCommand,
  GetRandomPasswordCommand,
  GetSecretValueCommand,
  PutSecretValueCommand,
  ResourceExistsException,
  ResourceNotFoundException,
  SecretsManagerClient,
  UpdateSecretVersionStageCommand,
} from '@aws-sdk/client-secrets-manager';
import type { SecretsManagerRotationEvent } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { SIGNING_KEY_PATTERN } from '../../contracts/signing-key';
import { lambdaContext } from '../helpers/events';

const secretsManager = mockClient(SecretsManagerClient);
const SECRET_ARN = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:JwtSigningSecret-AbCdEf';
const OLD_KEY = 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA0123456789abcdefghijklmnopqrstuv';
const NEW_KEY = 'ZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZabcdefghijklmnopqrstuv0123456789';

interface Version {
  value?: string;
  stages: string[];
}

/**
 * One secret's versions, changed as the Secrets Manager API reference says each call does:
 * GetSecretValue of a version with no value is ResourceNotFoundException; PutSecretValue with a
 * ClientRequestToken that already holds the same value is ignored, a different one is
 * ResourceExistsException; a staging label lives on one version at a time, and moving AWSCURRENT
 * moves AWSPREVIOUS to the version it left.
 */
class SecretVersions {
  readonly versions = new Map<string, Version>([['v1', { value: OLD_KEY, stages: ['AWSCURRENT'] }]]);
  rotationEnabled = true;

  /** What RotateSecret does before it invokes createSecret: a version id, staged, with no value. */
  stagePending(versionId: string): void {
    this.detach('AWSPENDING');
    this.versions.set(versionId, { stages: ['AWSPENDING'] });
  }

  stagesOf(versionId: string): string[] | undefined {
    return this.versions.get(versionId)?.stages;
  }

  install(): void {
    secretsManager.on(DescribeSecretCommand).callsFake(() => ({
      ARN: SECRET_ARN,
      RotationEnabled: this.rotationEnabled,
      VersionIdsToStages: Object.fromEntries(
        [...this.versions].filter(([, v]) => v.stages.length > 0).map(([id, v]) => [id, [...v.stages]]),
      ),
    }));
    secretsManager.on(GetSecretValueCommand).callsFake((input) => {
      const version = this.versions.get(input.VersionId);
      if (!version?.stages.includes(input.VersionStage) || version.value === undefined) {
        throw new ResourceNotFoundException({ message: 'no such secret value', $metadata: {} });
      }
      return { ARN: SECRET_ARN, VersionId: input.VersionId, SecretString: version.value };
    });
    secretsManager.on(GetRandomPasswordCommand).resolves({ RandomPassword: NEW_KEY });
    secretsManager.on(PutSecretValueCommand).callsFake((input) => {
      const existing = this.versions.get(input.ClientRequestToken);
      if (existing?.value !== undefined) {
        if (existing.value !== input.SecretString) {
          throw new ResourceExistsException({ message: 'version exists', $metadata: {} });
        }
        return { VersionId: input.ClientRequestToken };
      }
      for (const stage of input.VersionStages) this.detach(stage);
      this.versions.set(input.ClientRequestToken, { value: input.SecretString, stages: input.VersionStages });
      return { VersionId: input.ClientRequestToken };
    });
    secretsManager.on(UpdateSecretVersionStageCommand).callsFake((input) => {
      const { VersionStage: stage, MoveToVersionId: to, RemoveFromVersionId: from } = input;
      if (from) this.versions.get(from)!.stages = this.versions.get(from)!.stages.filter((s) => s !== stage);
      if (to) {
        if (stage === 'AWSCURRENT' && from) {
          this.detach('AWSPREVIOUS');
          this.versions.get(from)!.stages.push('AWSPREVIOUS');
        }
        this.detach(stage);
        this.versions.get(to)!.stages.push(stage);
      }
      return {};
    });
  }

  private detach(stage: string): void {
    for (const version of this.versions.values()) version.stages = version.stages.filter((s) => s !== stage);
  }
}

const rotationEvent = (
  Step: SecretsManagerRotationEvent['Step'],
  ClientRequestToken = 'v2',
): SecretsManagerRotationEvent => ({ Step, SecretId: SECRET_ARN, ClientRequestToken });

const callsOf = (command: Parameters<typeof secretsManager.commandCalls>[0]) =>
  secretsManager.commandCalls(command).map((c) => c.args[0].input);

let handler: (event: SecretsManagerRotationEvent, context: ReturnType<typeof lambdaContext>) => Promise<void>;
const run = (step: SecretsManagerRotationEvent['Step'], versionId?: string) =>
  handler(rotationEvent(step, versionId), lambdaContext('key-rotation'));

describe('key rotation handler', () => {
  let secret: SecretVersions;

  beforeAll(async () => {
    ({ handler } = await import('../../functions/handlers/key-rotation/handler'));
  });

  beforeEach(() => {
    // Prepare: a secret with one key, and a rotation Secrets Manager has just started
    secretsManager.reset();
    secret = new SecretVersions();
    secret.install();
    secret.stagePending('v2');
  });

  it('replaces the key: a new random key becomes AWSCURRENT and the old one AWSPREVIOUS', async () => {
    // Act
    for (const step of ['createSecret', 'setSecret', 'testSecret', 'finishSecret'] as const) await run(step);

    // Assert
    expect(callsOf(GetRandomPasswordCommand)).toEqual([
      { PasswordLength: 64, ExcludePunctuation: true, IncludeSpace: false },
    ]);
    expect(callsOf(PutSecretValueCommand)).toEqual([
      {
        SecretId: SECRET_ARN,
        ClientRequestToken: 'v2',
        SecretString: NEW_KEY,
        VersionStages: ['AWSPENDING'],
      },
    ]);
    expect(secret.versions.get('v2')).toEqual({ value: NEW_KEY, stages: ['AWSCURRENT'] });
    expect(secret.versions.get('v1')).toEqual({ value: OLD_KEY, stages: ['AWSPREVIOUS'] });
    expect(SIGNING_KEY_PATTERN.test(NEW_KEY)).toBe(true);
  });

  it('creates the pending key once however often createSecret is retried', async () => {
    await run('createSecret');
    await run('createSecret');

    expect(callsOf(PutSecretValueCommand)).toHaveLength(1);
    expect(callsOf(GetRandomPasswordCommand)).toHaveLength(1);
    expect(secret.versions.get('v2')).toEqual({ value: NEW_KEY, stages: ['AWSPENDING'] });
  });

  it('lets setSecret and testSecret be retried without changing anything', async () => {
    await run('createSecret');
    secretsManager.resetHistory();

    await run('setSecret');
    await run('setSecret');
    await run('testSecret');
    await run('testSecret');

    expect(callsOf(PutSecretValueCommand)).toEqual([]);
    expect(callsOf(UpdateSecretVersionStageCommand)).toEqual([]);
    expect(secret.stagesOf('v2')).toEqual(['AWSPENDING']);
  });

  it('moves AWSCURRENT once: a retried finishSecret, or any step after it, changes nothing', async () => {
    await run('createSecret');
    await run('finishSecret');
    const moves = callsOf(UpdateSecretVersionStageCommand);

    for (const step of ['finishSecret', 'createSecret', 'testSecret'] as const) await run(step);

    expect(moves).toEqual([
      { SecretId: SECRET_ARN, VersionStage: 'AWSCURRENT', MoveToVersionId: 'v2', RemoveFromVersionId: 'v1' },
      { SecretId: SECRET_ARN, VersionStage: 'AWSPENDING', RemoveFromVersionId: 'v2' },
    ]);
    expect(callsOf(UpdateSecretVersionStageCommand)).toEqual(moves);
    expect(callsOf(PutSecretValueCommand)).toHaveLength(1);
    expect(secret.stagesOf('v2')).toEqual(['AWSCURRENT']);
    expect(secret.stagesOf('v1')).toEqual(['AWSPREVIOUS']);
  });

  it('retires the key two rotations old', async () => {
    for (const step of ['createSecret', 'finishSecret'] as const) await run(step);
    secretsManager.on(GetRandomPasswordCommand).resolves({ RandomPassword: NEW_KEY.toLowerCase() });
    secret.stagePending('v3');

    for (const step of ['createSecret', 'testSecret', 'finishSecret'] as const) await run(step, 'v3');

    expect(secret.stagesOf('v3')).toEqual(['AWSCURRENT']);
    expect(secret.stagesOf('v2')).toEqual(['AWSPREVIOUS']);
    expect(secret.stagesOf('v1')).toEqual([]);
  });

  it.each([
    ['a version that is not staged AWSPENDING', 'v1-previous', /not staged AWSPENDING/],
    ['a version the secret does not have', 'unknown', /has no staging label/],
  ])('refuses every step for %s, and writes nothing', async (_, versionId, message) => {
    secret.versions.set('v1-previous', { value: OLD_KEY, stages: ['AWSPREVIOUS'] });

    for (const step of ['createSecret', 'setSecret', 'testSecret', 'finishSecret'] as const) {
      await expect(run(step, versionId)).rejects.toThrow(message);
    }
    expect(callsOf(PutSecretValueCommand)).toEqual([]);
    expect(callsOf(UpdateSecretVersionStageCommand)).toEqual([]);
  });

  it('refuses to act on a secret whose rotation is not enabled', async () => {
    secret.rotationEnabled = false;

    await expect(run('createSecret')).rejects.toThrow(/rotation is not enabled/);
    expect(callsOf(PutSecretValueCommand)).toEqual([]);
  });

  it('never makes a malformed pending value the key: testSecret and finishSecret refuse it', async () => {
    // A value put by hand as AWSPENDING under the rotation's version id
    secret.versions.set('v2', { value: 'short-key', stages: ['AWSPENDING'] });

    await expect(run('testSecret')).rejects.toThrow(/not a key of 64 ASCII letters and digits/);
    await expect(run('finishSecret')).rejects.toThrow(/not a key of 64/);
    expect(callsOf(UpdateSecretVersionStageCommand)).toEqual([]);
    expect(secret.stagesOf('v1')).toEqual(['AWSCURRENT']);
  });

  it("passes Secrets Manager's configuration test (testSecret on a version with no value) but never finishes one", async () => {
    await run('testSecret');

    await expect(run('finishSecret')).rejects.toThrow(/not a key of 64/);
    expect(callsOf(UpdateSecretVersionStageCommand)).toEqual([]);
  });

  it('refuses an event that is not a rotation step before calling Secrets Manager', async () => {
    await expect(
      handler({ ...rotationEvent('createSecret'), Step: 'rotate' as never }, lambdaContext('key-rotation')),
    ).rejects.toThrow(/Step/);
    await expect(
      handler({ ...rotationEvent('createSecret'), ClientRequestToken: '' }, lambdaContext('key-rotation')),
    ).rejects.toThrow(/ClientRequestToken/);
    expect(secretsManager.calls()).toEqual([]);
  });
});

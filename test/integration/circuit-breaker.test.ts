import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { CircuitSettings } from '../../contracts/settings';
import { BackendFailedError, BackendUnavailableError } from '../../functions/edge/errors';
import { CircuitBreaker } from '../../functions/inference/circuit-breaker';
import { decodeInferenceRequest } from '../../functions/inference/codec';
import { infer } from '../../functions/inference/service';
import { createCounterTable, type LocalDynamoDb, startDynamoDb } from '../../local/aws/dynamodb';
import { FAULTS_PATH, type ModelServer, startModelServer } from '../../local/model-server/server';
import { loadModelRepository } from '../../triton-image/model-repository';
import { localDynamoDb, localSageMaker } from '../helpers/local-clients';
import { SIMPLE_VERSION } from '../helpers/simple-model';

const settings: CircuitSettings = {
  failureThreshold: 3,
  windowSeconds: 60,
  cooldownSeconds: 10,
  probeTimeoutSeconds: 30,
  cacheTtlMs: 0,
};
const simple = SIMPLE_VERSION;
const ones = Array.from({ length: 16 }, () => 1);
const payload = decodeInferenceRequest({
  body: new TextEncoder().encode(
    JSON.stringify({
      inputs: [
        { name: 'INPUT0', shape: [1, 16], datatype: 'INT32', data: ones },
        { name: 'INPUT1', shape: [1, 16], datatype: 'INT32', data: ones },
      ],
    }),
  ),
  headers: {},
});

describe('circuit breaker shared by two containers, on dynalite, against the local model server', () => {
  let dynamo: LocalDynamoDb;
  let server: ModelServer;
  let clock = 1_000_000;

  /** A Lambda container: its own DynamoDB and SageMaker clients, its own circuit cache and id. */
  function container(id: string) {
    const sagemaker = localSageMaker(server.url);
    const calls = vi.spyOn(sagemaker, 'send');
    const circuits = new CircuitBreaker(localDynamoDb(dynamo.url), 'circuits', settings, id, () => clock);
    return {
      calls,
      infer: () => infer({ sagemaker, circuits, timeoutMs: 5_000, now: () => Date.now() }, simple, payload),
    };
  }
  const faults = (body: object | null) =>
    fetch(`${server.url}${FAULTS_PATH}`, {
      method: body ? 'POST' : 'DELETE',
      headers: { 'content-type': 'application/json' },
      body: body ? JSON.stringify(body) : undefined,
    });

  beforeAll(async () => {
    dynamo = await startDynamoDb();
    await createCounterTable(localDynamoDb(dynamo.url), 'circuits');
    server = await startModelServer({
      models: await loadModelRepository('triton-image/model_repository'),
      endpoints: { triton: {} },
      faultInjection: true,
    });
  });

  afterAll(async () => {
    await server?.close();
    await dynamo?.close();
  });

  it('opens after the threshold, fails fast everywhere, lets exactly one probe through and closes', async () => {
    const a = container('container-a');
    const b = container('container-b');

    // The endpoint fails: container A's failures open the circuit at the threshold.
    expect((await faults({ failNext: 1000, failStatus: 0 })).status).toBe(200);
    for (let i = 0; i < settings.failureThreshold; i++) {
      await expect(a.infer()).rejects.toBeInstanceOf(BackendFailedError);
    }
    expect(a.calls).toHaveBeenCalledTimes(3);

    // Open: container B fails fast with 503 and never calls the endpoint.
    const fastFail = await b.infer().catch((e: unknown) => e);
    expect(fastFail).toBeInstanceOf(BackendUnavailableError);
    expect((fastFail as BackendUnavailableError).retryAfterSeconds).toBe(settings.cooldownSeconds);
    expect(b.calls).not.toHaveBeenCalled();

    // The endpoint recovers and the cool-down passes: of two concurrent requests exactly one probes.
    await faults(null);
    clock += settings.cooldownSeconds * 1000;
    const outcomes = await Promise.allSettled([a.infer(), b.infer()]);
    expect(outcomes.filter((o) => o.status === 'fulfilled')).toHaveLength(1);
    const rejected = outcomes.find((o) => o.status === 'rejected') as PromiseRejectedResult;
    expect(rejected.reason).toBeInstanceOf(BackendUnavailableError);
    expect(a.calls.mock.calls.length + b.calls.mock.calls.length).toBe(3 + 1);

    // The probe succeeded: the circuit is closed for both containers.
    await expect(a.infer()).resolves.toBeDefined();
    await expect(b.infer()).resolves.toBeDefined();
  });

  it('opens again when the probe fails', async () => {
    const a = container('container-c');
    // Reach the threshold again in a fresh window.
    clock += settings.windowSeconds * 1000;
    await faults({ failNext: 1000, failStatus: 507 });
    for (let i = 0; i < settings.failureThreshold; i++) await a.infer().catch(() => undefined);
    clock += settings.cooldownSeconds * 1000;
    // The probe fails: open for another cool-down, without another call.
    await expect(a.infer()).rejects.toBeInstanceOf(BackendFailedError);
    const before = a.calls.mock.calls.length;
    await expect(a.infer()).rejects.toBeInstanceOf(BackendUnavailableError);
    expect(a.calls.mock.calls.length).toBe(before);
    await faults(null);
  });

  it('reads the state once for requests that start together on a cold cache', async () => {
    const client = localDynamoDb(dynamo.url);
    const reads = vi.spyOn(client, 'send');
    const circuits = new CircuitBreaker(
      client,
      'circuits',
      { ...settings, cacheTtlMs: 1000 },
      'batch',
      () => clock,
    );
    const backend = { endpointName: 'shared-read', targetModel: 'simple.tar.gz', weight: 100 };
    const admissions = await Promise.all(Array.from({ length: 32 }, () => circuits.admit(backend)));
    expect(admissions.every((a) => a.kind === 'closed')).toBe(true);
    expect(reads).toHaveBeenCalledTimes(1);
    // The cache answers until its TTL passes; then one read again.
    await circuits.admit(backend);
    clock += 1000;
    await Promise.all([circuits.admit(backend), circuits.admit(backend)]);
    expect(reads).toHaveBeenCalledTimes(2);
  });
});

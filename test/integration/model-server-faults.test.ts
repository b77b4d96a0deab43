import {
  InvokeEndpointCommand,
  ModelError,
  type SageMakerRuntimeClient,
  type SageMakerRuntimeClientConfig,
  SageMakerRuntimeServiceException,
  ServiceUnavailable,
} from '@aws-sdk/client-sagemaker-runtime';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { InferenceResponse } from '../../functions/inference/protocol';
import { FAULTS_PATH, type ModelServer, startModelServer } from '../../local/model-server/server';
import { loadModelRepository, type ModelDefinition } from '../../triton-image/model-repository';
import { localSageMaker } from '../helpers/local-clients';

const ENDPOINT = 'faulty-endpoint';
const OTHER_ENDPOINT = 'healthy-endpoint';

const INPUT = Array.from({ length: 16 }, (_, i) => i);
const REQUEST = JSON.stringify({
  inputs: [
    { name: 'INPUT0', shape: [1, 16], datatype: 'INT32', data: INPUT },
    { name: 'INPUT1', shape: [1, 16], datatype: 'INT32', data: INPUT },
  ],
});
const SUM = INPUT.map((v) => 2 * v);

async function errorOf(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected the call to fail, but it succeeded');
}

describe('model server fault injection', () => {
  let models: ModelDefinition[];
  let server: ModelServer;
  const clients: SageMakerRuntimeClient[] = [];

  const client = (config: SageMakerRuntimeClientConfig = {}) => {
    const created = localSageMaker(server.url, config);
    clients.push(created);
    return created;
  };

  const invoke = async (sagemaker: SageMakerRuntimeClient, endpoint = ENDPOINT, targetModel?: string) => {
    const response = await sagemaker.send(
      new InvokeEndpointCommand({
        EndpointName: endpoint,
        ContentType: 'application/json',
        Body: REQUEST,
        ...(targetModel === undefined ? {} : { TargetModel: targetModel }),
      }),
    );
    return { response, body: JSON.parse(new TextDecoder().decode(response.Body)) as InferenceResponse };
  };

  const faults = (method: 'GET' | 'POST' | 'DELETE', body?: unknown, query = '') =>
    fetch(`${server.url}${FAULTS_PATH}${query}`, {
      method,
      ...(body === undefined
        ? {}
        : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
    });

  const inject = async (body: unknown) => {
    const response = await faults('POST', body);
    expect(response.status).toBe(200);
  };

  beforeAll(async () => {
    models = await loadModelRepository('triton-image/model_repository');
    server = await startModelServer({
      models,
      endpoints: { [ENDPOINT]: { defaultModel: 'simple' }, [OTHER_ENDPOINT]: { defaultModel: 'simple' } },
      faultInjection: true,
    });
  });

  afterEach(async () => {
    await faults('DELETE');
  });

  afterAll(async () => {
    for (const created of clients) created.destroy();
    await server?.close();
  });

  it('fails the next 2 invocations with ModelError carrying the container’s 500, then answers', async () => {
    const sagemaker = client();
    await inject({ failNext: 2, failStatus: 500 });

    const first = await errorOf(invoke(sagemaker));
    const second = await errorOf(invoke(sagemaker));
    const third = await invoke(sagemaker);

    for (const error of [first, second]) {
      expect(error).toBeInstanceOf(ModelError);
      expect((error as ModelError).$metadata.httpStatusCode).toBe(424);
      expect((error as ModelError).OriginalStatusCode).toBe(500);
      expect(JSON.parse((error as ModelError).OriginalMessage!)).toEqual({ error: expect.any(String) });
      expect(error.message).toMatch(/^Received server error \(500\) from primary/);
    }
    expect(third.body.outputs[0]!.data).toEqual(SUM);
  });

  it('reports a container that gave no answer as SageMaker does: status 0, by default', async () => {
    await inject({ failNext: 1 });

    const error = await errorOf(invoke(client()));

    expect(error).toBeInstanceOf(ModelError);
    expect((error as ModelError).OriginalStatusCode).toBe(0);
    expect(error.message).toMatch(
      /^Received server error \(0\) from primary with message "Your invocation timed out while waiting for a response from container primary\./,
    );
  });

  // Triton's multi-model handler answers every error 400, or 507 when it reads as out of memory
  // (src/sagemaker_server.cc, SageMakerMMEHandleOOMError and InferResponseComplete).
  it('answers a TargetModel request as Triton does on a multi-model endpoint: 400 for any error', async () => {
    await inject({ failNext: 1, failStatus: 500 });

    const error = await errorOf(invoke(client(), ENDPOINT, 'simple.tar.gz'));
    const refused = await errorOf(
      client().send(
        new InvokeEndpointCommand({
          EndpointName: ENDPOINT,
          TargetModel: 'simple.tar.gz',
          ContentType: 'application/json',
          Body: JSON.stringify({
            inputs: [{ name: 'INPUT0', shape: [1, 16], datatype: 'INT32', data: INPUT }],
          }),
        }),
      ),
    );

    expect((error as ModelError).OriginalStatusCode).toBe(400);
    expect((refused as ModelError).OriginalStatusCode).toBe(400);
    expect(JSON.parse((refused as ModelError).OriginalMessage!).error).toContain('expected 2 inputs');
  });

  it('answers 507 for an error that reads as running out of memory on a multi-model endpoint', async () => {
    await inject({ failNext: 1, failStatus: 507 });

    const error = await errorOf(invoke(client(), ENDPOINT, 'simple.tar.gz'));

    expect((error as ModelError).OriginalStatusCode).toBe(507);
    expect(JSON.parse((error as ModelError).OriginalMessage!).error).toContain('out of memory');
  });

  it('uses failStatus as the container’s status', async () => {
    await inject({ failNext: 1, failStatus: 429 });

    const error = await errorOf(invoke(client()));

    expect(error).toBeInstanceOf(ModelError);
    expect((error as ModelError).OriginalStatusCode).toBe(429);
    expect(error.message).toMatch(/^Received client error \(429\)/);
  });

  it('throttles with ThrottlingException (400), which the SDK treats as retryable', async () => {
    await inject({ throttleNext: 1 });
    const error = await errorOf(invoke(client()));

    await inject({ throttleNext: 1 });
    const retried = await invoke(client({ maxAttempts: 2 }));

    expect(error).toBeInstanceOf(SageMakerRuntimeServiceException);
    expect(error.name).toBe('ThrottlingException');
    expect((error as SageMakerRuntimeServiceException).$metadata.httpStatusCode).toBe(400);
    expect(retried.response.$metadata.attempts).toBe(2);
    expect(retried.body.outputs[0]!.data).toEqual(SUM);
  });

  it('refuses with ServiceUnavailable (503)', async () => {
    await inject({ unavailableNext: 1 });

    const error = await errorOf(invoke(client()));

    expect(error).toBeInstanceOf(ServiceUnavailable);
    expect((error as ServiceUnavailable).$metadata.httpStatusCode).toBe(503);
  });

  it('adds latency: a client with a 200 ms request timeout gives up on a 2 s latency', async () => {
    const impatient = client({ requestHandler: { requestTimeout: 200, throwOnRequestTimeout: true } });
    await inject({ latencyMs: 2000 });

    const error = await errorOf(invoke(impatient));
    await faults('DELETE');
    const afterwards = await invoke(impatient);

    expect(error.name).toBe('TimeoutError');
    expect(afterwards.body.outputs[0]!.data).toEqual(SUM);
  });

  it('resets connections while down, and answers again once up', async () => {
    const sagemaker = client();
    await inject({ down: true });

    const error = await errorOf(invoke(sagemaker));
    await inject({ down: false });
    const afterwards = await invoke(sagemaker);

    expect(error).not.toBeInstanceOf(SageMakerRuntimeServiceException);
    expect((error as NodeJS.ErrnoException).code).toMatch(/^(ECONNRESET|EPIPE)$/);
    expect(afterwards.body.outputs[0]!.data).toEqual(SUM);
  });

  it('applies an endpoint’s own faults to that endpoint only', async () => {
    const sagemaker = client();
    await inject({ endpoint: ENDPOINT, failNext: 1 });

    const healthy = await invoke(sagemaker, OTHER_ENDPOINT);
    const faulty = await errorOf(invoke(sagemaker, ENDPOINT));

    expect(healthy.body.outputs[0]!.data).toEqual(SUM);
    expect(faulty).toBeInstanceOf(ModelError);
  });

  it('lists the faults left and clears them', async () => {
    await inject({ failNext: 3, latencyMs: 5 });
    await inject({ endpoint: OTHER_ENDPOINT, throttleNext: 1 });
    await errorOf(invoke(client()));

    const listed = (await (await faults('GET')).json()) as { faults: unknown[] };
    const cleared = await faults('DELETE', undefined, `?endpoint=${OTHER_ENDPOINT}`);
    const afterClearing = (await cleared.json()) as { faults: { endpoint?: string }[] };

    expect(listed.faults).toEqual([
      { failNext: 2, failStatus: 0, throttleNext: 0, unavailableNext: 0, latencyMs: 5, down: false },
      {
        endpoint: OTHER_ENDPOINT,
        failNext: 0,
        failStatus: 0,
        throttleNext: 1,
        unavailableNext: 0,
        latencyMs: 0,
        down: false,
      },
    ]);
    expect(afterClearing.faults.map((f) => f.endpoint)).toEqual([undefined]);
  });

  it.each([
    [{ failNext: -1 }, 'failNext'],
    [{ failStatus: 200 }, 'failStatus'],
    [{ explode: true }, 'body'],
  ])('refuses %j with 400', async (body, field) => {
    const response = await faults('POST', body);

    expect(response.status).toBe(400);
    expect(((await response.json()) as { error: string }).error).toContain(`invalid fault '${field}'`);
  });

  it('leaves Triton’s own API alone', async () => {
    await inject({ failNext: 5, down: true });

    const response = await fetch(`${server.url}/v2/models/simple/infer`, { method: 'POST', body: REQUEST });

    expect(response.status).toBe(200);
    expect(((await response.json()) as InferenceResponse).outputs[0]!.data).toEqual(SUM);
  });

  it('has no control route unless fault injection is on', async () => {
    const plain = await startModelServer({ models, endpoints: {} });
    try {
      const response = await fetch(`${plain.url}${FAULTS_PATH}`, { method: 'POST', body: '{"down":true}' });

      expect(response.status).toBe(404);
    } finally {
      await plain.close();
    }
  });
});

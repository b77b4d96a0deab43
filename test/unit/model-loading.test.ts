import {
  InvokeEndpointCommand,
  ModelNotReadyException,
  SageMakerRuntimeClient,
} from '@aws-sdk/client-sagemaker-runtime';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import type { ModelVersion } from '../../contracts/registry-schemas';
import { ModelLoadingError } from '../../functions/inference/sagemaker-backend';
import { type InferenceDependencies, infer } from '../../functions/inference/service';
import { SIMPLE_SIGNATURE } from '../helpers/simple-model';

const sagemaker = mockClient(SageMakerRuntimeClient);
const ones = Array.from({ length: 16 }, () => 1);
const payload = {
  request: {
    inputs: [
      { name: 'INPUT0', shape: [1, 16], datatype: 'INT32' as const, data: ones },
      { name: 'INPUT1', shape: [1, 16], datatype: 'INT32' as const, data: ones },
    ],
  },
  body: new TextEncoder().encode('{}'),
  contentType: 'application/json',
};
const version: ModelVersion = {
  name: 'simple',
  version: '2',
  platform: 'onnxruntime_onnx',
  ...SIMPLE_SIGNATURE,
  backends: [
    { endpointName: 'a', targetModel: 'simple-00000000000000aa.tar.gz', weight: 100 },
    { endpointName: 'b', targetModel: 'simple-00000000000000aa.tar.gz', weight: 1 },
  ],
  status: 'ACTIVE',
  createdAt: 'now',
  updatedAt: 'now',
};
const ok = { Body: new TextEncoder().encode('{"outputs":[]}') as never, ContentType: 'application/json' };
const loading = () =>
  new ModelNotReadyException({ message: 'Model is still loading', $metadata: { httpStatusCode: 429 } });

const circuits = () => ({
  admit: vi.fn(async () => ({ kind: 'closed' as const })),
  recordSuccess: vi.fn(async () => false),
  recordFailure: vi.fn(async () => false),
});

const deps = (c: ReturnType<typeof circuits>, timeoutMs: number): InferenceDependencies => ({
  sagemaker: new SageMakerRuntimeClient({ region: 'us-east-1' }),
  circuits: c,
  timeoutMs,
  random: () => 0,
});

const calledEndpoints = () =>
  sagemaker.commandCalls(InvokeEndpointCommand).map((call) => call.args[0].input.EndpointName);

describe('a multi-model endpoint that is still loading the model', () => {
  beforeEach(() => sagemaker.reset());

  it('retries ModelNotReadyException with backoff and answers once the model is loaded', async () => {
    // Prepare
    sagemaker.on(InvokeEndpointCommand).rejectsOnce(loading()).rejectsOnce(loading()).resolves(ok);
    const c = circuits();
    const started = Date.now();
    // Act
    const answer = await infer(deps(c, 10_000), version, payload);
    // Assess: three calls to the same backend, 250 ms then 500 ms apart, and no failure counted
    expect(new TextDecoder().decode(answer.body)).toBe('{"outputs":[]}');
    expect(calledEndpoints()).toEqual(['a', 'a', 'a']);
    expect(Date.now() - started).toBeGreaterThanOrEqual(700);
    expect(c.recordFailure).not.toHaveBeenCalled();
  });

  it('answers 503 MODEL_LOADING when the budget runs out, without failover or a counted failure', async () => {
    // Prepare
    sagemaker.on(InvokeEndpointCommand).rejects(loading());
    const c = circuits();
    // Act
    const error = await infer(deps(c, 1_000), version, payload).catch((e: unknown) => e);
    // Assess
    expect(error).toBeInstanceOf(ModelLoadingError);
    expect(error).toMatchObject({ statusCode: 503, code: 'MODEL_LOADING', retryAfterSeconds: 5 });
    expect(new Set(calledEndpoints())).toEqual(new Set(['a']));
    expect(calledEndpoints().length).toBeGreaterThanOrEqual(2);
    expect(c.recordFailure).not.toHaveBeenCalled();
  });
});

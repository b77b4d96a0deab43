import {
  InvokeEndpointCommand,
  ModelError,
  SageMakerRuntimeClient,
  SageMakerRuntimeServiceException,
  ServiceUnavailable,
} from '@aws-sdk/client-sagemaker-runtime';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import type { ModelVersion } from '../../contracts/registry-schemas';
import { BackendError, BackendTimeoutError, BackendUnavailableError } from '../../functions/edge/errors';
import type { Admission } from '../../functions/inference/circuit-breaker';
import { EndpointAccessDeniedError } from '../../functions/inference/sagemaker-backend';
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
const version = (endpoints: string[]): ModelVersion => ({
  name: 'simple',
  version: '1',
  platform: 'onnxruntime_onnx',
  ...SIMPLE_SIGNATURE,
  backends: endpoints.map((endpointName, i) => ({ endpointName, weight: 100 - i })),
  status: 'ACTIVE',
  createdAt: 'now',
  updatedAt: 'now',
});
const ok = { Body: new TextEncoder().encode('{"outputs":[]}') as never, ContentType: 'application/json' };
const unavailable = () => new ServiceUnavailable({ message: 'busy', $metadata: {} });

function circuits(admissions: Record<string, Admission> = {}) {
  return {
    admit: vi.fn(
      async (b: { endpointName: string }) => admissions[b.endpointName] ?? { kind: 'closed' as const },
    ),
    recordSuccess: vi.fn(async () => false),
    recordFailure: vi.fn(async () => false),
  };
}

const deps = (c: ReturnType<typeof circuits>): InferenceDependencies => ({
  sagemaker: new SageMakerRuntimeClient({ region: 'us-east-1' }),
  circuits: c,
  timeoutMs: 25_000,
  random: () => 0, // the first backend is the weighted choice
});

const calledEndpoints = () =>
  sagemaker.commandCalls(InvokeEndpointCommand).map((c) => c.args[0].input.EndpointName);

describe('infer with circuit breakers and failover', () => {
  beforeEach(() => sagemaker.reset());

  it('answers 504 without calling the endpoint when reading the circuit used up the time budget', async () => {
    // Prepare: the clock jumps past the deadline while the circuit is read (a throttled table)
    let clock = 0;
    const c = circuits();
    c.admit.mockImplementation(async () => {
      clock += 30_000;
      return { kind: 'closed' as const };
    });
    // Act
    const attempt = infer({ ...deps(c), now: () => clock }, version(['a', 'b']), payload);
    // Assess
    await expect(attempt).rejects.toBeInstanceOf(BackendTimeoutError);
    expect(calledEndpoints()).toEqual([]);
    expect(c.recordFailure).not.toHaveBeenCalled();
  });

  it('fails over once to another backend on a retryable failure and counts the failure', async () => {
    // Prepare
    sagemaker.on(InvokeEndpointCommand, { EndpointName: 'a' }).rejects(unavailable());
    sagemaker.on(InvokeEndpointCommand, { EndpointName: 'b' }).resolves(ok);
    const c = circuits();
    // Act
    const answer = await infer(deps(c), version(['a', 'b']), payload);
    // Assess
    expect(new TextDecoder().decode(answer.body)).toBe('{"outputs":[]}');
    expect(calledEndpoints()).toEqual(['a', 'b']);
    expect(c.recordFailure).toHaveBeenCalledWith(expect.objectContaining({ endpointName: 'a' }), {
      kind: 'closed',
    });
    expect(c.recordSuccess).toHaveBeenCalledWith(expect.objectContaining({ endpointName: 'b' }), {
      kind: 'closed',
    });
  });

  it('makes at most two attempts however many backends fail', async () => {
    sagemaker.on(InvokeEndpointCommand).rejects(unavailable());
    await expect(infer(deps(circuits()), version(['a', 'b', 'c']), payload)).rejects.toBeInstanceOf(
      BackendUnavailableError,
    );
    expect(calledEndpoints()).toEqual(['a', 'b']);
  });

  it('does not fail over or count a failure when the model rejects the request', async () => {
    sagemaker.on(InvokeEndpointCommand).rejects(
      new ModelError({
        message: 'client error',
        $metadata: {},
        OriginalStatusCode: 400,
        OriginalMessage: 'bad',
      }),
    );
    const c = circuits();
    await expect(infer(deps(c), version(['a', 'b']), payload)).rejects.toBeInstanceOf(BackendError);
    expect(calledEndpoints()).toEqual(['a']);
    expect(c.recordFailure).not.toHaveBeenCalled();
  });

  it('answers 500 naming the misconfiguration, without failover or a counted failure, when IAM denies the call', async () => {
    // Prepare: the role may not invoke 'a' (SageMaker Runtime's model has no such error; the SDK names it from the header)
    sagemaker.on(InvokeEndpointCommand, { EndpointName: 'a' }).rejects(
      new SageMakerRuntimeServiceException({
        name: 'AccessDeniedException',
        $fault: 'client',
        $metadata: { httpStatusCode: 403 },
        message:
          'User: arn:aws:sts::1:assumed-role/r/s is not authorized to perform: sagemaker:InvokeEndpoint',
      }),
    );
    sagemaker.on(InvokeEndpointCommand, { EndpointName: 'b' }).resolves(ok);
    const c = circuits();
    // Act
    const attempt = infer(deps(c), version(['a', 'b']), payload);
    // Assess
    const error = await attempt.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(EndpointAccessDeniedError);
    expect(error).toMatchObject({ statusCode: 500, code: 'PLATFORM_MISCONFIGURED' });
    expect((error as Error).message).toMatch(/misconfigured.*endpoint a\b.*additionalEndpointNames/);
    // The role and account stay in the log, not in the client's answer.
    expect((error as Error).message).not.toContain('arn:aws:sts');
    expect(calledEndpoints()).toEqual(['a']);
    expect(c.recordFailure).not.toHaveBeenCalled();
  });

  it.each([
    ['an endpoint that does not exist', 'Endpoint a of account 1 not found.'],
    [
      'a TargetModel whose archive cannot be downloaded',
      'Failed to download model data for TargetModel typo.tar.gz: no such model.',
    ],
  ])('fails over and counts a failure for %s, a backend that cannot serve', async (_, message) => {
    sagemaker.on(InvokeEndpointCommand, { EndpointName: 'a' }).rejects(
      new SageMakerRuntimeServiceException({
        name: 'ValidationError',
        $fault: 'client',
        $metadata: {},
        message,
      }),
    );
    sagemaker.on(InvokeEndpointCommand, { EndpointName: 'b' }).resolves(ok);
    const c = circuits();
    await infer(deps(c), version(['a', 'b']), payload);
    expect(calledEndpoints()).toEqual(['a', 'b']);
    expect(c.recordFailure).toHaveBeenCalledWith(expect.objectContaining({ endpointName: 'a' }), {
      kind: 'closed',
    });
  });

  it('answers 400 without failover for a ValidationError about the request', async () => {
    sagemaker.on(InvokeEndpointCommand).rejects(
      new SageMakerRuntimeServiceException({
        name: 'ValidationError',
        $fault: 'client',
        $metadata: {},
        message: "1 validation error detected: Value at 'contentType' failed to satisfy constraint",
      }),
    );
    const c = circuits();
    await expect(infer(deps(c), version(['a', 'b']), payload)).rejects.toMatchObject({ statusCode: 400 });
    expect(calledEndpoints()).toEqual(['a']);
    expect(c.recordFailure).not.toHaveBeenCalled();
  });

  // 5xx from the container (507 is Triton's out of memory on a multi-model endpoint), and status 0:
  // SageMaker's report of a container that ran past its 60 s or exited, "Received server error (0)".
  it.each([500, 507, 0, undefined])('fails over when the container answers %s', async (status) => {
    sagemaker.on(InvokeEndpointCommand, { EndpointName: 'a' }).rejects(
      new ModelError({
        message: `Received server error (${status}) from primary`,
        $metadata: {},
        ...(status === undefined ? {} : { OriginalStatusCode: status }),
        OriginalMessage: 'no answer',
      }),
    );
    sagemaker.on(InvokeEndpointCommand, { EndpointName: 'b' }).resolves(ok);
    const c = circuits();
    await infer(deps(c), version(['a', 'b']), payload);
    expect(calledEndpoints()).toEqual(['a', 'b']);
    expect(c.recordFailure).toHaveBeenCalledTimes(1);
  });

  it('skips a backend whose circuit is open without calling it', async () => {
    sagemaker.on(InvokeEndpointCommand).resolves(ok);
    await infer(deps(circuits({ a: { kind: 'open', retryAfterSeconds: 9 } })), version(['a', 'b']), payload);
    expect(calledEndpoints()).toEqual(['b']);
  });

  it('answers 503 with the shortest Retry-After when every circuit is open', async () => {
    const c = circuits({
      a: { kind: 'open', retryAfterSeconds: 9 },
      b: { kind: 'open', retryAfterSeconds: 4 },
    });
    const error = await infer(deps(c), version(['a', 'b']), payload).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BackendUnavailableError);
    expect((error as BackendUnavailableError).retryAfterSeconds).toBe(4);
    expect(sagemaker.calls()).toHaveLength(0);
  });

  it('reports the probe outcome so the circuit can close', async () => {
    sagemaker.on(InvokeEndpointCommand).resolves(ok);
    const probe: Admission = { kind: 'probe', openedAt: 1 };
    const c = circuits({ a: probe });
    await infer(deps(c), version(['a']), payload);
    expect(c.recordSuccess).toHaveBeenCalledWith(expect.objectContaining({ endpointName: 'a' }), probe);
  });

  it('treats an unreadable circuit as closed rather than failing the request', async () => {
    sagemaker.on(InvokeEndpointCommand).resolves(ok);
    const c = circuits();
    c.admit.mockRejectedValue(new Error('ProvisionedThroughputExceededException'));
    await expect(infer(deps(c), version(['a']), payload)).resolves.toBeDefined();
  });

  it('rejects a request that does not match the signature before admitting any backend', async () => {
    const c = circuits();
    const bad = { ...payload, request: { inputs: [payload.request.inputs[0]!] } };
    await expect(infer(deps(c), version(['a']), bad)).rejects.toThrow(/INPUT1/);
    expect(c.admit).not.toHaveBeenCalled();
  });
});

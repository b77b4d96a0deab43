import {
  InvokeEndpointCommand,
  ModelError,
  ModelNotReadyException,
  SageMakerRuntimeClient,
} from '@aws-sdk/client-sagemaker-runtime';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import {
  WARMUP_BUDGET_SECONDS,
  type WarmUpInput,
  type WarmUpMessage,
  warmUpRequestBytes,
} from '../../contracts/model-warmup';
import type { ModelVersion } from '../../contracts/registry-schemas';
import { ModelConfigError, parseModelConfig } from '../../contracts/triton/model-config';
import {
  failDeadLettered,
  type WarmUpDependencies,
  warmUp,
  warmUpRequest,
} from '../../functions/handlers/model-warmup/warm-up';
import { warmUpSample } from '../../functions/handlers/models/warm-up-sample';
import { SIMPLE_SIGNATURE } from '../helpers/simple-model';

const sagemaker = mockClient(SageMakerRuntimeClient);
const archive = 'simple-00000000000000aa.tar.gz';
const version = (status: ModelVersion['status'] = 'LOADING', targetModel = archive): ModelVersion => ({
  name: 'simple',
  version: '2',
  platform: 'onnxruntime_onnx',
  ...SIMPLE_SIGNATURE,
  backends: [{ endpointName: 'mme', variant: 'AllTraffic', targetModel, weight: 100 }],
  status,
  createdAt: 'then',
  updatedAt: 'then',
});
const enqueuedAt = '2026-01-01T00:00:00.000Z';
const message = (attempt = 0): WarmUpMessage => ({
  name: 'simple',
  version: '2',
  archive,
  ...warmUpSample(SIMPLE_SIGNATURE, { modelWarmup: [] }),
  enqueuedAt,
  attempt,
});
const loading = () =>
  new ModelNotReadyException({ message: 'Model is still loading', $metadata: { httpStatusCode: 429 } });

function dependencies(stored: ModelVersion | undefined, now = Date.parse(enqueuedAt) + 1_000) {
  const circuits = {
    admit: vi.fn(async () => ({ kind: 'closed' as const })),
    recordSuccess: vi.fn(async () => false),
    recordFailure: vi.fn(async () => false),
  };
  const status = { get: vi.fn(async () => stored), settle: vi.fn(async () => true) };
  const queue = { send: vi.fn(async () => {}) };
  const deps: WarmUpDependencies = {
    inference: {
      sagemaker: new SageMakerRuntimeClient({ region: 'us-east-1' }),
      circuits,
      timeoutMs: 600,
      random: () => 0,
    },
    status,
    queue,
    now: () => new Date(now),
  };
  return { deps, circuits, status, queue };
}

/** The version (as `stored` matches it) was settled FAILED on the archive, its reason matching `reason`. */
function expectSettledFailed(
  status: ReturnType<typeof dependencies>['status'],
  reason: RegExp,
  stored: unknown = expect.anything(),
) {
  expect(status.settle).toHaveBeenCalledWith(
    stored,
    archive,
    { status: 'FAILED', reason: expect.stringMatching(reason) },
    expect.any(String),
  );
}

describe('the warm-up of a pushed version', () => {
  beforeEach(() => sagemaker.reset());

  it('sends zeros shaped by the signature to the archive and marks the version ACTIVE', async () => {
    // Prepare
    sagemaker.on(InvokeEndpointCommand).resolves({
      Body: new TextEncoder().encode('{"outputs":[]}') as never,
      ContentType: 'application/json',
    });
    const { deps, status } = dependencies(version());
    // Act
    const outcome = await warmUp(deps, message());
    // Assess
    expect(outcome).toBe('ACTIVE');
    const call = sagemaker.commandCalls(InvokeEndpointCommand)[0]!.args[0].input;
    expect(call).toMatchObject({ EndpointName: 'mme', TargetModel: archive, TargetVariant: 'AllTraffic' });
    const sent = JSON.parse(new TextDecoder().decode(call.Body as Uint8Array));
    expect(sent.inputs[0]).toEqual({
      name: 'INPUT0',
      shape: [1, 16],
      datatype: 'INT32',
      data: Array.from({ length: 16 }, () => 0),
    });
    expect(status.settle).toHaveBeenCalledWith(version(), archive, { status: 'ACTIVE' }, expect.any(String));
  });

  it("marks the version FAILED with the model's own message when the model refuses to load", async () => {
    // Prepare: the local model server's and Triton's answer to a model it cannot load, wrapped by SageMaker
    sagemaker.on(InvokeEndpointCommand).rejects(
      new ModelError({
        message: 'Received client error (400) from primary',
        $metadata: { httpStatusCode: 424 },
        OriginalStatusCode: 400,
        OriginalMessage: JSON.stringify({
          error:
            "model 'simple' is a pytorch_libtorch model, which runs only on the deployed Triton endpoint",
        }),
      }),
    );
    const { deps, status, queue } = dependencies(version());
    // Act
    const outcome = await warmUp(deps, message());
    // Assess
    expect(outcome).toBe('FAILED');
    expectSettledFailed(status, /pytorch_libtorch model, which runs only on the deployed/);
    expect(queue.send).not.toHaveBeenCalled();
  });

  it('queues itself again, delayed, on loading answers, and counts no failure against the circuit', async () => {
    // Prepare
    sagemaker.on(InvokeEndpointCommand).rejects(loading());
    const { deps, status, queue, circuits } = dependencies(version());
    // Act
    const outcome = await warmUp(deps, message(2));
    // Assess: the loading answers were retried within the request's time, then the message was re-sent
    expect(outcome).toBe('RETRY');
    expect(sagemaker.commandCalls(InvokeEndpointCommand).length).toBeGreaterThan(1);
    expect(queue.send).toHaveBeenCalledWith({ ...message(2), attempt: 3 }, 60);
    expect(status.settle).not.toHaveBeenCalled();
    expect(circuits.recordFailure).not.toHaveBeenCalled();
  });

  it('marks the version FAILED, naming the budget and the last answer, once the budget would run out', async () => {
    // Prepare
    sagemaker.on(InvokeEndpointCommand).rejects(loading());
    const late = Date.parse(enqueuedAt) + WARMUP_BUDGET_SECONDS * 1000 - 5_000;
    const { deps, status, queue } = dependencies(version(), late);
    // Act
    const outcome = await warmUp(deps, message(6));
    // Assess
    expect(outcome).toBe('FAILED');
    expect(queue.send).not.toHaveBeenCalled();
    expectSettledFailed(
      status,
      new RegExp(`within ${WARMUP_BUDGET_SECONDS} s of its upload; last answer: .*still loading`),
    );
  });

  it('throws an unexpected error to be delivered again, and on the last delivery marks the version FAILED with it', async () => {
    // Prepare: the inference path fails in itself (here its clock), which is no answer of the model's.
    const { deps: fine, status } = dependencies(version());
    const deps = {
      ...fine,
      inference: {
        ...fine.inference,
        now: () => {
          throw new Error('clock unavailable');
        },
      },
    };
    // Act, Assess
    await expect(warmUp(deps, message())).rejects.toThrow('clock unavailable');
    expect(status.settle).not.toHaveBeenCalled();
    expect(await warmUp(deps, message(), { lastDelivery: true })).toBe('FAILED');
    expectSettledFailed(
      status,
      /failed on all 5 deliveries: clock unavailable/,
      expect.objectContaining({ status: 'LOADING' }),
    );
  });

  it.each([
    ['too large to build', [100, 1_000_000_000]],
    ['buildable but over 6 MiB', [30_000_000]],
  ])(
    'marks the version FAILED on its first delivery, building nothing, when its request would exceed 6 MiB (%s)',
    async (_, shape) => {
      // Prepare: a version registered before the upload checked its sample's size.
      const { deps, status, queue } = dependencies(version());
      const tooLarge = { ...message(), source: 'model_warmup' as const };
      tooLarge.inputs = tooLarge.inputs.map((input) => ({ ...input, shape }));
      // Act
      const outcome = await warmUp(deps, tooLarge);
      // Assess
      expect(outcome).toBe('FAILED');
      expect(sagemaker.commandCalls(InvokeEndpointCommand)).toHaveLength(0);
      expect(queue.send).not.toHaveBeenCalled();
      expectSettledFailed(
        status,
        /warm-up request of model 'simple' version 2 \(from the model_warmup\) would take up to \d+ bytes, over the 6291456 an endpoint accepts/,
      );
    },
  );

  it.each([
    ['disabled', version('DISABLED')],
    ['moved to another archive', version('LOADING', 'simple-00000000000000bb.tar.gz')],
    ['deleted', undefined],
  ])('leaves a version that was %s meanwhile alone, calling no endpoint', async (_, stored) => {
    // Prepare
    const { deps, status } = dependencies(stored);
    // Act
    const outcome = await warmUp(deps, message());
    // Assess
    expect(outcome).toBe('SKIPPED');
    expect(sagemaker.commandCalls(InvokeEndpointCommand)).toHaveLength(0);
    expect(status.settle).not.toHaveBeenCalled();
  });
});

describe('a dead-lettered warm-up', () => {
  it('ends its version FAILED, saying the warm-up never answered, without calling the endpoint', async () => {
    // Prepare
    const { deps, status } = dependencies(version());
    // Act
    const outcome = await failDeadLettered(deps, message(2));
    // Assess
    expect(outcome).toBe('FAILED');
    expectSettledFailed(
      status,
      /failed on all 5 deliveries.*dead-lettered/,
      expect.objectContaining({ name: 'simple', version: '2' }),
    );
    expect(sagemaker.commandCalls(InvokeEndpointCommand)).toHaveLength(0);
  });

  it('leaves a version that is no longer loading that archive, or is gone, as it is', async () => {
    // Prepare: the registry's condition refuses the change; a deleted version is not written at all
    const settled = dependencies(version('ACTIVE'));
    settled.status.settle.mockResolvedValueOnce(false);
    const deleted = dependencies(undefined);
    // Act, Assess
    expect(await failDeadLettered(settled.deps, message())).toBe('SKIPPED');
    expect(await failDeadLettered(deleted.deps, message())).toBe('SKIPPED');
    expect(deleted.status.settle).not.toHaveBeenCalled();
  });

  it('throws when the registry cannot be written, so that the dead letter is delivered again', async () => {
    // Prepare
    const { deps, status } = dependencies(version());
    status.settle.mockRejectedValueOnce(new Error('throttled'));
    // Act, Assess
    await expect(failDeadLettered(deps, message())).rejects.toThrow('throttled');
  });
});

describe('the warm-up sample', () => {
  it.each([
    [2, 2],
    [64, 8],
  ])(
    "takes the config's first model_warmup sample, its batch size leading the shape (batch_size %i: %i rows, at most max_batch_size, as Triton runs a sample a row per request)",
    (batch, rows) => {
      // Prepare
      const config = parseModelConfig(`
      name: "simple"
      platform: "onnxruntime_onnx"
      max_batch_size: 8
      model_warmup [{
        name: "ones"
        batch_size: ${batch}
        inputs { key: "INPUT0" value: { data_type: TYPE_INT32 dims: [ 16 ] random_data: true } }
        inputs { key: "INPUT1" value: { data_type: TYPE_INT32 dims: [ 16 ] zero_data: true } }
      }]`);
      // Act
      const sample = warmUpSample(SIMPLE_SIGNATURE, config);
      // Assess
      expect(sample).toEqual({
        source: 'model_warmup',
        inputs: [
          { name: 'INPUT0', datatype: 'INT32', shape: [rows, 16], fill: 'random' },
          { name: 'INPUT1', datatype: 'INT32', shape: [rows, 16], fill: 'zero' },
        ],
      });
    },
  );

  it('takes the first sample Triton runs, skipping one of batch size 0 as Triton does', () => {
    // Prepare
    const config = parseModelConfig(`
      name: "simple"
      platform: "onnxruntime_onnx"
      max_batch_size: 8
      model_warmup [{
        name: "skipped"
        batch_size: 0
        inputs { key: "INPUT0" value: { data_type: TYPE_INT32 dims: [ 1000000000 ] zero_data: true } }
      }, {
        name: "run"
        batch_size: 3
        inputs { key: "INPUT0" value: { data_type: TYPE_INT32 dims: [ 16 ] zero_data: true } }
        inputs { key: "INPUT1" value: { data_type: TYPE_INT32 dims: [ 16 ] zero_data: true } }
      }]`);
    // Act
    const sample = warmUpSample(SIMPLE_SIGNATURE, config);
    // Assess
    expect(sample.inputs.map((input) => input.shape)).toEqual([
      [3, 16],
      [3, 16],
    ]);
  });

  it.each([
    ['a hundred thousand million elements', 100, '1000000000'],
    ['sixteen million elements', 1_000_000, '16'],
  ])('refuses a sample whose request would exceed 6 MiB (%s), naming it and its input', (_, batch, dims) => {
    // Prepare
    const config = parseModelConfig(`
      name: "simple"
      platform: "onnxruntime_onnx"
      max_batch_size: ${batch}
      model_warmup [{
        name: "big"
        batch_size: ${batch}
        inputs { key: "INPUT0" value: { data_type: TYPE_INT32 dims: [ ${dims} ] random_data: true } }
        inputs { key: "INPUT1" value: { data_type: TYPE_INT32 dims: [ 16 ] zero_data: true } }
      }]`);
    const signature = { ...SIMPLE_SIGNATURE, maxBatchSize: batch };
    // Act, Assess
    expect(() => warmUpSample(signature, config)).toThrow(ModelConfigError);
    expect(() => warmUpSample(signature, config)).toThrow(
      new RegExp(
        `^model_warmup sample 'big': its warm-up request would take up to \\d+ bytes, over the 6291456 InvokeEndpoint accepts; input 'INPUT0' of shape \\[${batch}, ${dims}\\] takes \\d+ of them$`,
      ),
    );
  });

  it('refuses a model whose zeros from the signature would exceed 6 MiB, since no sample could be smaller', () => {
    // Prepare: fixed dims, which Triton requires a sample to match.
    const signature = {
      ...SIMPLE_SIGNATURE,
      inputs: [{ name: 'IMAGE', datatype: 'FP32' as const, shape: [-1, 4096, 4096] }],
    };
    // Act, Assess
    expect(() => warmUpSample(signature, { modelWarmup: [] })).toThrow(
      /^the warm-up built from the model's inputs: its warm-up request would take up to 33554510 bytes, over the 6291456 InvokeEndpoint accepts; input 'IMAGE' of shape \[1, 4096, 4096\]/,
    );
  });

  it('fills each datatype as stated: whole numbers for integers, booleans, strings', () => {
    // Act
    const request = warmUpRequest([
      { name: 'a', datatype: 'FP32', shape: [1, 2], fill: 'one' },
      { name: 'b', datatype: 'BOOL', shape: [2], fill: 'zero' },
      { name: 'c', datatype: 'BYTES', shape: [1], fill: 'zero' },
      { name: 'd', datatype: 'UINT8', shape: [3], fill: 'random' },
    ]);
    // Assess
    expect(request.inputs.map((i) => i.data)).toEqual([[1, 1], [false, false], [''], expect.any(Array)]);
    expect(request.inputs[3]!.data.every((v) => v === 0 || v === 1)).toBe(true);
  });
});

describe('the size of a warm-up request', () => {
  const sized = (inputs: WarmUpInput[]) => ({
    bound: warmUpRequestBytes(inputs),
    built: new TextEncoder().encode(JSON.stringify(warmUpRequest(inputs))).length,
  });

  it('is exact for zeros and ones, whatever the datatype, and counts names as UTF-8', () => {
    // Prepare
    const inputs: WarmUpInput[] = ['BOOL', 'BYTES', 'FP32', 'INT64', 'UINT8'].flatMap((datatype) =>
      (['zero', 'one'] as const).map((fill) => ({
        name: `é-${datatype}-${fill}`,
        datatype: datatype as WarmUpInput['datatype'],
        shape: [3, 5],
        fill,
      })),
    );
    // Act
    const { bound, built } = sized([
      ...inputs,
      { name: 'empty', datatype: 'FP16', shape: [4, 0], fill: 'zero' },
    ]);
    // Assess
    expect(bound).toBe(built);
  });

  it('bounds random data by the longest form of Math.random(), which it reaches', () => {
    // Prepare: 1.2345678901234567e-6 prints with 5 zeros and 17 digits, 24 characters; below 1e-6
    // the exponent form is shorter.
    const longest = 0.0000012345678901234567;
    const random = vi.spyOn(Math, 'random').mockReturnValue(longest);
    try {
      // Act
      const { bound, built } = sized([
        { name: 'f', datatype: 'FP64', shape: [2], fill: 'random' },
        { name: 's', datatype: 'BYTES', shape: [2], fill: 'random' },
      ]);
      // Assess: every element takes the most it can, so the request is as long as the bound
      expect(String(longest)).toHaveLength(24);
      expect(String(1.2345678901234566e-7).length).toBeLessThan(24);
      expect(bound).toBe(built);
    } finally {
      random.mockRestore();
    }
  });

  it('is computed, not built, for a sample of a hundred thousand million elements', () => {
    expect(warmUpRequestBytes([{ name: 'x', datatype: 'FP32', shape: [100, 1e9], fill: 'zero' }])).toBe(
      2e11 - 1 + '{"inputs":[{"name":"x","shape":[100,1000000000],"datatype":"FP32","data":[]}]}'.length,
    );
  });
});

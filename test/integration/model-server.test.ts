import { gzipSync } from 'node:zlib';
import {
  InvokeEndpointCommand,
  ModelError,
  type SageMakerRuntimeClient,
  SageMakerRuntimeServiceException,
  ValidationError,
} from '@aws-sdk/client-sagemaker-runtime';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { InferenceResponse } from '../../functions/inference/protocol';
import { type ModelServer, startModelServer } from '../../local/model-server/server';
import { loadModelRepository } from '../../triton-image/model-repository';
import { localSageMaker } from '../helpers/local-clients';
import { SIMPLE_SIGNATURE } from '../helpers/simple-model';

const ENDPOINT = 'simple-endpoint';
const MULTI_MODEL_ENDPOINT = 'multi-model-endpoint';

/** A batch for `simple`, with the sums and differences it must come back with. */
function simpleBatch(batch: number) {
  const input0 = Array.from({ length: batch * 16 }, (_, i) => i);
  const input1 = Array.from({ length: batch * 16 }, (_, i) => 3 * (i % 16) - batch);
  return {
    request: {
      inputs: [
        { name: 'INPUT0', shape: [batch, 16], datatype: 'INT32', data: input0 },
        { name: 'INPUT1', shape: [batch, 16], datatype: 'INT32', data: input1 },
      ],
    },
    sum: input0.map((a, i) => a + input1[i]!),
    difference: input0.map((a, i) => a - input1[i]!),
  };
}

async function errorOf(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected the call to fail, but it succeeded');
}

describe('startModelServer', () => {
  let server: ModelServer;
  let sagemaker: SageMakerRuntimeClient;

  beforeAll(async () => {
    const models = await loadModelRepository('triton-image/model_repository');
    server = await startModelServer({
      models,
      port: 0,
      endpoints: { [ENDPOINT]: { defaultModel: 'simple' }, [MULTI_MODEL_ENDPOINT]: {} },
    });
    sagemaker = localSageMaker(server.url);
  });

  afterAll(async () => {
    sagemaker?.destroy();
    await server?.close();
  });

  const invoke = (body: unknown, endpointName = ENDPOINT, targetModel?: string) =>
    sagemaker.send(
      new InvokeEndpointCommand({
        EndpointName: endpointName,
        ContentType: 'application/json',
        Body: typeof body === 'string' ? body : JSON.stringify(body),
        TargetModel: targetModel,
      }),
    );

  const tritonPost = (path: string, body: unknown) =>
    fetch(`${server.url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });

  describe('SageMaker Runtime InvokeEndpoint', () => {
    it.each([1, 3])('returns INPUT0 + INPUT1 and INPUT0 - INPUT1 for a batch of %i', async (batch) => {
      const { request, sum, difference } = simpleBatch(batch);

      const response = await invoke(request);
      const body = JSON.parse(new TextDecoder().decode(response.Body)) as InferenceResponse;

      expect(response.ContentType).toBe('application/json');
      expect(response.InvokedProductionVariant).toBe('AllTraffic');
      expect(body).toEqual({
        model_name: 'simple',
        model_version: '1',
        outputs: [
          { name: 'OUTPUT0', datatype: 'INT32', shape: [batch, 16], data: sum },
          { name: 'OUTPUT1', datatype: 'INT32', shape: [batch, 16], data: difference },
        ],
      });
    });

    it.each(['simple', 'simple.tar.gz', 'simple-0123456789abcdef.tar.gz'])(
      'serves the model TargetModel %s names',
      async (targetModel) => {
        const { request, sum } = simpleBatch(1);

        const response = await invoke(request, MULTI_MODEL_ENDPOINT, targetModel);
        const body = JSON.parse(new TextDecoder().decode(response.Body)) as InferenceResponse;

        // Triton on SageMaker serves the archive's model under the whole TargetModel string.
        expect(body.model_name).toBe(targetModel);
        expect(body.outputs[0]!.data).toEqual(sum);
      },
    );

    it('raises ValidationError for an unknown endpoint', async () => {
      const error = await errorOf(invoke(simpleBatch(1).request, 'no-such-endpoint'));

      expect(error).toBeInstanceOf(ValidationError);
      expect(error.message).toBe('Endpoint no-such-endpoint of account 000000000000 not found.');
      expect((error as ValidationError).$metadata.httpStatusCode).toBe(400);
    });

    it.each(['simple/0123456789abcdef.tar.gz', 'simple-version2.tar.gz'])(
      'does not read a model folder out of the TargetModel %s, which is no archive name the stack writes',
      async (targetModel) => {
        const error = await errorOf(invoke(simpleBatch(1).request, MULTI_MODEL_ENDPOINT, targetModel));

        expect(error).toBeInstanceOf(ValidationError);
        expect(error.message).toContain(targetModel);
      },
    );

    it('raises ValidationError for a TargetModel the endpoint does not have', async () => {
      const error = await errorOf(invoke(simpleBatch(1).request, MULTI_MODEL_ENDPOINT, 'missing.tar.gz'));

      expect(error).toBeInstanceOf(ValidationError);
      expect(error.message).toContain('missing.tar.gz');
    });

    it('raises ModelError with Triton status 400 when a shape is wrong', async () => {
      const { request } = simpleBatch(1);
      request.inputs[0] = { ...request.inputs[0]!, shape: [1, 15], data: request.inputs[0]!.data.slice(1) };

      const error = await errorOf(invoke(request));

      expect(error).toBeInstanceOf(ModelError);
      const modelError = error as ModelError;
      expect(modelError.$metadata.httpStatusCode).toBe(424);
      expect(modelError.OriginalStatusCode).toBe(400);
      expect(JSON.parse(modelError.OriginalMessage!)).toEqual({
        error: expect.stringMatching(
          /^unexpected shape for input 'INPUT0' for model 'simple'\. Expected \[-1,16\], got \[1,15\]\. NOTE: /,
        ),
      });
      expect(modelError.message).toMatch(/^Received client error \(400\) from primary with message "/);
      expect(modelError.LogStreamArn).toBe(
        `arn:aws:logs:us-east-1:000000000000:log-group:/aws/sagemaker/Endpoints/${ENDPOINT}`,
      );
    });

    it('raises ModelError with status 400 for an empty body', async () => {
      const error = await errorOf(invoke(''));

      expect(error).toBeInstanceOf(ModelError);
      expect((error as ModelError).OriginalStatusCode).toBe(400);
      expect((error as ModelError).OriginalMessage).toContain('the request body is empty');
    });

    it('answers 413 to a payload over 6 MB, as SageMaker does', async () => {
      const error = await errorOf(invoke('x'.repeat(6 * 1024 * 1024 + 1)));

      expect(error).toBeInstanceOf(SageMakerRuntimeServiceException);
      expect((error as SageMakerRuntimeServiceException).$metadata.httpStatusCode).toBe(413);
      expect(error.message).toBe('HTTP content length exceeded 6291456 bytes.');
    });
  });

  describe('compressed request bodies (src/http_server.cc DecompressBuffer, src/sagemaker_server.cc)', () => {
    const { request, sum } = simpleBatch(1);
    const post = (
      path: string,
      contentEncoding: string,
      body: Uint8Array,
      headers: Record<string, string> = {},
    ) =>
      fetch(`${server.url}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'content-encoding': contentEncoding, ...headers },
        body,
      });

    it('InvokeEndpoint inflates a gzip body as Triton on SageMaker does', async () => {
      const response = await post(
        `/endpoints/${ENDPOINT}/invocations`,
        'gzip',
        gzipSync(JSON.stringify(request)),
      );

      expect(response.status).toBe(200);
      const answer = (await response.json()) as InferenceResponse;
      expect(answer.outputs.find((o) => o.name === 'OUTPUT0')?.data).toEqual(sum);
    });

    it('Triton answers 501 to an encoding it does not take, naming those it does', async () => {
      const response = await post('/v2/models/simple/infer', 'br', Buffer.from(JSON.stringify(request)));

      expect(response.status).toBe(501);
      expect(response.headers.get('accept-encoding')).toBe('gzip, deflate');
      expect(await response.json()).toEqual({ error: 'Unsupported compression type' });
    });

    it("Triton's multi-model handler answers 415 with no body, which SageMaker wraps in a ModelError", async () => {
      const response = await post(`/endpoints/${ENDPOINT}/invocations`, 'br', Buffer.from('{}'), {
        'x-amzn-sagemaker-target-model': 'simple.tar.gz',
      });

      expect(response.status).toBe(424);
      expect(response.headers.get('x-amzn-errortype')).toBe('ModelError');
      expect(await response.json()).toMatchObject({ OriginalStatusCode: 415, OriginalMessage: '' });
    });

    it("a single-model endpoint answers with Triton's HTTP handler: 501", async () => {
      const response = await post(`/endpoints/${ENDPOINT}/invocations`, 'br', Buffer.from('{}'));

      expect(response.status).toBe(424);
      const error = (await response.json()) as { OriginalStatusCode: number; OriginalMessage: string };
      expect(error.OriginalStatusCode).toBe(501);
      expect(JSON.parse(error.OriginalMessage)).toEqual({ error: 'Unsupported compression type' });
    });

    it('Triton refuses a body that inflates past --http-max-input-size (64 MiB) with a 400', async () => {
      const response = await post(
        '/v2/models/simple/infer',
        'gzip',
        gzipSync(Buffer.alloc(64 * 1024 * 1024 + 1)),
      );

      expect(response.status).toBe(400);
      expect(await response.json()).toEqual({
        error:
          'Decompressed data size exceeds the maximum allowed value of 67108864 bytes. Use --http-max-input-size to increase the limit.',
      });
    });

    it('answers 400 to a gzip stream that does not inflate', async () => {
      const response = await post(
        '/v2/models/simple/infer',
        'gzip',
        gzipSync(JSON.stringify(request)).subarray(0, 40),
      );

      expect(response.status).toBe(400);
      expect(((await response.json()) as { error: string }).error).toContain('does not inflate');
    });
  });

  describe("Triton's HTTP/REST API", () => {
    it.each([
      '/v2/health/live',
      '/v2/health/ready',
      '/v2/models/simple/ready',
      '/v2/models/simple/versions/1/ready',
    ])('answers 200 on %s', async (path) => {
      const response = await fetch(`${server.url}${path}`);

      expect(response.status).toBe(200);
    });

    it('describes the server', async () => {
      const response = await fetch(`${server.url}/v2`);

      expect(response.status).toBe(200);
      expect(await response.json()).toMatchObject({
        name: expect.any(String),
        extensions: expect.any(Array),
      });
    });

    it.each(['/v2/models/simple', '/v2/models/simple/versions/1'])(
      'describes the model at %s with the batch dimension as -1',
      async (path) => {
        const response = await fetch(`${server.url}${path}`);

        expect(response.status).toBe(200);
        expect(await response.json()).toEqual({
          name: 'simple',
          versions: ['1'],
          platform: 'onnxruntime_onnx',
          inputs: SIMPLE_SIGNATURE.inputs,
          outputs: SIMPLE_SIGNATURE.outputs,
        });
      },
    );

    // Triton's answer carries the id, and only parameters a backend sets (FinalizeResponse).
    it('infers a batch of 3, echoing the id and not the request parameters', async () => {
      const { request, sum, difference } = simpleBatch(3);

      const response = await tritonPost('/v2/models/simple/versions/1/infer', {
        ...request,
        id: 'request-7',
        parameters: { origin: 'test' },
      });

      expect(response.status).toBe(200);
      expect(await response.json()).toEqual({
        model_name: 'simple',
        model_version: '1',
        id: 'request-7',
        outputs: [
          { name: 'OUTPUT0', datatype: 'INT32', shape: [3, 16], data: sum },
          { name: 'OUTPUT1', datatype: 'INT32', shape: [3, 16], data: difference },
        ],
      });
    });

    it('returns only the requested outputs', async () => {
      const { request, difference } = simpleBatch(2);

      const response = await tritonPost('/v2/models/simple/infer', {
        ...request,
        outputs: [{ name: 'OUTPUT1' }],
      });
      const body = (await response.json()) as InferenceResponse;

      expect(body.outputs).toEqual([
        { name: 'OUTPUT1', datatype: 'INT32', shape: [2, 16], data: difference },
      ]);
    });

    it('accepts nested data', async () => {
      const { request, sum } = simpleBatch(2);
      const nested = request.inputs.map((t) => ({ ...t, data: [t.data.slice(0, 16), t.data.slice(16)] }));

      const response = await tritonPost('/v2/models/simple/infer', { inputs: nested });
      const body = (await response.json()) as InferenceResponse;

      expect(body.outputs[0]!.data).toEqual(sum);
    });

    const withInput0 = (changes: Record<string, unknown>) => {
      const { request } = simpleBatch(1);
      return { inputs: [{ ...request.inputs[0]!, ...changes }, request.inputs[1]!] };
    };

    it.each([
      [
        'an unknown model',
        '/v2/models/nope/infer',
        simpleBatch(1).request,
        404,
        "Request for unknown model: 'nope'",
      ],
      [
        'an unknown version',
        '/v2/models/simple/versions/7/infer',
        simpleBatch(1).request,
        404,
        "Request for unknown model: 'simple' version 7 is not found",
      ],
      [
        'a wrong datatype',
        '/v2/models/simple/infer',
        withInput0({ datatype: 'INT64' }),
        400,
        "inference input 'INPUT0' data-type is 'INT64', but model 'simple' expects 'INT32'",
      ],
      [
        'a batch larger than max_batch_size',
        '/v2/models/simple/infer',
        simpleBatch(9).request,
        400,
        "inference request batch-size must be <= 8 for 'simple'",
      ],
      [
        'an unknown input name',
        '/v2/models/simple/infer',
        withInput0({ name: 'INPUT9' }),
        400,
        "unexpected inference input 'INPUT9'",
      ],
      [
        'an element count that disagrees with the shape',
        '/v2/models/simple/infer',
        withInput0({ data: [1, 2, 3] }),
        400,
        "Failed to parse 'data' field: shape does not match true shape",
      ],
      [
        'malformed JSON',
        '/v2/models/simple/infer',
        '{"inputs": [',
        400,
        'failed to parse the request JSON buffer',
      ],
      ['an empty body', '/v2/models/simple/infer', '', 400, 'the request body is empty'],
      ['a JSON array body', '/v2/models/simple/infer', [], 400, 'must be a JSON object'],
      [
        'FP16 data in JSON',
        '/v2/models/simple/infer',
        withInput0({ datatype: 'FP16' }),
        400,
        'receiving FP16 data via JSON is not supported',
      ],
    ])('answers %s with the status and error body Triton gives', async (_, path, body, status, message) => {
      const response = await tritonPost(path, body);

      expect(response.status).toBe(status);
      expect(response.headers.get('content-type')).toBe('application/json');
      const { error } = (await response.json()) as { error: string };
      expect(error).toContain(message);
    });

    it.each([
      ['GET', '/v2/models/simple/infer', 405, 'Method Not Allowed'],
      ['POST', '/v2/models/simple', 405, 'Method Not Allowed'],
      ['GET', '/v2/models/nope', 404, "Request for unknown model: 'nope' is not found"],
      ['GET', '/v2/models/nope/ready', 404, "Request for unknown model: 'nope' is not found"],
      ['GET', '/v2/repository/index', 404, 'Not Found'],
    ])('answers %s %s with %i', async (method, path, status, message) => {
      const response = await fetch(`${server.url}${path}`, { method });

      expect(response.status).toBe(status);
      expect(await response.json()).toEqual({ error: message });
    });
  });

  it('answers arbitrary bodies with a 4xx, never a 5xx', async () => {
    const body = fc.oneof(
      fc.jsonValue().map((value) => JSON.stringify(value)),
      fc.string(),
      fc.record({ inputs: fc.array(fc.jsonValue(), { maxLength: 3 }) }).map((value) => JSON.stringify(value)),
    );
    await fc.assert(
      fc.asyncProperty(body, async (text) => {
        const [viaTriton, viaSageMaker] = await Promise.all([
          tritonPost('/v2/models/simple/infer', text),
          invoke(text).then(
            () => 200,
            (error: SageMakerRuntimeServiceException) =>
              (error as ModelError).OriginalStatusCode ?? error.$metadata.httpStatusCode,
          ),
        ]);
        await viaTriton.body?.cancel();
        return viaTriton.status === 400 && viaSageMaker === 400;
      }),
      { numRuns: 50 },
    );
  });

  // Runs last: every rejection above went through the same server.
  it('still serves inference after all the bad requests', async () => {
    const { request, sum } = simpleBatch(1);

    const [viaSageMaker, viaTriton] = await Promise.all([
      invoke(request),
      tritonPost('/v2/models/simple/infer', request),
    ]);

    const sageMakerBody = JSON.parse(new TextDecoder().decode(viaSageMaker.Body)) as InferenceResponse;
    expect(sageMakerBody.outputs[0]!.data).toEqual(sum);
    expect(((await viaTriton.json()) as InferenceResponse).outputs[0]!.data).toEqual(sum);
  });
});

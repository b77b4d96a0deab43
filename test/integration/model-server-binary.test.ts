import {
  InvokeEndpointCommand,
  ModelError,
  type SageMakerRuntimeClient,
} from '@aws-sdk/client-sagemaker-runtime';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { joinBinaryBody } from '../../functions/inference/binary-tensors';
import type { InferenceResponse } from '../../functions/inference/protocol';
import { type ModelServer, startModelServer } from '../../local/model-server/server';
import { loadModelRepository } from '../../triton-image/model-repository';
import { simpleBinaryRequest, splitBinaryAnswer } from '../helpers/binary-requests';
import { localSageMaker } from '../helpers/local-clients';
import {
  IDENTITY_TYPES,
  identityModel,
  type TempRepository,
  tempRepository,
} from '../helpers/temp-repository';

const ENDPOINT = 'binary-endpoint';
const IDENTITY = 'identity';
const SAGEMAKER_BINARY = 'application/vnd.sagemaker-triton.binary+json;json-header-size=';

interface AnswerHeader {
  model_name: string;
  outputs: OutputHeader[];
}

interface OutputHeader {
  name: string;
  datatype: string;
  shape: number[];
  data?: unknown[];
  parameters?: { binary_data_size: number };
}

const int32 = (bytes: Uint8Array) =>
  Array.from(new Int32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4));
const rowOf = (offset: number, rows = 1) => Int32Array.from({ length: 16 * rows }, (_, i) => i + offset);
const binaryInput = (name: string, rows = 1) => ({
  name,
  shape: [rows, 16],
  datatype: 'INT32',
  parameters: { binary_data_size: 64 * rows },
});

describe('model server binary tensor extension', () => {
  let repository: TempRepository;
  let server: ModelServer;
  let sagemaker: SageMakerRuntimeClient;

  beforeAll(async () => {
    repository = await tempRepository();
    await repository.copyShipped('simple', 'simple');
    await repository.copyShipped('iris', 'iris');
    const identity = identityModel(IDENTITY, 200_000);
    await repository.write(IDENTITY, identity.config, identity.onnx);
    server = await startModelServer({
      models: await loadModelRepository(repository.dir),
      endpoints: { [ENDPOINT]: {} },
    });
    sagemaker = localSageMaker(server.url);
  });

  afterAll(async () => {
    sagemaker?.destroy();
    await server?.close();
    await repository?.remove();
  });

  const tritonInfer = (model: string, body: Uint8Array | string, headerLength?: number) =>
    fetch(`${server.url}/v2/models/${model}/infer`, {
      method: 'POST',
      headers: {
        'content-type': headerLength === undefined ? 'application/json' : 'application/octet-stream',
        ...(headerLength === undefined ? {} : { 'inference-header-content-length': String(headerLength) }),
      },
      body,
    });

  describe("Triton's HTTP API", () => {
    it('takes binary inputs and returns binary outputs with Inference-Header-Content-Length', async () => {
      const { body, headerLength } = joinBinaryBody(
        {
          inputs: [binaryInput('INPUT0', 2), binaryInput('INPUT1', 2)],
          outputs: [
            { name: 'OUTPUT0', parameters: { binary_data: true } },
            { name: 'OUTPUT1', parameters: { binary_data: true } },
          ],
        },
        [rowOf(0, 2), rowOf(100, 2)],
      );

      const response = await tritonInfer('simple', body, headerLength);

      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toBe('application/octet-stream');
      const answerHeaderLength = Number(response.headers.get('inference-header-content-length'));
      const { header, sections } = splitBinaryAnswer<AnswerHeader>(
        new Uint8Array(await response.arrayBuffer()),
        answerHeaderLength,
      );
      expect(header.outputs).toEqual([
        { name: 'OUTPUT0', datatype: 'INT32', shape: [2, 16], parameters: { binary_data_size: 128 } },
        { name: 'OUTPUT1', datatype: 'INT32', shape: [2, 16], parameters: { binary_data_size: 128 } },
      ]);
      expect(int32(sections.get('OUTPUT0')!)).toEqual(
        Array.from(rowOf(0, 2), (v, i) => v + rowOf(100, 2)[i]!),
      );
      expect(int32(sections.get('OUTPUT1')!)).toEqual(Array.from({ length: 32 }, () => -100));
    });

    it('mixes JSON and binary tensors both ways', async () => {
      const { body, headerLength } = joinBinaryBody(
        {
          inputs: [
            { name: 'INPUT0', shape: [1, 16], datatype: 'INT32', data: Array.from(rowOf(0)) },
            binaryInput('INPUT1'),
          ],
          outputs: [{ name: 'OUTPUT0' }, { name: 'OUTPUT1', parameters: { binary_data: true } }],
        },
        [rowOf(1)],
      );

      const response = await tritonInfer('simple', body, headerLength);

      const length = Number(response.headers.get('inference-header-content-length'));
      const { header, sections } = splitBinaryAnswer<AnswerHeader>(
        new Uint8Array(await response.arrayBuffer()),
        length,
      );
      expect(header.outputs[0]).toEqual({
        name: 'OUTPUT0',
        datatype: 'INT32',
        shape: [1, 16],
        data: Array.from(rowOf(0), (v) => 2 * v + 1),
      });
      expect(int32(sections.get('OUTPUT1')!)).toEqual(Array.from({ length: 16 }, () => -1));
    });

    it('returns every output as binary for binary_data_output, even to a JSON request', async () => {
      const request = {
        parameters: { binary_data_output: true },
        inputs: [
          { name: 'INPUT0', shape: [1, 16], datatype: 'INT32', data: Array.from(rowOf(0)) },
          { name: 'INPUT1', shape: [1, 16], datatype: 'INT32', data: Array.from(rowOf(0)) },
        ],
      };

      const response = await tritonInfer('simple', JSON.stringify(request));

      expect(response.headers.get('content-type')).toBe('application/octet-stream');
      const length = Number(response.headers.get('inference-header-content-length'));
      const { sections } = splitBinaryAnswer<AnswerHeader>(
        new Uint8Array(await response.arrayBuffer()),
        length,
      );
      expect([...sections.keys()]).toEqual(['OUTPUT0', 'OUTPUT1']);
    });

    it('returns the same INT64 labels in binary as in JSON', async () => {
      const features = Float32Array.from([5.1, 3.5, 1.4, 0.2, 6.7, 3.0, 5.2, 2.3]);
      const { body, headerLength } = joinBinaryBody(
        {
          inputs: [
            { name: 'FEATURES', shape: [2, 4], datatype: 'FP32', parameters: { binary_data_size: 32 } },
          ],
          outputs: [{ name: 'LABEL', parameters: { binary_data: true } }],
        },
        [features],
      );
      const json = {
        inputs: [{ name: 'FEATURES', shape: [2, 4], datatype: 'FP32', data: Array.from(features) }],
        outputs: [{ name: 'LABEL' }],
      };

      const binaryAnswer = await tritonInfer('iris', body, headerLength);
      const jsonAnswer = (await (
        await tritonInfer('iris', JSON.stringify(json))
      ).json()) as InferenceResponse;

      const length = Number(binaryAnswer.headers.get('inference-header-content-length'));
      const { sections } = splitBinaryAnswer<AnswerHeader>(
        new Uint8Array(await binaryAnswer.arrayBuffer()),
        length,
      );
      const labels = sections.get('LABEL')!;
      expect(Array.from(new BigInt64Array(labels.buffer, labels.byteOffset, 2), Number)).toEqual(
        jsonAnswer.outputs[0]!.data,
      );
      expect(jsonAnswer.outputs[0]!.data).toEqual([0, 2]);
    });

    it('round-trips FP16, BOOL, BYTES and INT64 exactly, batching concurrent requests by rows', async () => {
      const request = (seed: number, rows: number) => {
        const half = Uint16Array.from({ length: rows * 2 }, (_, i) => 0x3c00 + seed * 16 + i);
        const flags = Uint8Array.from({ length: rows * 2 }, (_, i) => (seed + i) % 2);
        // onnxruntime-node holds BYTES as JavaScript strings, so only UTF-8 survives a model.
        const texts = Array.from({ length: rows * 2 }, (_, i) => Buffer.from(`é${seed}-${i}`.repeat(i + 1)));
        const textBytes = Buffer.concat(
          texts.flatMap((t) => [Buffer.from(new Uint32Array([t.length]).buffer), t]),
        );
        const longs = BigInt64Array.from(
          { length: rows * 2 },
          (_, i) => -(2n ** 62n) + BigInt(seed * 100 + i),
        );
        const tensors = [half, flags, textBytes, longs];
        const header = {
          inputs: IDENTITY_TYPES.map((t, i) => ({
            name: `${t.name}_IN`,
            shape: [rows, 2],
            datatype: t.datatype,
            parameters: { binary_data_size: tensors[i]!.byteLength },
          })),
          parameters: { binary_data_output: true },
        };
        return { ...joinBinaryBody(header, tensors), tensors };
      };
      const requests = [1, 2, 3, 1].map((rows, seed) => request(seed, rows));

      const responses = await Promise.all(requests.map((r) => tritonInfer(IDENTITY, r.body, r.headerLength)));

      for (const [i, response] of responses.entries()) {
        const length = Number(response.headers.get('inference-header-content-length'));
        const { sections } = splitBinaryAnswer<AnswerHeader>(
          new Uint8Array(await response.arrayBuffer()),
          length,
        );
        IDENTITY_TYPES.forEach((t, j) => {
          const sent = requests[i]!.tensors[j]!;
          expect(Buffer.from(sections.get(`${t.name}_OUT`)!)).toEqual(
            Buffer.from(sent.buffer, sent.byteOffset, sent.byteLength),
          );
        });
      }
      const stats = (await (await fetch(`${server.url}/v2/models/${IDENTITY}/stats`)).json()) as {
        model_stats: { execution_count: number }[];
      };
      expect(stats.model_stats[0]!.execution_count).toBeLessThan(4);
    });

    const simpleHeader = { inputs: [binaryInput('INPUT0'), binaryInput('INPUT1')] };

    it.each([
      [
        'a header length that is not a number',
        () => ({ body: Buffer.from('{}'), length: 'ten' }),
        'Unable to parse',
      ],
      [
        'a header length beyond the body',
        () => ({ body: Buffer.from('{"inputs":[]}'), length: '99' }),
        'inference header size should be in range (0, 13), got: 99',
      ],
      [
        'a JSON header that is not JSON',
        () => ({ body: Buffer.from('{"inputs": [ ...'), length: '8' }),
        'failed to parse the request JSON buffer',
      ],
      [
        'binary data shorter than declared',
        () => {
          const { body, headerLength } = joinBinaryBody(simpleHeader, [rowOf(0)]);
          return { body, length: String(headerLength) };
        },
        "unexpected size for input 'INPUT1', expecting 64 additional bytes for model 'simple'",
      ],
      [
        'binary data left over',
        () => {
          const { body, headerLength } = joinBinaryBody(simpleHeader, [
            rowOf(0),
            rowOf(0),
            new Uint8Array(1),
          ]);
          return { body, length: String(headerLength) };
        },
        "unexpected additional input data for model 'simple'",
      ],
      [
        'a raw body for a model with two inputs',
        () => ({ body: Buffer.from(rowOf(0).buffer), length: '0' }),
        'Raw request must only have 1 input (found 1) to be deduced but got 2 inputs',
      ],
    ])('answers %s with 400 in Triton’s error shape', async (_, make, message) => {
      const { body, length } = make();

      const response = await fetch(`${server.url}/v2/models/simple/infer`, {
        method: 'POST',
        headers: { 'inference-header-content-length': length },
        body,
      });

      expect(response.status).toBe(400);
      expect(response.headers.get('content-type')).toBe('application/json');
      expect(((await response.json()) as { error: string }).error).toContain(message);
    });
  });

  describe('SageMaker InvokeEndpoint', () => {
    const invoke = (body: Uint8Array, contentType: string) =>
      sagemaker.send(
        new InvokeEndpointCommand({
          EndpointName: ENDPOINT,
          TargetModel: 'simple.tar.gz',
          ContentType: contentType,
          Body: body,
        }),
      );

    it('takes the binary+json content type and answers in it when an output is binary', async () => {
      const { body, headerLength } = joinBinaryBody(
        {
          ...{ inputs: [binaryInput('INPUT0'), binaryInput('INPUT1')] },
          parameters: { binary_data_output: true },
        },
        [rowOf(10), rowOf(3)],
      );

      const response = await invoke(body, `${SAGEMAKER_BINARY}${headerLength}`);

      expect(response.ContentType).toMatch(
        /^application\/vnd\.sagemaker-triton\.binary\+json;json-header-size=\d+$/,
      );
      const length = Number(response.ContentType!.slice(SAGEMAKER_BINARY.length));
      const { header, sections } = splitBinaryAnswer<AnswerHeader>(response.Body!, length);
      expect(header.model_name).toBe('simple.tar.gz'); // the TargetModel, as Triton on SageMaker names it
      expect(int32(sections.get('OUTPUT0')!)).toEqual(Array.from(rowOf(10), (v, i) => v + i + 3));
    });

    it('answers in JSON when no output is binary', async () => {
      const { body, headerLength } = simpleBinaryRequest(Array.from(rowOf(0)), { binaryOutputs: false });

      const response = await invoke(body, `${SAGEMAKER_BINARY}${headerLength}`);

      expect(response.ContentType).toBe('application/json');
      const answer = JSON.parse(new TextDecoder().decode(response.Body)) as InferenceResponse;
      expect(answer.outputs[0]!.data).toEqual(Array.from(rowOf(0), (v) => 2 * v));
    });

    it.each([
      [
        'binary data that does not fill a shape',
        `${SAGEMAKER_BINARY}`,
        'has 60 bytes of binary data but shape [1,16]',
      ],
      [
        'a header size that is not a number',
        `${SAGEMAKER_BINARY}abc`,
        'Unable to parse inference header size',
      ],
      [
        'the binary type not at the start',
        `text/plain, ${SAGEMAKER_BINARY}5`,
        'expect MIME type for binary data starts with',
      ],
    ])('raises ModelError carrying Triton’s 400 for %s', async (_, contentType, message) => {
      const header = {
        inputs: [{ ...binaryInput('INPUT0'), parameters: { binary_data_size: 60 } }, binaryInput('INPUT1')],
      };
      const { body, headerLength } = joinBinaryBody(header, [rowOf(0).subarray(1), rowOf(0)]);

      const error = await invoke(
        body,
        contentType === SAGEMAKER_BINARY ? `${contentType}${headerLength}` : contentType,
      ).then(
        () => undefined,
        (e: unknown) => e,
      );

      expect(error).toBeInstanceOf(ModelError);
      expect((error as ModelError).OriginalStatusCode).toBe(400);
      expect(JSON.parse((error as ModelError).OriginalMessage!).error).toContain(message);
    });
  });

  it('lists the binary tensor and statistics extensions', async () => {
    const response = await fetch(`${server.url}/v2`);

    expect(((await response.json()) as { extensions: string[] }).extensions).toEqual(
      expect.arrayContaining(['binary_tensor_data', 'statistics']),
    );
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { joinBinaryBody, sageMakerBinaryContentType } from '../../functions/inference/binary-tensors';
import { decodeBinaryTensor } from '../../functions/inference/codec';
import { platformToken } from '../../local/dev-credentials';
import { type PlatformProcess, startPlatformProcess } from '../../local/platform-process';
import { encodeBinaryTensor, simpleBinaryRequest, splitBinaryAnswer } from '../helpers/binary-requests';

// Triton's simple client: INPUT0 counts up, INPUT1 is all -1.
const INPUT0 = Array.from({ length: 16 }, (_, i) => i);
const INPUT1 = Array.from({ length: 16 }, () => -1);
const sum = (a: readonly number[], b: readonly number[]) => a.map((x, i) => x + b[i]!);
const difference = (a: readonly number[], b: readonly number[]) => a.map((x, i) => x - b[i]!);
const int32 = (values: readonly number[]) => encodeBinaryTensor('INT32', values);

const OCTET = 'application/octet-stream';

interface JsonOutput {
  name: string;
  datatype: string;
  shape: number[];
  data?: number[];
  parameters?: { binary_data_size?: number };
}

interface ResponseHeader {
  id?: string;
  model_name: string;
  model_version: string;
  outputs: JsonOutput[];
}

/** A binary answer split into its JSON header and each binary output's elements, by name. */
function readBinaryAnswer(body: Uint8Array, headerLength: number) {
  const { header, sections } = splitBinaryAnswer<ResponseHeader>(body, headerLength);
  const tensors = new Map<string, number[]>();
  for (const output of header.outputs) {
    const bytes = sections.get(output.name);
    if (bytes === undefined) continue;
    tensors.set(output.name, Array.from(decodeBinaryTensor({ ...output, datatype: 'INT32' }, bytes), Number));
  }
  return { header, tensors };
}

describe('binary tensor extension and v2 JSON through the local platform (npm start)', () => {
  let platform: PlatformProcess;
  let token: string;

  const infer = (body: string | Uint8Array, headers: Record<string, string>) =>
    fetch(`${platform.apiUrl}/v2/models/simple/infer`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${token}`, ...headers },
      body,
    });

  beforeAll(async () => {
    platform = await startPlatformProcess();
    token = await platformToken();
  });

  afterAll(async () => {
    await platform?.stop();
  });

  describe('v2 JSON', () => {
    it.each([
      ['flat data', [1, 16], INPUT0, INPUT1],
      ['nested data', [1, 16], [INPUT0], [INPUT1]],
      ['a nested batch of two', [2, 16], [INPUT0, INPUT1], [INPUT1, INPUT0]],
    ])('answers %s with the requested output and the id echoed', async (_case, shape, data0, data1) => {
      // Act
      const response = await infer(
        JSON.stringify({
          id: 'json-1',
          inputs: [
            { name: 'INPUT0', shape, datatype: 'INT32', data: data0 },
            { name: 'INPUT1', shape, datatype: 'INT32', data: data1 },
          ],
          outputs: [{ name: 'OUTPUT1' }],
        }),
        { 'Content-Type': 'application/json' },
      );
      // Assess
      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toContain('application/json');
      const body = (await response.json()) as ResponseHeader;
      const flat0 = (data0 as unknown[]).flat() as number[];
      const flat1 = (data1 as unknown[]).flat() as number[];
      expect(body).toMatchObject({ id: 'json-1', model_name: 'simple', model_version: '1' });
      expect(body.outputs).toEqual([
        { name: 'OUTPUT1', datatype: 'INT32', shape, data: difference(flat0, flat1) },
      ]);
    });
  });

  describe('binary tensors', () => {
    it.each([
      ['Inference-Header-Content-Length', false],
      ['SageMaker binary+json', true],
    ])('answers binary inputs framed by %s with binary outputs', async (_case, sageMakerFraming) => {
      // Prepare
      const { body, headerLength } = joinBinaryBody(
        {
          id: 'binary-1',
          inputs: ['INPUT0', 'INPUT1'].map((name) => ({
            name,
            shape: [1, 16],
            datatype: 'INT32',
            parameters: { binary_data_size: 64 },
          })),
          parameters: { binary_data_output: true },
        },
        [int32(INPUT0), int32(INPUT1)],
      );
      const framing: Record<string, string> = sageMakerFraming
        ? { 'Content-Type': sageMakerBinaryContentType(headerLength) }
        : { 'Content-Type': OCTET, 'Inference-Header-Content-Length': String(headerLength) };
      // Act
      const response = await infer(body, { ...framing, Accept: OCTET });
      // Assess
      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toBe(OCTET);
      const answerLength = Number(response.headers.get('inference-header-content-length'));
      const answer = readBinaryAnswer(new Uint8Array(await response.arrayBuffer()), answerLength);
      expect(answer.header).toMatchObject({ id: 'binary-1', model_name: 'simple', model_version: '1' });
      expect(answer.tensors).toEqual(
        new Map([
          ['OUTPUT0', sum(INPUT0, INPUT1)],
          ['OUTPUT1', difference(INPUT0, INPUT1)],
        ]),
      );
    });

    it('mixes JSON and binary inputs and outputs as Triton simple_http_infer_client does', async () => {
      // Prepare
      const { body, headerLength } = joinBinaryBody(
        {
          inputs: [
            { name: 'INPUT0', shape: [1, 16], datatype: 'INT32', data: INPUT0 },
            { name: 'INPUT1', shape: [1, 16], datatype: 'INT32', parameters: { binary_data_size: 64 } },
          ],
          outputs: [
            { name: 'OUTPUT0', parameters: { binary_data: true } },
            { name: 'OUTPUT1', parameters: { binary_data: false } },
          ],
        },
        [int32(INPUT1)],
      );
      // Act
      const response = await infer(body, {
        'Content-Type': OCTET,
        'Inference-Header-Content-Length': String(headerLength),
        Accept: OCTET,
      });
      // Assess
      expect(response.status).toBe(200);
      const answerLength = Number(response.headers.get('inference-header-content-length'));
      const answer = readBinaryAnswer(new Uint8Array(await response.arrayBuffer()), answerLength);
      expect(answer.tensors).toEqual(new Map([['OUTPUT0', sum(INPUT0, INPUT1)]]));
      expect(answer.header.outputs[1]).toMatchObject({ name: 'OUTPUT1', data: difference(INPUT0, INPUT1) });
    });
  });

  describe('malformed binary requests', () => {
    const simple = simpleBinaryRequest(INPUT0, { binaryOutputs: true });
    const headers = (headerLength: string) => ({
      'Content-Type': OCTET,
      'Inference-Header-Content-Length': headerLength,
      Accept: OCTET,
    });

    it.each<[string, () => [Uint8Array, Record<string, string>], string]>([
      [
        'a header length beyond the body',
        () => [simple.body, headers(String(simple.body.length + 1))],
        'larger than the',
      ],
      ['a non-numeric header length', () => [simple.body, headers('abc')], 'must be a non-negative integer'],
      ['a header length of 0', () => [simple.body, headers('0')], 'header length of 0'],
      [
        'binary data short of its binary_data_size',
        () => [simple.body.subarray(0, simple.body.length - 4), headers(String(simple.headerLength))],
        "input 'INPUT1' declares 64 bytes",
      ],
      [
        'json-header-size=abc',
        () => [
          simple.body,
          { 'Content-Type': `${sageMakerBinaryContentType(0).replace(/=0$/, '=abc')}`, Accept: OCTET },
        ],
        'json-header-size in the Content-Type must be a non-negative integer',
      ],
    ])('answers 400 JSON for %s', async (_case, build, message) => {
      // Prepare
      const [body, requestHeaders] = build();
      // Act
      const response = await infer(body, requestHeaders);
      // Assess
      expect(response.status).toBe(400);
      expect(await response.json()).toEqual({ error: expect.stringContaining(message) });
    });
  });
});

import { deflateSync, gzipSync } from 'node:zlib';
import { DynamoDBClient, GetItemCommand, QueryCommand, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { InvokeEndpointCommand, SageMakerRuntimeClient } from '@aws-sdk/client-sagemaker-runtime';
import { marshall } from '@aws-sdk/util-dynamodb';
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { joinBinaryBody, sageMakerBinaryContentType } from '../../functions/inference/binary-tensors';
import { encodeBinaryTensor } from '../helpers/binary-requests';
import { INFERENCE_FUNCTION_ENV, lambdaContext, proxyEvent } from '../helpers/events';
import { SIMPLE_SIGNATURE } from '../helpers/simple-model';

const dynamodb = mockClient(DynamoDBClient);
const sagemaker = mockClient(SageMakerRuntimeClient);

const partition = [
  { pk: 'MODEL#simple', sk: '#MODEL', name: 'simple', createdAt: '2026-01-01T00:00:00Z' },
  {
    pk: 'MODEL#simple',
    sk: 'VERSION#3',
    name: 'simple',
    version: '3',
    platform: 'onnxruntime_onnx',
    ...SIMPLE_SIGNATURE,
    backends: [{ endpointName: 'triton', targetModel: 'simple', weight: 100 }],
    status: 'ACTIVE',
    createdAt: '2026-01-01T00:00:00Z',
    updatedAt: '2026-01-01T00:00:00Z',
  },
].map((item) => marshall(item));

const INPUT0 = Array.from({ length: 16 }, (_, i) => i);
const INPUT1 = Array.from({ length: 16 }, () => -1);
const OUTPUT0 = INPUT0.map((x, i) => x + INPUT1[i]!);

const header = {
  id: 'binary-1',
  inputs: ['INPUT0', 'INPUT1'].map((name) => ({
    name,
    shape: [1, 16],
    datatype: 'INT32',
    parameters: { binary_data_size: 64 },
  })),
  outputs: [{ name: 'OUTPUT0', parameters: { binary_data: true } }],
};
const request = joinBinaryBody(header, [
  encodeBinaryTensor('INT32', INPUT0),
  encodeBinaryTensor('INT32', INPUT1),
]);

/** A binary request as API Gateway hands it over: base64 body, the client's headers. */
function binaryEvent(body: Uint8Array, headers: Record<string, string>): APIGatewayProxyEvent {
  return {
    ...proxyEvent({
      resource: '/v2/models/{model}/infer',
      path: '/v2/models/simple/infer',
      httpMethod: 'POST',
      pathParameters: { model: 'simple' },
      body: Buffer.from(body).toString('base64'),
      headers: { Origin: 'https://app.example.com', ...headers },
    }),
    isBase64Encoded: true,
  };
}

const tritonHeaders = {
  'Content-Type': 'application/octet-stream',
  'Inference-Header-Content-Length': String(request.headerLength),
  Accept: 'application/octet-stream',
};

let handler: (
  event: APIGatewayProxyEvent,
  context: ReturnType<typeof lambdaContext>,
) => Promise<APIGatewayProxyResult>;

describe('inference handler with the binary tensor extension', () => {
  beforeAll(async () => {
    Object.assign(process.env, INFERENCE_FUNCTION_ENV);
    ({ handler } = await import('../../functions/handlers/inference/handler'));
  });

  beforeEach(() => {
    // Prepare
    dynamodb.reset();
    sagemaker.reset();
    dynamodb.on(QueryCommand).resolves({ Items: partition });
    dynamodb.on(GetItemCommand).resolves({});
    dynamodb.on(UpdateItemCommand).resolves({ Attributes: { count: { N: '1' } } });
    const answer = joinBinaryBody(
      {
        id: 'binary-1',
        model_name: 'simple',
        model_version: '1',
        outputs: [
          { name: 'OUTPUT0', datatype: 'INT32', shape: [1, 16], parameters: { binary_data_size: 64 } },
        ],
      },
      [encodeBinaryTensor('INT32', OUTPUT0)],
    );
    sagemaker.on(InvokeEndpointCommand).resolves({
      Body: answer.body as never,
      ContentType: sageMakerBinaryContentType(answer.headerLength),
    });
  });

  it.each([
    ['Inference-Header-Content-Length', tritonHeaders],
    [
      'SageMaker binary+json',
      {
        'Content-Type': sageMakerBinaryContentType(request.headerLength),
        Accept: 'application/octet-stream',
      },
    ],
  ])('sends a %s request to SageMaker as binary+json and answers in octet-stream', async (_case, headers) => {
    // Act
    const result = await handler(binaryEvent(request.body, headers), lambdaContext());
    // Assess: the endpoint gets the client's bytes, with the header length in the content type.
    expect(result.statusCode).toBe(200);
    const call = sagemaker.commandCalls(InvokeEndpointCommand)[0]!.args[0].input;
    expect(call.ContentType).toBe(
      `application/vnd.sagemaker-triton.binary+json;json-header-size=${request.headerLength}`,
    );
    expect(new Uint8Array(call.Body as Uint8Array)).toEqual(request.body);
    // Assess: the client gets Triton's HTTP form, base64 for API Gateway to turn back into bytes.
    expect(result.isBase64Encoded).toBe(true);
    expect(result.headers).toMatchObject({
      'Content-Type': 'application/octet-stream',
      'X-Model-Version': '3',
      'X-Request-Id': 'gateway-request-id',
    });
    const body = new Uint8Array(Buffer.from(result.body, 'base64'));
    const length = Number(result.headers!['Inference-Header-Content-Length']);
    expect(JSON.parse(new TextDecoder().decode(body.subarray(0, length)))).toMatchObject({
      id: 'binary-1',
      model_name: 'simple',
      model_version: '3',
    });
    expect(body.subarray(length)).toEqual(encodeBinaryTensor('INT32', OUTPUT0));
    expect(String(result.headers!['Access-Control-Expose-Headers']).split(',')).toContain(
      'Inference-Header-Content-Length',
    );
  });

  it.each([
    [
      'a header length beyond the body',
      binaryEvent(request.body, { ...tritonHeaders, 'Inference-Header-Content-Length': '100000' }),
      'Inference-Header-Content-Length is 100000',
    ],
    [
      'binary data sent as text',
      {
        ...binaryEvent(request.body, { ...tritonHeaders, 'Content-Type': 'application/json' }),
        isBase64Encoded: false,
        body: Buffer.from(request.body).toString('latin1'),
      },
      'binary tensor data must be sent with Content-Type application/octet-stream',
    ],
  ])('answers 400 for %s without calling the endpoint', async (_case, event, message) => {
    // Act
    const result = await handler(event, lambdaContext());
    // Assess
    expect(result.statusCode).toBe(400);
    expect(JSON.parse(result.body).error).toContain(message);
    expect(sagemaker.commandCalls(InvokeEndpointCommand)).toHaveLength(0);
  });

  describe("compressed bodies (tritonclient's request_compression_algorithm)", () => {
    it.each([
      ['gzip', gzipSync],
      ['deflate', deflateSync],
    ])('inflates a %s body and sends the endpoint the uncompressed request', async (encoding, compress) => {
      // Act: the header length counts the uncompressed JSON header, as the client sends it.
      const event = binaryEvent(compress(request.body), { ...tritonHeaders, 'Content-Encoding': encoding });
      const result = await handler(event, lambdaContext());
      // Assess
      expect(result.statusCode, result.body).toBe(200);
      const call = sagemaker.commandCalls(InvokeEndpointCommand)[0]!.args[0].input;
      expect(new Uint8Array(call.Body as Uint8Array)).toEqual(request.body);
    });

    it.each([
      [
        'an encoding Triton does not take, naming those it does',
        { 'Content-Encoding': 'br' },
        request.body,
        415,
        "Unsupported compression type 'br'",
      ],
      [
        'a truncated gzip stream',
        { 'Content-Encoding': 'gzip' },
        gzipSync(request.body).subarray(0, 30),
        400,
        'does not inflate',
      ],
      [
        'a body that inflates past the 6 MB an endpoint takes',
        { 'Content-Encoding': 'gzip' },
        gzipSync(Buffer.alloc(6 * 1024 * 1024 + 1)),
        413,
        'inflates to more than the 6291456 bytes',
      ],
    ])('answers %s without calling the endpoint', async (_case, headers, body, status, message) => {
      // Act
      const result = await handler(binaryEvent(body, { ...tritonHeaders, ...headers }), lambdaContext());
      // Assess
      expect(result.statusCode).toBe(status);
      expect(JSON.parse(result.body).error).toContain(message);
      if (status === 415) expect(result.headers?.['Accept-Encoding']).toBe('gzip, deflate');
      expect(sagemaker.commandCalls(InvokeEndpointCommand)).toHaveLength(0);
    });
  });
});

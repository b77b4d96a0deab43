import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import type { ModelSignature } from '../../../contracts/model-signature';
import { SAGEMAKER_MAX_PAYLOAD_BYTES } from '../../../contracts/sagemaker-limits';
import { type ApiRequest, apiHandler } from '../../edge/api-handler';
import { apiEnvironment, dynamodb, modelCache, rateLimiter } from '../../edge/api-runtime';
import { BackendError, PayloadTooLargeError, UnsupportedMediaTypeError } from '../../edge/errors';
import { json } from '../../edge/http';
import { backendDependencies } from '../../inference/backend-runtime';
import {
  type ClientResponse,
  decodeInferenceRequest,
  encodeInferenceResponse,
  UnreadableBackendAnswerError,
} from '../../inference/codec';
import {
  ACCEPTED_ENCODINGS,
  decodeContentEncoding,
  InflatedBodyTooLargeError,
  UnsupportedContentEncodingError,
} from '../../inference/content-encoding';
import {
  infer,
  modelConfig,
  modelMetadata,
  refuseUnlessActive,
  resolveVersion,
} from '../../inference/service';
import { instrument } from '../../observability/instrument';

// All attempts together stay below API Gateway's 29 s, so the client gets our 504, not the gateway's.
const backends = backendDependencies(dynamodb, 25_000);

async function route({ event, requestId, servedBy }: ApiRequest) {
  const { model = '', version } = event.pathParameters ?? {};
  const target = await resolveVersion(modelCache, model, version, requestId);
  servedBy(target.model.name, target.version.version);
  const versionHeader = { 'X-Model-Version': target.version.version };
  if (event.resource.endsWith('/ready')) {
    // The protocol's readiness is the status code: 200 ready, 4xx not (Triton answers 400).
    const ready = target.version.status === 'ACTIVE';
    const body = ready
      ? { name: model, version: target.version.version, ready }
      : {
          error: `model '${model}' version ${target.version.version} is not ready: it is ${target.version.status}`,
        };
    return json(ready ? 200 : 400, body, requestId, versionHeader);
  }
  refuseUnlessActive(target.version);
  if (event.resource.endsWith('/config')) {
    return json(200, modelConfig(target), requestId, versionHeader);
  }
  if (event.httpMethod === 'GET') {
    return json(200, modelMetadata(target, version !== undefined), requestId, versionHeader);
  }
  const payload = await decodeRequest(event, target.version);
  const answer = await infer(backends, target.version, payload);
  const response = readOrBackendError(() =>
    encodeInferenceResponse(answer, { model_name: target.model.name, model_version: target.version.version }),
  );
  return binaryOrText(200, response, { 'X-Request-Id': requestId, ...versionHeader });
}

/**
 * The client's body and headers as the codec reads them: bytes, and lower-cased header names. API
 * Gateway base64-encodes bodies whose Content-Type is a binary media type (contracts/media-types.ts:
 * every type, so JSON too) and passes any other body as text. With content encoding off (no
 * minimumCompressionSize), it passes a compressed body on as sent, so it is inflated here as Triton
 * would, to no more than the endpoint takes: the endpoint gets it uncompressed.
 */
async function decodeRequest(event: APIGatewayProxyEvent, signature: ModelSignature) {
  const raw = event.body ?? '';
  const sent = event.isBase64Encoded ? Buffer.from(raw, 'base64') : Buffer.from(raw, 'utf8');
  const headers = Object.fromEntries(
    Object.entries(event.headers ?? {}).map(([k, v]) => [k.toLowerCase(), v]),
  );
  const body = await inflate(sent, headers['content-encoding']);
  return decodeInferenceRequest({ body, headers, receivedAsText: !event.isBase64Encoded }, signature);
}

async function inflate(body: Uint8Array, contentEncoding: string | undefined): Promise<Uint8Array> {
  try {
    return await decodeContentEncoding(body, contentEncoding, SAGEMAKER_MAX_PAYLOAD_BYTES);
  } catch (error) {
    if (error instanceof UnsupportedContentEncodingError) {
      throw new UnsupportedMediaTypeError(
        `Unsupported compression type '${error.encoding}': send Content-Encoding gzip, deflate or identity`,
        { 'Accept-Encoding': ACCEPTED_ENCODINGS },
      );
    }
    if (error instanceof InflatedBodyTooLargeError) {
      throw new PayloadTooLargeError(
        `the request inflates to more than the ${error.limit} bytes an endpoint accepts; use the batch API for large inputs`,
      );
    }
    throw error;
  }
}

function readOrBackendError<T>(read: () => T): T {
  try {
    return read();
  } catch (error) {
    if (error instanceof UnreadableBackendAnswerError) throw new BackendError(error.message);
    throw error;
  }
}

/**
 * JSON goes back as text; anything else (a binary tensor answer: application/octet-stream with
 * Inference-Header-Content-Length) base64-encoded, which API Gateway turns back into bytes for a
 * client whose first Accept type is binary (with `*\/*`, any, or none).
 */
function binaryOrText(
  statusCode: number,
  response: ClientResponse,
  headers: Record<string, string>,
): APIGatewayProxyResult {
  const isJson = response.contentType.startsWith('application/json');
  return {
    statusCode,
    headers: { ...headers, ...response.headers, 'Content-Type': response.contentType },
    body: Buffer.from(response.body).toString(isJson ? 'utf8' : 'base64'),
    isBase64Encoded: !isJson,
  };
}

export const handler = instrument(
  apiHandler(route, { errorStyle: 'inference', allowedOrigins: apiEnvironment.ALLOWED_ORIGINS, rateLimiter }),
);

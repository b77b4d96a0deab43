/**
 * Between the public API and the backend: turns a client's request body into a checked request plus
 * the bytes to send to SageMaker, and the backend's answer into the client's response. JSON only for
 * now; the binary tensor extension plugs in here.
 */
import {
  type InferenceRequest,
  InvalidInferenceRequestError,
  parseInferenceRequest,
} from './inference-protocol';

/** What the client sent, as the handler received it. */
export interface ClientRequest {
  readonly body: Uint8Array;
  /** Lower-cased header names. */
  readonly headers: Readonly<Record<string, string | undefined>>;
}

/** A request ready for validation and for the backend. */
export interface InferencePayload {
  /** The parsed request, checked against the model's signature before any backend call. */
  readonly request: InferenceRequest;
  /** The body to send to the endpoint, in `contentType` (JSON, or SageMaker's binary+json type). */
  readonly body: Uint8Array;
  readonly contentType: string;
}

/** What an endpoint answered. */
export interface BackendAnswer {
  readonly body: Uint8Array;
  readonly contentType: string;
}

/** The response to send to the client. */
export interface ClientResponse {
  readonly body: Uint8Array;
  readonly contentType: string;
  readonly headers: Readonly<Record<string, string>>;
}

const decoder = new TextDecoder('utf-8', { fatal: true });
const encoder = new TextEncoder();

export function decodeInferenceRequest(client: ClientRequest): InferencePayload {
  if (client.body.length === 0)
    throw new InvalidInferenceRequestError('the request body is empty; send a JSON document');
  let json: unknown;
  try {
    json = JSON.parse(decoder.decode(client.body));
  } catch (error) {
    throw new InvalidInferenceRequestError(`the request body is not valid JSON: ${(error as Error).message}`);
  }
  return {
    request: parseInferenceRequest(json),
    body: encoder.encode(JSON.stringify(json)),
    contentType: 'application/json',
  };
}

/** Thrown when the backend's answer cannot be read; the handler maps it to 502. */
export class UnreadableBackendAnswerError extends Error {}

/** The backend's answer with the model and version named as the client addressed them. */
export function encodeInferenceResponse(
  answer: BackendAnswer,
  naming: { readonly model_name: string; readonly model_version: string },
): ClientResponse {
  let response: unknown;
  try {
    response = JSON.parse(decoder.decode(answer.body));
  } catch {
    throw new UnreadableBackendAnswerError('the endpoint answered with a body that is not JSON');
  }
  if (typeof response !== 'object' || response === null || Array.isArray(response)) {
    throw new UnreadableBackendAnswerError('the endpoint answered with an unexpected body');
  }
  return {
    body: encoder.encode(JSON.stringify({ ...response, ...naming })),
    contentType: 'application/json',
    headers: {},
  };
}

/**
 * The three ways the conformance cases reach a model: Triton's HTTP/REST API on the model server's
 * Triton port, SageMaker's InvokeEndpoint in front of it (the AWS SDK against the model server), and
 * the platform's API (API Gateway emulator, authorizer, inference Lambda). Each turns an answer into
 * one shape, so a case states its expectation once.
 */
import { InvokeEndpointCommand } from '@aws-sdk/client-sagemaker-runtime';
import { OCTET_STREAM } from '../../contracts/media-types';
import {
  INFERENCE_HEADER_CONTENT_LENGTH,
  joinBinaryBody,
  SAGEMAKER_BINARY_PREFIX,
} from '../../functions/inference/binary-tensors';
import { localSageMaker } from '../helpers/local-clients';

export type TargetName = 'triton' | 'sagemaker' | 'api';
export const TARGETS: readonly TargetName[] = ['triton', 'sagemaker', 'api'];

/** The endpoint the local platform registers for every model (local/platform.ts). */
export const LOCAL_ENDPOINT = 'local-triton';

/** An inference request as a case writes it: JSON, or a JSON header with binary tensors after it. */
export interface InferCall {
  readonly model: string;
  /** The JSON document, or the JSON header when `binary` is set. */
  readonly request: unknown;
  /** Binary tensor data after the JSON header (the binary tensor extension). */
  readonly binary?: readonly Uint8Array[];
  /**
   * The header length to declare instead of the real one: a number or a malformed value, written as
   * each target carries it (Inference-Header-Content-Length, or SageMaker's json-header-size).
   */
  readonly headerLength?: number | string;
  /** A raw body sent as it is (JSON text that is not a document, or a raw binary tensor). */
  readonly raw?: Uint8Array;
  /** Whether the answer carries binary outputs (the API needs `Accept: application/octet-stream`). */
  readonly binaryAnswer?: boolean;
}

/** What came back, in one shape whatever the target. */
export interface Answer {
  readonly status: number;
  /** Triton's `error` text (for SageMaker, from the ModelError's OriginalMessage). */
  readonly error?: string;
  /** The JSON body, or the JSON header of a binary answer. */
  readonly json?: Record<string, unknown>;
  /** Bytes after the JSON header of a binary answer. */
  readonly binary?: Uint8Array;
  readonly headers: Record<string, string>;
  /** For SageMaker: the SDK's error name (ModelError, ValidationError) when the call failed. */
  readonly sdkError?: string;
}

export interface Target {
  readonly name: TargetName;
  infer(call: InferCall): Promise<Answer>;
  /** A GET on Triton's or the API's `/v2...` paths; SageMaker has none. */
  get?(path: string): Promise<Answer>;
}

interface Body {
  readonly bytes: Uint8Array;
  /** Undefined for a JSON body. */
  readonly headerLength?: number | string;
}

function bodyOf(call: InferCall): Body {
  if (call.raw !== undefined) return { bytes: call.raw, headerLength: call.headerLength };
  if (call.binary === undefined) {
    return { bytes: new TextEncoder().encode(JSON.stringify(call.request)), headerLength: call.headerLength };
  }
  const { body, headerLength } = joinBinaryBody(call.request, call.binary);
  return { bytes: body, headerLength: call.headerLength ?? headerLength };
}

async function readFetchAnswer(response: Response): Promise<Answer> {
  const headers = Object.fromEntries(response.headers.entries());
  const bytes = new Uint8Array(await response.arrayBuffer());
  const length = headers[INFERENCE_HEADER_CONTENT_LENGTH.toLowerCase()];
  return { status: response.status, headers, ...splitAnswer(bytes, length) };
}

function splitAnswer(bytes: Uint8Array, headerLength: string | undefined) {
  const decoder = new TextDecoder();
  const at = headerLength === undefined ? bytes.byteLength : Number(headerLength);
  if (bytes.byteLength === 0) return {};
  let json: Record<string, unknown> | undefined;
  try {
    json = JSON.parse(decoder.decode(bytes.subarray(0, at))) as Record<string, unknown>;
  } catch {
    return {};
  }
  const error = typeof json.error === 'string' ? json.error : undefined;
  return {
    json,
    ...(error === undefined ? {} : { error }),
    ...(headerLength === undefined ? {} : { binary: bytes.slice(at) }),
  };
}

/** Triton's own HTTP/REST API on the model server's Triton port. */
export function tritonTarget(url: string): Target {
  return {
    name: 'triton',
    async infer(call) {
      const { bytes, headerLength } = bodyOf(call);
      const response = await fetch(`${url}/v2/models/${call.model}/infer`, {
        method: 'POST',
        headers: {
          'Content-Type': headerLength === undefined ? 'application/json' : OCTET_STREAM,
          ...(headerLength === undefined ? {} : { [INFERENCE_HEADER_CONTENT_LENGTH]: String(headerLength) }),
        },
        body: bytes,
      });
      return readFetchAnswer(response);
    },
    async get(path) {
      return readFetchAnswer(await fetch(`${url}${path}`));
    },
  };
}

/**
 * InvokeEndpoint through the AWS SDK, with TargetModel naming the model archive. A container's error
 * answer comes back as a ModelError (424) carrying Triton's status and body; the answer reports
 * those, as the platform's backend reads them.
 */
export function sageMakerTarget(url: string): Target {
  const client = localSageMaker(url);
  return {
    name: 'sagemaker',
    async infer(call) {
      const { bytes, headerLength } = bodyOf(call);
      try {
        const output = await client.send(
          new InvokeEndpointCommand({
            EndpointName: LOCAL_ENDPOINT,
            TargetModel: `${call.model}.tar.gz`,
            ContentType:
              headerLength === undefined ? 'application/json' : `${SAGEMAKER_BINARY_PREFIX}${headerLength}`,
            Body: bytes,
          }),
        );
        const contentType = output.ContentType ?? '';
        const length = contentType.startsWith(SAGEMAKER_BINARY_PREFIX)
          ? contentType.slice(SAGEMAKER_BINARY_PREFIX.length)
          : undefined;
        const headers: Record<string, string> = {
          'content-type': contentType,
          'x-amzn-invoked-production-variant': output.InvokedProductionVariant ?? '',
        };
        return { status: 200, headers, ...splitAnswer(output.Body ?? new Uint8Array(), length) };
      } catch (error) {
        const failure = error as {
          name: string;
          message: string;
          OriginalStatusCode?: number;
          OriginalMessage?: string;
          $metadata?: { httpStatusCode?: number };
        };
        if (failure.name === 'ModelError' && failure.OriginalStatusCode !== undefined) {
          const original = splitAnswer(new TextEncoder().encode(failure.OriginalMessage ?? ''), undefined);
          return {
            status: failure.OriginalStatusCode,
            headers: {},
            sdkError: failure.name,
            ...original,
          };
        }
        if (failure.$metadata?.httpStatusCode === undefined) throw error;
        return {
          status: failure.$metadata.httpStatusCode,
          headers: {},
          sdkError: failure.name,
          error: failure.message,
        };
      }
    },
  };
}

/** The platform's public API, with a token that holds every scope. */
export function apiTarget(url: string, token: string): Target {
  const authorization = { Authorization: `Bearer ${token}` };
  return {
    name: 'api',
    async infer(call) {
      const { bytes, headerLength } = bodyOf(call);
      const response = await fetch(`${url}/v2/models/${call.model}/infer`, {
        method: 'POST',
        headers: {
          ...authorization,
          'Content-Type': headerLength === undefined ? 'application/json' : OCTET_STREAM,
          ...(headerLength === undefined ? {} : { [INFERENCE_HEADER_CONTENT_LENGTH]: String(headerLength) }),
          ...(call.binaryAnswer ? { Accept: OCTET_STREAM } : {}),
        },
        body: bytes,
      });
      return readFetchAnswer(response);
    },
    async get(path) {
      return readFetchAnswer(await fetch(`${url}${path}`, { headers: authorization }));
    },
  };
}

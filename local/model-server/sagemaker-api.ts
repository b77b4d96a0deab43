/**
 * SageMaker Runtime's InvokeEndpoint (`POST /endpoints/{name}/invocations`) on the local model
 * server, as the AWS SDK calls it: SageMaker's own refusals (payload limit, unknown endpoint or
 * model, injected throttling and unavailability) come from its front door, and everything else goes
 * to Triton, whose error answers come back wrapped in a ModelError as SageMaker wraps them.
 */

import { randomUUID } from 'node:crypto';
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import {
  SAGEMAKER_CONTAINER_TIMEOUT_MS,
  SAGEMAKER_MAX_PAYLOAD_BYTES,
} from '../../contracts/sagemaker-limits';
import {
  SAGEMAKER_BINARY_PREFIX,
  sageMakerBinaryContentType,
} from '../../functions/inference/binary-tensors';
import { ACCEPTED_ENCODINGS, isAcceptedEncoding } from '../../functions/inference/content-encoding';
import { InvalidInferenceRequestError } from '../../functions/inference/protocol';
import type { FaultInjector } from './faults';
import {
  GONE,
  headerValue,
  JSON_TYPE,
  jsonReply,
  type Outcome,
  pause,
  RESET,
  type Reply,
  readBody,
} from './http';
import { type LocalModelStore, MissingModelDataError, ModelLoadError } from './model-store';
import { type TritonApi, tritonErrorReply, tritonHeaderLength } from './triton-api';

const ACCOUNT = '000000000000';
const DEFAULT_REGION = 'us-east-1';
const VARIANT = 'AllTraffic';

/**
 * SageMaker endpoints by name. A request's TargetModel picks the model; without one, the endpoint's
 * `defaultModel` serves it.
 */
export type SageMakerEndpoints = Record<string, { readonly defaultModel?: string }>;

export class SageMakerRuntimeApi {
  private readonly invokable: ReadonlySet<string> | undefined;

  /**
   * @param invokableEndpoints the endpoints the caller's IAM role may invoke (the functions' roles
   * allow the same set); without it, every call is allowed, as for a caller with `sagemaker:*`
   * @param store the multi-model endpoints' model data: with it, a TargetModel is the archive of that
   * name in the store, loaded on first request; without it, the served model its name starts with
   */
  constructor(
    private readonly triton: TritonApi,
    readonly endpoints: SageMakerEndpoints,
    private readonly faults: FaultInjector | undefined,
    invokableEndpoints?: readonly string[],
    private readonly store?: LocalModelStore,
  ) {
    this.invokable = invokableEndpoints && new Set(invokableEndpoints.map((n) => n.toLowerCase()));
  }

  async invoke(endpointName: string, req: IncomingMessage): Promise<Outcome> {
    const requestId = randomUUID();
    const region = regionOf(req.headers);
    const endpoint = Object.hasOwn(this.endpoints, endpointName) ? this.endpoints[endpointName] : undefined;
    if (endpoint !== undefined && this.faults?.isDown(endpointName)) return RESET;
    const declaredLength = Number(req.headers['content-length'] ?? 0);
    const body =
      declaredLength > SAGEMAKER_MAX_PAYLOAD_BYTES
        ? { tooLarge: declaredLength }
        : await readBody(req, SAGEMAKER_MAX_PAYLOAD_BYTES);
    if (!Buffer.isBuffer(body)) {
      if (!req.readableEnded) req.resume();
      // SageMaker's front door answers this one itself, with no error type.
      return jsonReply(
        413,
        { message: `HTTP content length exceeded ${SAGEMAKER_MAX_PAYLOAD_BYTES} bytes.` },
        { 'x-amzn-RequestId': requestId },
      );
    }
    // IAM decides on the endpoint's ARN before SageMaker looks the endpoint up, so a name the role
    // does not cover is refused whether or not it exists. ARNs carry the name in lower case.
    if (this.invokable !== undefined && !this.invokable.has(endpointName.toLowerCase())) {
      return accessDenied(requestId, region, endpointName);
    }
    if (endpoint === undefined) {
      return validationError(requestId, `Endpoint ${endpointName} of account ${ACCOUNT} not found.`);
    }

    // Throttling and unavailability come from SageMaker's front door, before any container.
    const fault = this.faults?.next(endpointName);
    if (fault?.refusal?.kind === 'throttle') {
      return jsonReply(
        400,
        { message: 'Rate exceeded (a fault injected by the local model server).' },
        { 'x-amzn-ErrorType': 'ThrottlingException', 'x-amzn-RequestId': requestId },
      );
    }
    if (fault?.refusal?.kind === 'unavailable') {
      return jsonReply(
        503,
        { Message: 'The endpoint is unavailable (a fault injected by the local model server).' },
        { 'x-amzn-ErrorType': 'ServiceUnavailable', 'x-amzn-RequestId': requestId },
      );
    }

    let headerLength: string | undefined;
    try {
      headerLength = sageMakerHeaderLength(headerValue(req.headers, 'content-type'));
    } catch (error) {
      return modelError(requestId, region, endpointName, tritonErrorReply(400, (error as Error).message));
    }
    const targetModel = headerValue(req.headers, 'x-amzn-sagemaker-target-model');
    const target = await this.resolveTarget(targetModel, endpoint.defaultModel, endpointName);
    if (target.refusal === 'no-model') {
      return validationError(
        requestId,
        `Endpoint ${endpointName} serves several models; name one with TargetModel (X-Amzn-SageMaker-Target-Model).`,
      );
    }
    if (target.refusal === 'no-data') {
      return validationError(
        requestId,
        `Failed to download model data for TargetModel ${targetModel}: no such model.`,
      );
    }
    if (target.refusal === 'load-failed') {
      // Triton on SageMaker answers a model it cannot load as it answers any error on a multi-model
      // endpoint (src/sagemaker_server.cc, SageMakerMMELoadModel); SageMaker passes the answer on.
      return modelError(
        requestId,
        region,
        endpointName,
        multiModelReply(tritonErrorReply(400, target.message)),
      );
    }
    try {
      return await this.answer(target, req, body, headerLength, targetModel, fault, {
        requestId,
        region,
        endpointName,
      });
    } finally {
      target.release?.();
    }
  }

  /** Triton's answer on a model that is loaded, through the faults injected after the load. */
  private async answer(
    target: ResolvedTarget,
    req: IncomingMessage,
    body: Buffer,
    headerLength: string | undefined,
    targetModel: string | undefined,
    fault: ReturnType<FaultInjector['next']> | undefined,
    { requestId, region, endpointName }: { requestId: string; region: string; endpointName: string },
  ): Promise<Outcome> {
    const { triton, modelName } = target;
    // Triton's multi-model handler (a request with a TargetModel) answers its errors in its own way.
    const asServed = (reply: Reply) => (targetModel === undefined ? reply : multiModelReply(reply));
    if (fault !== undefined && fault.latencyMs > 0) {
      // SageMaker waits 60 s for the container, then reports it as having given no answer.
      const waited = Math.min(fault.latencyMs, SAGEMAKER_CONTAINER_TIMEOUT_MS);
      if (!(await pause(waited, req))) return GONE;
      if (waited === SAGEMAKER_CONTAINER_TIMEOUT_MS)
        return modelError(requestId, region, endpointName, NO_ANSWER);
    }
    if (fault?.refusal?.kind === 'fail') {
      const { status } = fault.refusal;
      if (status === 0) return modelError(requestId, region, endpointName, NO_ANSWER);
      // A 507 reads as out of memory, as Triton's multi-model handler tells it from the message.
      const what = status === 507 ? 'ran out of memory' : `answered ${status}`;
      const container = tritonErrorReply(
        status,
        `the container ${what} (a fault injected by the local model server)`,
      );
      return modelError(requestId, region, endpointName, asServed(container));
    }

    // Triton's SageMaker server infers on the model named by the whole TargetModel
    // (src/sagemaker_server.cc, SageMakerMMEHandleInfer), so answers and messages carry that name.
    const contentEncoding = headerValue(req.headers, 'content-encoding');
    if (targetModel !== undefined && !isAcceptedEncoding(contentEncoding)) {
      // Triton's multi-model handler answers 415 with no body, naming the codings it takes
      // (src/sagemaker_server.cc, SageMakerMMEHandleInfer); SageMaker wraps it as any container answer.
      // Without a TargetModel, Triton's HTTP handler answers, with its 501.
      const container = { status: 415, headers: { 'accept-encoding': ACCEPTED_ENCODINGS } };
      return modelError(requestId, region, endpointName, container);
    }
    const answer = await triton.infer(
      modelName,
      undefined,
      body,
      { headerLength, contentEncoding },
      targetModel,
    );
    if (!answer.ok) return modelError(requestId, region, endpointName, asServed(answer.reply));
    const { body: responseBody, headerLength: responseHeaderLength } = answer.response;
    return {
      status: 200,
      headers: {
        // Triton on SageMaker answers in its binary type whenever any output is binary.
        'content-type':
          responseHeaderLength === undefined ? JSON_TYPE : sageMakerBinaryContentType(responseHeaderLength),
        'x-Amzn-Invoked-Production-Variant': VARIANT,
        'x-amzn-RequestId': requestId,
      },
      body: responseBody,
    };
  }

  /** The Triton and model a request goes to: the TargetModel's archive, or the endpoint's default model. */
  private async resolveTarget(
    targetModel: string | undefined,
    defaultModel: string | undefined,
    endpointName: string,
  ): Promise<Target> {
    if (targetModel === undefined) {
      return defaultModel === undefined
        ? { refusal: 'no-model' }
        : { triton: this.triton, modelName: defaultModel };
    }
    if (this.store !== undefined) {
      try {
        const held = await this.store.acquire(targetModel, {
          EndpointName: endpointName,
          VariantName: VARIANT,
        });
        return { triton: held.triton, modelName: held.model, release: held.release };
      } catch (error) {
        if (error instanceof MissingModelDataError) return { refusal: 'no-data' };
        if (error instanceof ModelLoadError) return { refusal: 'load-failed', message: error.message };
        throw error;
      }
    }
    // Without a store, a flat archive name, `<model>.tar.gz` or `<model>-<16 hex hash>.tar.gz`, names
    // the served model folder it would hold; Triton on SageMaker serves it under the TargetModel string.
    const modelName = targetModel.replace(/(-[0-9a-f]{16})?\.tar\.gz$/, '');
    return this.triton.serves(modelName) ? { triton: this.triton, modelName } : { refusal: 'no-data' };
  }
}

/** The Triton and model name a request runs on; `release` frees a model held in the store. */
interface ResolvedTarget {
  readonly triton: TritonApi;
  readonly modelName: string;
  readonly release?: () => void;
}

type Target =
  | ({ readonly refusal?: undefined } & ResolvedTarget)
  | { readonly refusal: 'no-model' }
  | { readonly refusal: 'no-data' }
  | { readonly refusal: 'load-failed'; readonly message: string };

/**
 * The JSON header length of a SageMaker request, as Triton on SageMaker reads it: from a content type
 * that starts with `application/vnd.sagemaker-triton.binary+json;json-header-size=`; undefined for a
 * content type without it, which Triton reads as JSON.
 */
function sageMakerHeaderLength(contentType: string | undefined): string | undefined {
  const at = contentType?.indexOf(SAGEMAKER_BINARY_PREFIX) ?? -1;
  if (contentType === undefined || at < 0) return undefined;
  if (at !== 0) {
    throw new InvalidInferenceRequestError(
      `expect MIME type for binary data starts with '${SAGEMAKER_BINARY_PREFIX}', got: ${contentType}`,
    );
  }
  const size = contentType.slice(SAGEMAKER_BINARY_PREFIX.length).split(';')[0]!;
  // Triton refuses a size that is no number as it reads the content type, before it looks for the model.
  tritonHeaderLength(size);
  return size;
}

function validationError(requestId: string, message: string): Reply {
  return jsonReply(
    400,
    { Message: message },
    { 'x-amzn-ErrorType': 'ValidationError', 'x-amzn-RequestId': requestId },
  );
}

/**
 * IAM's refusal, as every AWS service reports it: 403, the error type in `x-amzn-ErrorType` (the
 * SageMaker Runtime model declares no such error, so the SDK names it from the header), and a
 * message naming the caller, the action and the endpoint's ARN.
 */
function accessDenied(requestId: string, region: string, endpointName: string): Reply {
  const resource = `arn:aws:sagemaker:${region}:${ACCOUNT}:endpoint/${endpointName.toLowerCase()}`;
  return jsonReply(
    403,
    {
      message: `User: arn:aws:sts::${ACCOUNT}:assumed-role/local-function-role/local is not authorized to perform: sagemaker:InvokeEndpoint on resource: ${resource} because no identity-based policy allows the sagemaker:InvokeEndpoint action`,
    },
    { 'x-amzn-ErrorType': 'AccessDeniedException', 'x-amzn-RequestId': requestId },
  );
}

/**
 * What SageMaker reports for a container that gave no answer, having run past the 60 s or exited:
 * status 0 and SageMaker's own message, as its ModelError reads ("Received server error (0) from
 * primary with message ...", in the errors SageMaker users report for timed-out containers).
 */
const NO_ANSWER: Reply = {
  status: 0,
  headers: {},
  body: Buffer.from(
    'Your invocation timed out while waiting for a response from container primary. Review the latency metrics for each container in Amazon CloudWatch, resolve the issue, and try again.',
  ),
};

/**
 * Triton's answer to an error on a multi-model endpoint: 400 whatever the error, or 507 when its
 * message reads as running out of memory, for a load and an inference alike (src/sagemaker_server.cc:
 * SageMakerMMEHandleOOMError, and SagemakeInferRequestClass::InferResponseComplete, whose comment
 * says the per-error codes of the HTTP API are held back from SageMaker). Only a request without a
 * TargetModel, on a single-model endpoint, gets Triton's HTTP status for each error.
 */
function multiModelReply(reply: Reply): Reply {
  const message = reply.body?.toString() ?? '';
  const status = OUT_OF_MEMORY.some((text) => message.includes(text)) ? 507 : 400;
  return { ...reply, status };
}

/** The texts Triton's SageMaker server takes for running out of memory (SageMakerMMECheckOOMError). */
const OUT_OF_MEMORY = [
  'CUDA out of memory',
  'CUDA_OUT_OF_MEMORY',
  'Out of memory',
  'Out Of Memory',
  'out of memory',
  'MemoryError',
  'OutOfMemory',
  'OOM',
  'Dst tensor is not initialized',
  'Src tensor is not initialized',
  'CNMEM_STATUS_OUT_OF_MEMORY',
  'CUDNN_STATUS_NOT_INITIALIZED',
  'CUBLAS_STATUS_ALLOC_FAILED',
  'CUBLAS_STATUS_NOT_INITIALIZED',
  'Failed to allocate memory',
  'failed to allocate memory',
  'No space left on device',
];

/** How SageMaker reports a container's error answer: 424 ModelError carrying the original status and body. */
function modelError(requestId: string, region: string, endpointName: string, container: Reply): Reply {
  const status = container.status;
  const original = container.body?.toString() ?? '';
  const logGroup = `/aws/sagemaker/Endpoints/${endpointName}`;
  const fromClient = status >= 400 && status < 500;
  const kind = fromClient ? 'client' : 'server';
  return jsonReply(
    424,
    {
      ...(fromClient ? { ErrorCode: 'CLIENT_ERROR_FROM_MODEL' } : {}),
      LogStreamArn: `arn:aws:logs:${region}:${ACCOUNT}:log-group:${logGroup}`,
      Message:
        `Received ${kind} error (${status}) from primary with message "${original}". ` +
        `See https://${region}.console.aws.amazon.com/cloudwatch/home?region=${region}#logEventViewer:group=${logGroup} ` +
        `in account ${ACCOUNT} for more information.`,
      OriginalMessage: original,
      OriginalStatusCode: status,
    },
    { 'x-amzn-ErrorType': 'ModelError', 'x-amzn-RequestId': requestId },
  );
}

/** The region the client signed for (SigV4 credential scope), so ARNs and links name it. */
function regionOf(headers: IncomingHttpHeaders): string {
  const scope = /Credential=[^/]+\/\d{8}\/([a-z0-9-]+)\//.exec(headerValue(headers, 'authorization') ?? '');
  return scope?.[1] ?? DEFAULT_REGION;
}

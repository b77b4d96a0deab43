/**
 * Triton's HTTP/REST API (`/v2/...`) on the local model server: health, server and model metadata,
 * statistics and inference, with Triton's status codes and error shape. The SageMaker API runs its
 * inferences through `TritonApi.infer`, as SageMaker hands requests to Triton in its container.
 */

import type { IncomingMessage } from 'node:http';
import { toJson } from '@bufbuild/protobuf';
import { OCTET_STREAM } from '../../contracts/media-types';
import { ModelConfigSchema } from '../../contracts/triton/gen/model_config_pb';
import { INFERENCE_HEADER_CONTENT_LENGTH, parseHeaderLength } from '../../functions/inference/binary-tensors';
import {
  ACCEPTED_ENCODINGS,
  decodeContentEncoding,
  InflatedBodyTooLargeError,
  UnsupportedContentEncodingError,
} from '../../functions/inference/content-encoding';
import { InvalidInferenceRequestError } from '../../functions/inference/protocol';
import { classify } from './classification';
import { decodeInferRequest, type EncodedInferResponse, encodeInferResponse } from './codec';
import {
  decodeSegment,
  headerValue,
  JSON_TYPE,
  jsonReply,
  type Reply,
  type RequestBody,
  readBody,
} from './http';
import type { ServedModel, ServedVersion } from './runner';
import { type ComputeStats, SchedulerClosedError } from './scheduler';

/** Triton's default `--http-max-input-size`. */
export const TRITON_MAX_INPUT_BYTES = 64 * 1024 * 1024;

const HEADER_LENGTH_HEADER = INFERENCE_HEADER_CONTENT_LENGTH.toLowerCase();

/** A request Triton turns down, with the status code Triton answers it with. */
class TritonRequestError extends Error {
  constructor(
    readonly status: 400 | 404 | 405 | 500 | 503,
    message: string,
  ) {
    super(message);
  }
}

const MODEL_ROUTE = /^\/v2\/models\/([^/]+)(?:\/versions\/([0-9]+))?(?:\/(infer|ready|stats|config))?$/;

/** What an inference request's headers say about its body, as the client sent them. */
export interface InferHeaders {
  /**
   * The length of the JSON header when binary tensors follow it (a header or a content type
   * parameter); undefined for a JSON body.
   */
  readonly headerLength?: string;
  readonly contentEncoding?: string;
}

/** A Triton inference answer, before the API it came through formats it. */
type InferAnswer =
  | { readonly ok: true; readonly response: EncodedInferResponse }
  | { readonly ok: false; readonly reply: Reply };

export class TritonApi {
  constructor(private readonly models: ReadonlyMap<string, ServedModel>) {}

  async handle(method: string, path: string, req: IncomingMessage): Promise<Reply> {
    const body = method === 'POST' ? await readBody(req, TRITON_MAX_INPUT_BYTES) : undefined;
    try {
      if (path === '/v2/health/live' || path === '/v2/health/ready') {
        requireMethod(method, 'GET');
        return { status: 200 };
      }
      if (path === '/v2') {
        requireMethod(method, 'GET');
        return jsonReply(200, {
          name: 'local-model-server',
          version: process.env.npm_package_version ?? '0.0.0',
          // Of the extensions Triton lists (InferenceServer() in core's src/server.cc), those served here.
          extensions: [
            'classification',
            'model_configuration',
            'binary_tensor_data',
            'parameters',
            'statistics',
          ],
        });
      }
      // Triton's statistics extension: every model, or one model's versions.
      if (path === '/v2/models/stats') {
        requireMethod(method, 'GET');
        return jsonReply(200, { model_stats: [...this.models.values()].flatMap((m) => modelStats(m)) });
      }
      const route = MODEL_ROUTE.exec(path);
      if (route) {
        const [, name, version, action] = route;
        const modelName = decodeSegment(name!);
        if (action === 'infer') {
          requireMethod(method, 'POST');
          const answer = await this.infer(modelName, version, body ?? Buffer.alloc(0), {
            headerLength: headerValue(req.headers, HEADER_LENGTH_HEADER),
            contentEncoding: headerValue(req.headers, 'content-encoding'),
          });
          return answer.ok ? tritonInferReply(answer.response) : answer.reply;
        }
        requireMethod(method, 'GET');
        const served = this.resolve(modelName, version);
        if (action === 'ready') return { status: 200 };
        if (action === 'config') return jsonReply(200, modelConfigJson(served.model.definition));
        if (action === 'stats') {
          return jsonReply(200, {
            model_stats: modelStats(served.model, version === undefined ? undefined : served.served),
          });
        }
        return jsonReply(200, this.metadata(served, version));
      }
      throw new TritonRequestError(404, 'Not Found');
    } catch (error) {
      if (error instanceof TritonRequestError) return tritonErrorReply(error.status, error.message);
      throw error;
    }
  }

  /** Runs an inference request against `version`, or the latest version when none is named. */
  async infer(
    modelName: string,
    version: string | undefined,
    body: RequestBody,
    { headerLength, contentEncoding }: InferHeaders,
    /** The name the model answers under: Triton on SageMaker serves a model as its whole TargetModel. */
    servedAs: string = modelName,
  ): Promise<InferAnswer> {
    try {
      const { model, served } = this.resolve(modelName, version);
      if (!Buffer.isBuffer(body)) {
        throw new TritonRequestError(
          400,
          `request JSON size of ${body.tooLarge} bytes exceeds the maximum allowed input size of ${TRITON_MAX_INPUT_BYTES} bytes`,
        );
      }
      // Triton inflates before it reads the header length, which counts the inflated JSON header.
      const inflated = await decodeContentEncoding(body, contentEncoding, TRITON_MAX_INPUT_BYTES);
      const request = decodeInferRequest(inflated, tritonHeaderLength(headerLength), {
        name: servedAs,
        signature: model.definition.signature,
      });
      const results = await served.scheduler.submit(request.inputs);
      const batched = model.definition.signature.maxBatchSize > 0;
      const outputs = request.outputs.map(({ name, binary, classes }) => {
        const tensor = results.find((t) => t.name === name)!;
        return {
          tensor: classes > 0 ? classify(tensor, classes, batched, model.labels.get(name)) : tensor,
          binary,
        };
      });
      const response = encodeInferResponse(
        {
          model_name: servedAs,
          model_version: served.version,
          // Triton answers the request's id, and only the parameters a backend sets on its response
          // (none for onnxruntime), not the request's (FinalizeResponse in src/http_server.cc).
          ...(request.id === undefined ? {} : { id: request.id }),
        },
        outputs,
      );
      return { ok: true, response };
    } catch (error) {
      return { ok: false, reply: inferErrorReply(error) };
    }
  }

  serves(modelName: string): boolean {
    return this.models.has(modelName);
  }

  private resolve(
    modelName: string,
    version: string | undefined,
  ): { model: ServedModel; served: ServedVersion } {
    const model = this.models.get(modelName);
    if (model === undefined) {
      throw new TritonRequestError(404, `Request for unknown model: '${modelName}' is not found`);
    }
    // Triton reads the version as an integer, so "01" names version 1.
    const wanted = version === undefined ? model.definition.latestVersion : String(BigInt(version));
    const served = model.versions.get(wanted);
    if (served === undefined) {
      throw new TritonRequestError(
        404,
        `Request for unknown model: '${modelName}' version ${wanted} is not found`,
      );
    }
    return { model, served };
  }

  private metadata({ model }: { model: ServedModel }, version: string | undefined) {
    const { definition } = model;
    return {
      name: definition.name,
      // Triton lists the named version alone, or every version it serves.
      versions: version === undefined ? [...model.versions.keys()] : [String(BigInt(version))],
      platform: definition.platform,
      inputs: definition.signature.inputs,
      outputs: definition.signature.outputs,
    };
  }
}

function inferErrorReply(error: unknown): Reply {
  if (error instanceof TritonRequestError) return tritonErrorReply(error.status, error.message);
  if (error instanceof UnsupportedContentEncodingError) {
    // Triton answers 501 (TRITONSERVER_ERROR_UNSUPPORTED) and names the codings it takes.
    return tritonErrorReply(501, error.message, { 'accept-encoding': ACCEPTED_ENCODINGS });
  }
  if (error instanceof InflatedBodyTooLargeError) {
    return tritonErrorReply(
      400,
      `Decompressed data size exceeds the maximum allowed value of ${error.limit} bytes. Use --http-max-input-size to increase the limit.`,
    );
  }
  if (error instanceof InvalidInferenceRequestError) return tritonErrorReply(400, error.message);
  if (error instanceof SchedulerClosedError) return tritonErrorReply(503, error.message);
  // A failure inside the model after the request passed validation: Triton answers 500. With
  // dynamic batching, every request of the failed execution gets it.
  return tritonErrorReply(500, `onnx runtime error: ${(error as Error).message}`);
}

/** The header length a client sent, or undefined for a JSON body. */
export function tritonHeaderLength(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const length = parseHeaderLength(value);
  if (length === undefined) {
    throw new InvalidInferenceRequestError(`Unable to parse inference header size, got: ${value}`);
  }
  return length;
}

function tritonInferReply({ body, headerLength }: EncodedInferResponse): Reply {
  if (headerLength === undefined) return { status: 200, headers: { 'content-type': JSON_TYPE }, body };
  return {
    status: 200,
    headers: {
      'content-type': OCTET_STREAM,
      [HEADER_LENGTH_HEADER]: String(headerLength),
    },
    body,
  };
}

/**
 * Triton's statistics of a model's versions (or of one version), from its schedulers' counters, in
 * the full shape of the statistics extension (docs/protocol/extension_statistics.md). The response
 * cache does not exist here, so its counts are 0; no backend reports memory usage, and no model is
 * decoupled, so those lists are empty.
 */
function modelStats(model: ServedModel, only?: ServedVersion) {
  const versions = only === undefined ? [...model.versions.values()] : [only];
  return versions.map(({ version, scheduler: { stats } }) => ({
    name: model.definition.name,
    version,
    last_inference: stats.lastInference,
    inference_count: stats.inferenceCount,
    execution_count: stats.executionCount,
    inference_stats: {
      success: { ...stats.success },
      fail: { ...stats.fail },
      queue: { ...stats.queue },
      ...computeStats(stats.compute),
      cache_hit: { count: 0, ns: 0 },
      cache_miss: { count: 0, ns: 0 },
    },
    response_stats: {},
    batch_stats: [...stats.batches]
      .sort(([a], [b]) => a - b)
      .map(([batchSize, compute]) => ({ batch_size: batchSize, ...computeStats(compute) })),
    memory_usage: [],
  }));
}

function computeStats({ computeInput, computeInfer, computeOutput }: ComputeStats) {
  return {
    compute_input: { ...computeInput },
    compute_infer: { ...computeInfer },
    compute_output: { ...computeOutput },
  };
}

/** ModelConfig fields of 64-bit integers, which core writes as JSON numbers rather than proto JSON's strings. */
const INT64_FIELDS = new Set([
  'dims',
  'shape',
  'versions',
  'max_queue_delay_microseconds',
  'priority_levels',
  'default_priority_level',
  'default_timeout_microseconds',
  'max_sequence_idle_microseconds',
  'model_version',
]);

/**
 * The model configuration extension's answer: the model's config.pbtxt as JSON, with proto field
 * names and every field printed, 64-bit integers as numbers (`ModelConfigToJson` in core's
 * src/model_config_utils.cc). Triton answers with the config after its auto-completion; this is the
 * file as written, which the shipped models state in full.
 */
function modelConfigJson(definition: ServedModel['definition']): unknown {
  const json = toJson(ModelConfigSchema, definition.config, {
    useProtoFieldName: true,
    alwaysEmitImplicit: true,
  });
  return JSON.parse(JSON.stringify(json), (key, value: unknown) => {
    if (!INT64_FIELDS.has(key)) return value;
    return Array.isArray(value) ? value.map(Number) : typeof value === 'string' ? Number(value) : value;
  });
}

function requireMethod(method: string, allowed: string): void {
  if (method !== allowed) throw new TritonRequestError(405, 'Method Not Allowed');
}

export function tritonErrorReply(status: number, message: string, headers?: Record<string, string>): Reply {
  return jsonReply(status, { error: message }, headers);
}

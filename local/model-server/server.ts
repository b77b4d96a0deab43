/**
 * Local stand-in for a SageMaker endpoint running Triton: one port answers the SageMaker Runtime
 * InvokeEndpoint API (as the AWS SDK calls it) and Triton's own HTTP/REST API, running the models of
 * `triton-image/model_repository` on onnxruntime-node. Requests are rejected as Triton would reject
 * them, and errors come back in the shape the real services use, so client code sees the same
 * status codes and typed SDK exceptions locally as in AWS.
 *
 * Like Triton, it takes v2 JSON and the binary tensor extension, runs each model version one
 * execution at a time, and merges concurrent requests into one execution for models whose config has
 * `dynamic_batching` (see model-scheduler.ts). With `faultInjection`, a control route that exists
 * only locally makes the SageMaker API fail, throttle, slow down or go away on demand.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { InferenceSession, Tensor as OrtTensor } from 'onnxruntime-node';
import type { Datatype, ModelSignature } from '../../contracts/model-signature';
import { InvalidInferenceRequestError } from '../../functions/inference/protocol';
import { type ModelDefinition, modelFilePath } from '../../triton-image/model-repository';
import { decodeInferRequest, type EncodedInferResponse, encodeInferResponse } from './codec';
import { FaultInjector, faultUpdateSchema } from './faults';
import { type Duration, InstanceScheduler, type ModelRunner, SchedulerClosedError } from './scheduler';
import type { NumericTensorData, Tensor, TensorValues } from './tensors';

export type { ModelRunner } from './scheduler';

export interface ModelServerOptions {
  /** Models to serve, as `loadModelRepository` reads them. */
  readonly models: readonly ModelDefinition[];
  /** @default 0 (a free port) */
  readonly port?: number;
  /** @default '127.0.0.1' */
  readonly host?: string;
  /**
   * SageMaker endpoints to answer InvokeEndpoint for. A request's TargetModel picks the model;
   * without one, the endpoint's `defaultModel` serves it.
   */
  readonly endpoints: Record<string, { readonly defaultModel?: string }>;
  /**
   * Serves `GET`, `POST` and `DELETE /local/faults`, which inject faults into InvokeEndpoint calls.
   * Only the local platform and tests turn it on; neither SageMaker nor Triton has such a route.
   * @default false
   */
  readonly faultInjection?: boolean;
}

export interface ModelServer {
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

/** The options name a model the server does not have. */
export class ModelServerOptionsError extends Error {
  override readonly name = 'ModelServerOptionsError';
}

/** InvokeEndpoint's payload limit. */
export const SAGEMAKER_MAX_PAYLOAD_BYTES = 6 * 1024 * 1024;
/** Triton's default `--http-max-input-size`. */
export const TRITON_MAX_INPUT_BYTES = 64 * 1024 * 1024;
/** The path of the fault injection control route. */
export const FAULTS_PATH = '/local/faults';

const ACCOUNT = '000000000000';
const DEFAULT_REGION = 'us-east-1';
const VARIANT = 'AllTraffic';
const JSON_TYPE = 'application/json';
// SageMaker strips custom headers, so Triton takes the binary header length in the content type.
const SAGEMAKER_BINARY_TYPE = 'application/vnd.sagemaker-triton.binary+json;json-header-size=';
const HEADER_LENGTH_HEADER = 'inference-header-content-length';
const CONTROL_BODY_LIMIT = 64 * 1024;

interface ServedVersion {
  readonly version: string;
  readonly session: InferenceSession;
  readonly scheduler: InstanceScheduler;
}

interface ServedModel {
  readonly definition: ModelDefinition;
  readonly versions: ReadonlyMap<string, ServedVersion>;
}

interface Reply {
  readonly status: number;
  readonly headers?: Record<string, string>;
  readonly body?: string | Buffer;
}

/** Reset the connection instead of answering (an endpoint that is down). */
const RESET = Symbol('reset');
/** The client went away before the answer was ready. */
const GONE = Symbol('gone');
type Outcome = Reply | typeof RESET | typeof GONE;

/** A request Triton turns down, with the status code Triton answers it with. */
class TritonRequestError extends Error {
  constructor(
    readonly status: 400 | 404 | 405 | 500 | 503,
    message: string,
  ) {
    super(message);
  }
}

type RequestBody = Buffer | { tooLarge: number };

export async function startModelServer(options: ModelServerOptions): Promise<ModelServer> {
  const models = await loadModels(options.models);
  try {
    for (const [endpoint, { defaultModel }] of Object.entries(options.endpoints)) {
      if (defaultModel !== undefined && !models.has(defaultModel)) {
        throw new ModelServerOptionsError(
          `endpoint ${endpoint}: default model '${defaultModel}' is not served`,
        );
      }
    }
    const faults = options.faultInjection ? new FaultInjector() : undefined;
    const triton = new TritonApi(models);
    const sagemaker = new SageMakerRuntimeApi(triton, options.endpoints, faults);
    const server = createServer((req, res) => {
      void handle(req, res, triton, sagemaker, faults);
    });
    const host = options.host ?? '127.0.0.1';
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port ?? 0, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const { port } = server.address() as AddressInfo;
    return {
      url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
      port,
      async close() {
        closeSchedulers(models);
        await new Promise<void>((resolve, reject) => {
          server.close((error) => (error ? reject(error) : resolve()));
          // Keep-alive sockets of SDK clients would otherwise hold the server open.
          server.closeAllConnections();
        });
        await releaseSessions(models);
      },
    };
  } catch (error) {
    closeSchedulers(models);
    await releaseSessions(models);
    throw error;
  }
}

async function handle(
  req: IncomingMessage,
  res: ServerResponse,
  triton: TritonApi,
  sagemaker: SageMakerRuntimeApi,
  faults: FaultInjector | undefined,
): Promise<void> {
  try {
    const [path = '/', query = ''] = (req.url ?? '/').split('?');
    const method = req.method ?? 'GET';
    const invocation = /^\/endpoints\/([^/]+)\/invocations$/.exec(path);
    let outcome: Outcome;
    if (invocation && method === 'POST') {
      outcome = await sagemaker.invoke(decodeSegment(invocation[1]!), req);
    } else if (faults !== undefined && path === FAULTS_PATH) {
      outcome = await faultsRoute(method, new URLSearchParams(query), req, faults);
    } else {
      const body = method === 'POST' ? await readBody(req, TRITON_MAX_INPUT_BYTES) : undefined;
      outcome = await triton.handle(method, path, body, headerValue(req.headers, HEADER_LENGTH_HEADER));
    }
    if (outcome === RESET) {
      req.socket.resetAndDestroy();
    } else if (outcome !== GONE) {
      send(res, outcome);
    }
  } catch (error) {
    // A client that hung up mid-request is no fault of the server.
    if (req.errored || res.destroyed) return;
    // Only a fault of this server gets here; bad requests are answered above.
    console.error('model server: unexpected error', error);
    if (!res.headersSent && !res.destroyed) {
      send(res, tritonErrorReply(500, 'internal error'));
    }
  }
}

function send(res: ServerResponse, reply: Reply): void {
  if (res.destroyed) return;
  const length = reply.body === undefined ? 0 : Buffer.byteLength(reply.body);
  res.writeHead(reply.status, { ...reply.headers, 'content-length': String(length) });
  res.end(reply.body);
}

/** The request body, or the number of bytes sent when that exceeds `limit` (which are drained unkept). */
function readBody(req: IncomingMessage, limit: number): Promise<RequestBody> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= limit) chunks.push(chunk);
    });
    req.once('end', () => {
      resolve(size > limit ? { tooLarge: size } : chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks));
    });
    req.once('error', reject);
    req.once('close', () => {
      if (!req.complete) reject(new Error('the client closed the connection before sending the whole body'));
    });
  });
}

function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

/**
 * Waits `ms`, or less when the client hangs up (a client timeout, or the server closing).
 * Resolves true when the whole wait passed.
 */
async function pause(ms: number, req: IncomingMessage): Promise<boolean> {
  const controller = new AbortController();
  const abort = () => controller.abort();
  req.socket.once('close', abort);
  try {
    await sleep(ms, undefined, { signal: controller.signal });
    return true;
  } catch {
    return false;
  } finally {
    req.socket.off('close', abort);
  }
}

// ---------------------------------------------------------------------------------------------
// Triton's HTTP/REST API

const MODEL_ROUTE = /^\/v2\/models\/([^/]+)(?:\/versions\/([0-9]+))?(?:\/(infer|ready|stats))?$/;

/** A Triton inference answer, before the API it came through formats it. */
type InferAnswer =
  | { readonly ok: true; readonly response: EncodedInferResponse }
  | { readonly ok: false; readonly reply: Reply };

class TritonApi {
  constructor(private readonly models: ReadonlyMap<string, ServedModel>) {}

  async handle(
    method: string,
    path: string,
    body: RequestBody | undefined,
    headerLength: string | undefined,
  ): Promise<Reply> {
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
          extensions: ['binary_tensor_data', 'statistics'],
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
          const answer = await this.infer(modelName, version, body ?? Buffer.alloc(0), headerLength);
          return answer.ok ? tritonInferReply(answer.response) : answer.reply;
        }
        requireMethod(method, 'GET');
        const served = this.resolve(modelName, version);
        if (action === 'ready') return { status: 200 };
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

  /**
   * Runs an inference request against `version`, or the latest version when none is named.
   * `headerLength` is the length of the JSON header when binary tensors follow it, as the client
   * sent it (a header or a content type parameter); undefined for a JSON body.
   */
  async infer(
    modelName: string,
    version: string | undefined,
    body: RequestBody,
    headerLength: string | undefined,
  ): Promise<InferAnswer> {
    try {
      const { model, served } = this.resolve(modelName, version);
      if (!Buffer.isBuffer(body)) {
        throw new TritonRequestError(
          400,
          `request JSON size of ${body.tooLarge} bytes exceeds the maximum allowed input size of ${TRITON_MAX_INPUT_BYTES} bytes`,
        );
      }
      const request = decodeInferRequest(body, parseHeaderLength(headerLength), {
        name: modelName,
        signature: model.definition.signature,
      });
      const results = await served.scheduler.submit(request.inputs);
      const outputs = request.outputs.map(({ name, binary }) => ({
        tensor: results.find((t) => t.name === name)!,
        binary,
      }));
      const response = encodeInferResponse(
        {
          model_name: modelName,
          model_version: served.version,
          ...(request.id === undefined ? {} : { id: request.id }),
          ...(request.parameters === undefined ? {} : { parameters: request.parameters }),
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
  if (error instanceof InvalidInferenceRequestError) return tritonErrorReply(400, error.message);
  if (error instanceof SchedulerClosedError) return tritonErrorReply(503, error.message);
  // A failure inside the model after the request passed validation: Triton answers 500. With
  // dynamic batching, every request of the failed execution gets it.
  return tritonErrorReply(500, `onnx runtime error: ${(error as Error).message}`);
}

/** The header length a client sent, or undefined for a JSON body. */
function parseHeaderLength(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\s*\d+\s*$/.test(value)) {
    throw new InvalidInferenceRequestError(`Unable to parse inference header size, got: ${value}`);
  }
  return Number(value);
}

function tritonInferReply({ body, headerLength }: EncodedInferResponse): Reply {
  if (headerLength === undefined) return { status: 200, headers: { 'content-type': JSON_TYPE }, body };
  return {
    status: 200,
    headers: {
      'content-type': 'application/octet-stream',
      [HEADER_LENGTH_HEADER]: String(headerLength),
    },
    body,
  };
}

/** Triton's statistics of a model's versions (or of one version), from its schedulers' counters. */
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
      compute_infer: { ...stats.computeInfer },
    },
    batch_stats: [...stats.batches]
      .sort(([a], [b]) => a - b)
      .map(([batchSize, computeInfer]: [number, Duration]) => ({
        batch_size: batchSize,
        compute_infer: { ...computeInfer },
      })),
  }));
}

function requireMethod(method: string, allowed: string): void {
  if (method !== allowed) throw new TritonRequestError(405, 'Method Not Allowed');
}

function jsonReply(status: number, body: unknown, headers: Record<string, string> = {}): Reply {
  return { status, headers: { 'content-type': JSON_TYPE, ...headers }, body: JSON.stringify(body) };
}

function tritonErrorReply(status: number, message: string): Reply {
  return jsonReply(status, { error: message });
}

// ---------------------------------------------------------------------------------------------
// SageMaker Runtime InvokeEndpoint

class SageMakerRuntimeApi {
  constructor(
    private readonly triton: TritonApi,
    private readonly endpoints: ModelServerOptions['endpoints'],
    private readonly faults: FaultInjector | undefined,
  ) {}

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
      headerLength = binaryHeaderLength(headerValue(req.headers, 'content-type'));
    } catch (error) {
      return modelError(requestId, region, endpointName, tritonErrorReply(400, (error as Error).message));
    }
    const targetModel = headerValue(req.headers, 'x-amzn-sagemaker-target-model');
    // A multi-model endpoint names model archives; Triton loads them by folder name.
    // An archive is `<model>.tar.gz` or `<model>/<hash>.tar.gz`; either way it names its model folder.
    const modelName = targetModel?.split('/')[0]?.replace(/\.tar\.gz$/, '') ?? endpoint.defaultModel;
    if (modelName === undefined) {
      return validationError(
        requestId,
        `Endpoint ${endpointName} serves several models; name one with TargetModel (X-Amzn-SageMaker-Target-Model).`,
      );
    }
    if (targetModel !== undefined && !this.triton.serves(modelName)) {
      return validationError(
        requestId,
        `Failed to download model data for TargetModel ${targetModel}: no such model.`,
      );
    }

    if (fault !== undefined && fault.latencyMs > 0 && !(await pause(fault.latencyMs, req))) return GONE;
    if (fault?.refusal?.kind === 'fail') {
      const { status } = fault.refusal;
      const container = tritonErrorReply(
        status,
        `the container answered ${status} (a fault injected by the local model server)`,
      );
      return modelError(requestId, region, endpointName, container);
    }

    const answer = await this.triton.infer(modelName, undefined, body, headerLength);
    if (!answer.ok) return modelError(requestId, region, endpointName, answer.reply);
    const { body: responseBody, headerLength: responseHeaderLength } = answer.response;
    return {
      status: 200,
      headers: {
        // Triton on SageMaker answers in its binary type whenever any output is binary.
        'content-type':
          responseHeaderLength === undefined ? JSON_TYPE : `${SAGEMAKER_BINARY_TYPE}${responseHeaderLength}`,
        'x-Amzn-Invoked-Production-Variant': VARIANT,
        'x-amzn-RequestId': requestId,
      },
      body: responseBody,
    };
  }
}

/**
 * The JSON header length of a SageMaker request, from a content type of
 * `application/vnd.sagemaker-triton.binary+json;json-header-size=N`; undefined for any other type,
 * which Triton reads as JSON.
 */
function binaryHeaderLength(contentType: string | undefined): string | undefined {
  const at = contentType?.indexOf(SAGEMAKER_BINARY_TYPE) ?? -1;
  if (contentType === undefined || at < 0) return undefined;
  if (at !== 0) {
    throw new InvalidInferenceRequestError(
      `expect MIME type for binary data starts with '${SAGEMAKER_BINARY_TYPE}', got: ${contentType}`,
    );
  }
  const size = contentType.slice(SAGEMAKER_BINARY_TYPE.length).split(';')[0]!;
  if (!/^\s*\d+\s*$/.test(size)) {
    throw new InvalidInferenceRequestError(`Unable to parse inference header size, got: ${size}`);
  }
  return size;
}

function validationError(requestId: string, message: string): Reply {
  return jsonReply(
    400,
    { Message: message },
    { 'x-amzn-ErrorType': 'ValidationError', 'x-amzn-RequestId': requestId },
  );
}

/** How SageMaker reports a container's error answer: 424 ModelError carrying the original status and body. */
function modelError(requestId: string, region: string, endpointName: string, container: Reply): Reply {
  const status = container.status;
  const original = container.body?.toString() ?? '';
  const logGroup = `/aws/sagemaker/Endpoints/${endpointName}`;
  const kind = status < 500 ? 'client' : 'server';
  return jsonReply(
    424,
    {
      ...(status < 500 ? { ErrorCode: 'CLIENT_ERROR_FROM_MODEL' } : {}),
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

function headerValue(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** The region the client signed for (SigV4 credential scope), so ARNs and links name it. */
function regionOf(headers: IncomingHttpHeaders): string {
  const scope = /Credential=[^/]+\/\d{8}\/([a-z0-9-]+)\//.exec(headerValue(headers, 'authorization') ?? '');
  return scope?.[1] ?? DEFAULT_REGION;
}

// ---------------------------------------------------------------------------------------------
// Fault injection control route (local only)

async function faultsRoute(
  method: string,
  query: URLSearchParams,
  req: IncomingMessage,
  faults: FaultInjector,
): Promise<Reply> {
  switch (method) {
    case 'GET':
      return jsonReply(200, { faults: faults.list() });
    case 'DELETE':
      faults.clear(query.get('endpoint') ?? undefined);
      return jsonReply(200, { faults: faults.list() });
    case 'POST': {
      const body = await readBody(req, CONTROL_BODY_LIMIT);
      let json: unknown;
      try {
        json = JSON.parse(Buffer.isBuffer(body) ? body.toString('utf8') : '');
      } catch {
        return tritonErrorReply(400, 'the body must be a JSON object describing the faults');
      }
      const update = faultUpdateSchema.safeParse(json);
      if (!update.success) {
        const issue = update.error.issues[0];
        const field = issue?.path.join('.') || 'body';
        return tritonErrorReply(400, `invalid fault '${field}': ${issue?.message ?? 'invalid'}`);
      }
      return jsonReply(200, { fault: faults.update(update.data) });
    }
    default:
      return tritonErrorReply(405, 'Method Not Allowed');
  }
}

// ---------------------------------------------------------------------------------------------
// onnxruntime

async function loadModels(definitions: readonly ModelDefinition[]): Promise<Map<string, ServedModel>> {
  const models = new Map<string, ServedModel>();
  try {
    for (const definition of definitions) {
      const versions = new Map<string, ServedVersion>();
      models.set(definition.name, { definition, versions });
      const { maxBatchSize } = definition.signature;
      for (const version of servedVersions(definition)) {
        const session = await InferenceSession.create(modelFilePath(definition, version), {
          executionProviders: ['cpu'],
          logSeverityLevel: 3,
          // onnxruntime's pool threads spin between runs by default, which takes a whole core from
          // the HTTP path, the rest of the local platform and the load generator sharing the machine.
          extra: { session: { intra_op: { allow_spinning: '0' } } },
        });
        // Triton enables dynamic batching only for models that batch at all.
        const batching =
          definition.dynamicBatching !== undefined && maxBatchSize > 0
            ? { ...definition.dynamicBatching, maxBatchSize }
            : undefined;
        const scheduler = new InstanceScheduler(
          onnxRunner(session, definition.signature),
          maxBatchSize > 0,
          batching,
        );
        versions.set(version, { version, session, scheduler });
      }
    }
    return models;
  } catch (error) {
    await releaseSessions(models);
    throw error;
  }
}

function closeSchedulers(models: ReadonlyMap<string, ServedModel>): void {
  for (const model of models.values()) {
    for (const version of model.versions.values()) version.scheduler.close();
  }
}

async function releaseSessions(models: ReadonlyMap<string, ServedModel>): Promise<void> {
  await Promise.all(
    [...models.values()].flatMap((m) => [...m.versions.values()].map((v) => v.session.release())),
  );
}

/** The versions Triton loads under the model's version_policy (default: the latest one). */
function servedVersions(definition: ModelDefinition): string[] {
  const policy = definition.config.versionPolicy?.policyChoice;
  if (policy?.case === 'all') return definition.versions;
  if (policy?.case === 'specific') {
    const wanted = new Set(policy.value.versions.map(String));
    return definition.versions.filter((v) => wanted.has(v));
  }
  const latest = policy?.case === 'latest' ? policy.value.numVersions : 1;
  return definition.versions.slice(-Math.max(1, latest));
}

const ORT_TYPES: Record<Datatype, OrtTensor.Type> = {
  BOOL: 'bool',
  UINT8: 'uint8',
  UINT16: 'uint16',
  UINT32: 'uint32',
  UINT64: 'uint64',
  INT8: 'int8',
  INT16: 'int16',
  INT32: 'int32',
  INT64: 'int64',
  FP16: 'float16',
  FP32: 'float32',
  FP64: 'float64',
  BYTES: 'string',
};

const utf8 = new TextEncoder();
const utf8Decoder = new TextDecoder();

function onnxRunner(session: InferenceSession, signature: ModelSignature): ModelRunner {
  const outputNames = signature.outputs.map((o) => o.name);
  return async (inputs) => {
    const feeds = Object.fromEntries(inputs.map((t) => [t.name, toOrtTensor(t)]));
    const results = await session.run(feeds, outputNames);
    return signature.outputs.map((output): Tensor => {
      const tensor = results[output.name];
      if (tensor === undefined) throw new Error(`the model returned no output '${output.name}'`);
      if (tensor.type !== ORT_TYPES[output.datatype]) {
        throw new Error(
          `the model returned output '${output.name}' as ${tensor.type}, but its config declares ${output.datatype}`,
        );
      }
      return {
        name: output.name,
        datatype: output.datatype,
        shape: [...tensor.dims],
        data: fromOrtData(output.datatype, tensor.data),
      };
    });
  };
}

function toOrtTensor({ datatype, data, shape }: Tensor): OrtTensor {
  if (datatype === 'BYTES') {
    // onnxruntime's string tensors are text: BYTES elements reach the model decoded as UTF-8.
    return new OrtTensor(
      'string',
      (data as Uint8Array[]).map((bytes) => utf8Decoder.decode(bytes)),
      shape,
    );
  }
  // Typed arrays of each datatype are what onnxruntime expects (bool: Uint8Array, float16: Uint16Array).
  return new OrtTensor(ORT_TYPES[datatype] as 'float32', data as Float32Array, shape);
}

function fromOrtData(datatype: Datatype, data: OrtTensor['data']): TensorValues {
  if (datatype === 'BYTES') return (data as string[]).map((text) => utf8.encode(text));
  return data as NumericTensorData;
}

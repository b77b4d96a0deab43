/**
 * Local stand-in for a SageMaker endpoint running Triton: one port answers the SageMaker Runtime
 * InvokeEndpoint API (as the AWS SDK calls it) and Triton's own HTTP/REST API, running the models of
 * `triton-image/model_repository` on onnxruntime-node. Requests are rejected as Triton would reject
 * them, and errors come back in the shape the real services use, so client code sees the same
 * status codes and typed SDK exceptions locally as in AWS.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { InferenceSession, Tensor } from 'onnxruntime-node';
import {
  type InferenceRequest,
  type InferenceResponse,
  type InputTensor,
  InvalidInferenceRequestError,
  type OutputTensor,
  parseInferenceRequest,
  type TensorData,
  validateAgainstSignature,
} from '../functions/shared/inference-protocol';
import type { Datatype, ModelSignature } from '../functions/shared/model-signature';
import { type ModelDefinition, modelFilePath } from '../triton-image/model-repository';

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
}

export interface ModelServer {
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

/**
 * Runs one validated request's inputs through a model version and returns every output of the
 * model. Dynamic batching slots in by wrapping this function.
 */
export type ModelRunner = (inputs: readonly InputTensor[]) => Promise<OutputTensor[]>;

/** The options name a model the server does not have. */
export class ModelServerOptionsError extends Error {
  override readonly name = 'ModelServerOptionsError';
}

/** InvokeEndpoint's payload limit. */
export const SAGEMAKER_MAX_PAYLOAD_BYTES = 6 * 1024 * 1024;
/** Triton's default `--http-max-input-size`. */
export const TRITON_MAX_INPUT_BYTES = 64 * 1024 * 1024;

const ACCOUNT = '000000000000';
const DEFAULT_REGION = 'us-east-1';
const VARIANT = 'AllTraffic';
const JSON_TYPE = 'application/json';
// SageMaker strips custom headers, so Triton takes the binary header length in the content type.
const SAGEMAKER_BINARY_TYPE = 'application/vnd.sagemaker-triton.binary+json';

interface ServedVersion {
  readonly version: string;
  readonly session: InferenceSession;
  readonly run: ModelRunner;
}

interface ServedModel {
  readonly definition: ModelDefinition;
  readonly versions: ReadonlyMap<string, ServedVersion>;
}

interface Reply {
  readonly status: number;
  readonly headers?: Record<string, string>;
  readonly body?: string;
}

/** A request Triton turns down, with the status code Triton answers it with. */
class TritonRequestError extends Error {
  constructor(
    readonly status: 400 | 404 | 405 | 500,
    message: string,
  ) {
    super(message);
  }
}

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
    const triton = new TritonApi(models);
    const sagemaker = new SageMakerRuntimeApi(triton, options.endpoints);
    const server = createServer((req, res) => {
      void handle(req, res, triton, sagemaker);
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
        await new Promise<void>((resolve, reject) => {
          server.close((error) => (error ? reject(error) : resolve()));
          // Keep-alive sockets of SDK clients would otherwise hold the server open.
          server.closeAllConnections();
        });
        await releaseSessions(models);
      },
    };
  } catch (error) {
    await releaseSessions(models);
    throw error;
  }
}

async function handle(
  req: IncomingMessage,
  res: ServerResponse,
  triton: TritonApi,
  sagemaker: SageMakerRuntimeApi,
): Promise<void> {
  try {
    const path = (req.url ?? '/').split('?')[0]!;
    const method = req.method ?? 'GET';
    const invocation = /^\/endpoints\/([^/]+)\/invocations$/.exec(path);
    let reply: Reply;
    if (invocation && method === 'POST') {
      reply = await sagemaker.invoke(decodeSegment(invocation[1]!), req);
    } else {
      const body = method === 'POST' ? await readBody(req, TRITON_MAX_INPUT_BYTES) : undefined;
      reply = await triton.handle(
        method,
        path,
        body,
        headerValue(req.headers, 'inference-header-content-length'),
      );
    }
    send(res, reply);
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
  res.writeHead(reply.status, reply.headers);
  res.end(reply.body);
}

/** The request body, or the number of bytes sent when that exceeds `limit` (which are drained unkept). */
async function readBody(req: IncomingMessage, limit: number): Promise<Buffer | { tooLarge: number }> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size <= limit) chunks.push(chunk);
  }
  return size > limit ? { tooLarge: size } : Buffer.concat(chunks);
}

function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

// ---------------------------------------------------------------------------------------------
// Triton's HTTP/REST API

const MODEL_ROUTE = /^\/v2\/models\/([^/]+)(?:\/versions\/([0-9]+))?(?:\/(infer|ready))?$/;

class TritonApi {
  constructor(private readonly models: ReadonlyMap<string, ServedModel>) {}

  async handle(
    method: string,
    path: string,
    body: Buffer | { tooLarge: number } | undefined,
    binaryHeaderLength?: string,
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
          extensions: [],
        });
      }
      const route = MODEL_ROUTE.exec(path);
      if (route) {
        const [, name, version, action] = route;
        const modelName = decodeSegment(name!);
        if (action === 'infer') {
          requireMethod(method, 'POST');
          if (binaryHeaderLength !== undefined) throw new TritonRequestError(400, BINARY_UNSUPPORTED);
          return await this.infer(modelName, version, body ?? Buffer.alloc(0));
        }
        requireMethod(method, 'GET');
        const served = this.resolve(modelName, version);
        return action === 'ready' ? { status: 200 } : jsonReply(200, this.metadata(served, version));
      }
      throw new TritonRequestError(404, 'Not Found');
    } catch (error) {
      if (error instanceof TritonRequestError) return tritonErrorReply(error.status, error.message);
      throw error;
    }
  }

  /** Runs a v2 JSON inference request against `version`, or the latest version when none is named. */
  async infer(
    modelName: string,
    version: string | undefined,
    body: Buffer | { tooLarge: number },
  ): Promise<Reply> {
    try {
      const { model, served } = this.resolve(modelName, version);
      const request = decodeRequest(body);
      validateAgainstSignature(request, model.definition.signature, modelName);
      const outputs = selectOutputs(request, model.definition.signature);
      const results = await served.run(request.inputs);
      const response: InferenceResponse = {
        model_name: modelName,
        model_version: served.version,
        outputs: outputs.map((name) => results.find((t) => t.name === name)!),
      };
      if (request.id !== undefined) response.id = request.id;
      if (request.parameters !== undefined) response.parameters = request.parameters;
      return jsonReply(200, response);
    } catch (error) {
      if (error instanceof TritonRequestError) return tritonErrorReply(error.status, error.message);
      if (error instanceof InvalidInferenceRequestError) return tritonErrorReply(400, error.message);
      // A failure inside the model after the request passed validation: Triton answers 500.
      return tritonErrorReply(500, `onnx runtime error: ${(error as Error).message}`);
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

function requireMethod(method: string, allowed: string): void {
  if (method !== allowed) throw new TritonRequestError(405, 'Method Not Allowed');
}

function decodeRequest(body: Buffer | { tooLarge: number }): InferenceRequest {
  if (!Buffer.isBuffer(body)) {
    throw new TritonRequestError(
      400,
      `request JSON size of ${body.tooLarge} bytes exceeds the maximum allowed input size of ${TRITON_MAX_INPUT_BYTES} bytes`,
    );
  }
  // Triton answers an empty body with a 500 (server issue 8762); it is the client's mistake.
  if (body.length === 0) {
    throw new TritonRequestError(400, 'the request body is empty; expected a v2 inference request in JSON');
  }
  let json: unknown;
  try {
    json = JSON.parse(body.toString('utf8'));
  } catch (error) {
    throw new TritonRequestError(400, `failed to parse the request JSON buffer: ${(error as Error).message}`);
  }
  // Checked before parsing: binary inputs carry no `data`, which would be the less helpful complaint.
  if (usesBinaryData(json)) throw new TritonRequestError(400, BINARY_UNSUPPORTED);
  const request = parseInferenceRequest(json);
  rejectFp16(request);
  return request;
}

const BINARY_UNSUPPORTED = 'the binary tensor data extension is not supported by the local model server yet';

/** Whether a request asks for binary tensors, which this server cannot send or read yet. */
function usesBinaryData(json: unknown): boolean {
  const parametersOf = (value: unknown): Record<string, unknown> => {
    const parameters = (value as { parameters?: unknown } | null)?.parameters;
    return typeof parameters === 'object' && parameters !== null
      ? (parameters as Record<string, unknown>)
      : {};
  };
  const tensors = (key: 'inputs' | 'outputs'): unknown[] => {
    const list = (json as Record<string, unknown> | null)?.[key];
    return Array.isArray(list) ? list : [];
  };
  return (
    typeof json === 'object' &&
    json !== null &&
    (parametersOf(json).binary_data_output === true ||
      tensors('inputs').some((t) => parametersOf(t).binary_data_size !== undefined) ||
      tensors('outputs').some((t) => parametersOf(t).binary_data === true))
  );
}

function rejectFp16(request: InferenceRequest): void {
  // Triton takes FP16 only as binary data.
  const fp16 = request.inputs.find((t) => t.datatype === 'FP16');
  if (fp16) {
    throw new TritonRequestError(
      400,
      `receiving FP16 data via JSON is not supported. Please use the binary data format for input ${fp16.name}`,
    );
  }
}

/** Names of the outputs to return: those requested, else all of the model's. */
function selectOutputs(request: InferenceRequest, signature: ModelSignature): string[] {
  const names = request.outputs?.map((o) => o.name) ?? signature.outputs.map((o) => o.name);
  if (names.some((name) => signature.outputs.find((o) => o.name === name)?.datatype === 'FP16')) {
    throw new TritonRequestError(
      400,
      'sending FP16 data via JSON is not supported. Please use the binary data format for output',
    );
  }
  return names;
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
  ) {}

  async invoke(endpointName: string, req: IncomingMessage): Promise<Reply> {
    const requestId = randomUUID();
    const region = regionOf(req.headers);
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

    const endpoint = Object.hasOwn(this.endpoints, endpointName) ? this.endpoints[endpointName] : undefined;
    if (endpoint === undefined) {
      return validationError(requestId, `Endpoint ${endpointName} of account ${ACCOUNT} not found.`);
    }
    if (headerValue(req.headers, 'content-type')?.startsWith(SAGEMAKER_BINARY_TYPE)) {
      return modelError(requestId, region, endpointName, tritonErrorReply(400, BINARY_UNSUPPORTED));
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

    const answer = await this.triton.infer(modelName, undefined, body);
    if (answer.status === 200) {
      return {
        ...answer,
        headers: {
          ...answer.headers,
          'x-Amzn-Invoked-Production-Variant': VARIANT,
          'x-amzn-RequestId': requestId,
        },
      };
    }
    return modelError(requestId, region, endpointName, answer);
  }
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
  const original = container.body ?? '';
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
// onnxruntime

async function loadModels(definitions: readonly ModelDefinition[]): Promise<Map<string, ServedModel>> {
  const models = new Map<string, ServedModel>();
  try {
    for (const definition of definitions) {
      const versions = new Map<string, ServedVersion>();
      models.set(definition.name, { definition, versions });
      for (const version of servedVersions(definition)) {
        const session = await InferenceSession.create(modelFilePath(definition, version), {
          executionProviders: ['cpu'],
          logSeverityLevel: 3,
        });
        versions.set(version, { version, session, run: onnxRunner(session, definition.signature) });
      }
    }
    return models;
  } catch (error) {
    await releaseSessions(models);
    throw error;
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

function onnxRunner(session: InferenceSession, signature: ModelSignature): ModelRunner {
  const outputNames = signature.outputs.map((o) => o.name);
  return async (inputs) => {
    const feeds = Object.fromEntries(inputs.map((t) => [t.name, toOrtTensor(t)]));
    const results = await session.run(feeds, outputNames);
    return signature.outputs.map((output) => {
      const tensor = results[output.name];
      if (tensor === undefined) throw new Error(`the model returned no output '${output.name}'`);
      return {
        name: output.name,
        datatype: output.datatype,
        shape: [...tensor.dims],
        data: fromOrtData(output.datatype, tensor.data),
      };
    });
  };
}

function toOrtTensor({ datatype, data, shape }: InputTensor): Tensor {
  const numbers = data as number[];
  switch (datatype) {
    case 'BOOL':
      return new Tensor(
        'bool',
        Uint8Array.from(data, (v) => (v ? 1 : 0)),
        shape,
      );
    case 'UINT8':
      return new Tensor('uint8', Uint8Array.from(numbers), shape);
    case 'UINT16':
      return new Tensor('uint16', Uint16Array.from(numbers), shape);
    case 'UINT32':
      return new Tensor('uint32', Uint32Array.from(numbers), shape);
    case 'UINT64':
      return new Tensor('uint64', BigUint64Array.from(numbers, BigInt), shape);
    case 'INT8':
      return new Tensor('int8', Int8Array.from(numbers), shape);
    case 'INT16':
      return new Tensor('int16', Int16Array.from(numbers), shape);
    case 'INT32':
      return new Tensor('int32', Int32Array.from(numbers), shape);
    case 'INT64':
      return new Tensor('int64', BigInt64Array.from(numbers, BigInt), shape);
    case 'FP32':
      return new Tensor('float32', Float32Array.from(numbers), shape);
    case 'FP64':
      return new Tensor('float64', Float64Array.from(numbers), shape);
    case 'BYTES':
      return new Tensor('string', data as string[], shape);
    case 'FP16':
      throw new Error('FP16 tensors arrive only as binary data');
  }
}

function fromOrtData(datatype: Datatype, data: Tensor['data']): TensorData {
  if (datatype === 'BOOL') return Array.from(data as Uint8Array, (v) => v !== 0);
  if (datatype === 'BYTES') return [...(data as string[])];
  // 64-bit integers become JSON numbers, as Triton writes them.
  if (datatype === 'INT64' || datatype === 'UINT64') return Array.from(data as BigInt64Array, Number);
  return Array.from(data as Float64Array);
}

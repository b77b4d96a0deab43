import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { SageMakerRuntimeClient } from '@aws-sdk/client-sagemaker-runtime';
import { METRIC } from '../../contracts/metric-catalog';
import {
  ALIAS_NAME,
  type Backend,
  MODEL_NAME,
  MODEL_VERSION,
  type ModelVersion,
} from '../../contracts/registry-schemas';
import {
  BackendTimeoutError,
  BackendUnavailableError,
  BadRequestError,
  NotFoundError,
  PlatformError,
} from '../edge/errors';
import { logger } from '../observability/logger';
import { publishEvent } from '../observability/metrics';
import type { ModelCache } from '../registry/model-cache';
import { latestActiveVersion, type Model, versionNotFound } from '../registry/registry';
import { type CircuitBreaker, circuitName } from './circuit-breaker';
import type { BackendAnswer, InferencePayload } from './codec';
import { validateAgainstSignature } from './protocol';
import { invokeBackend, isRetryable, ModelLoadingError } from './sagemaker-backend';

export interface InferenceDependencies {
  readonly sagemaker: SageMakerRuntimeClient;
  readonly circuits: Pick<CircuitBreaker, 'admit' | 'recordSuccess' | 'recordFailure'>;
  /** Time for all attempts together; below API Gateway's 29 s so the client gets our 504. */
  readonly timeoutMs: number;
  /** Source of randomness for weighted backend choice; injectable so tests can pin it. */
  readonly random?: () => number;
  readonly now?: () => number;
}

export interface ResolvedTarget {
  readonly model: Model;
  readonly version: ModelVersion;
}

/**
 * Finds the version a request addresses: a version number, an alias (a weighted choice among its
 * active versions that is the same for the same routing key, so a retried request lands on the same
 * version), or, when the URL names neither, the latest active version. A disabled or unknown version
 * is 404; a `LOADING` or `FAILED` one is returned, for the readiness route to report.
 */
export async function resolveVersion(
  models: Pick<ModelCache, 'getModel'>,
  name: string,
  versionOrAlias: string | undefined,
  routingKey: string,
): Promise<ResolvedTarget> {
  if (!MODEL_NAME.test(name)) throw new BadRequestError(`invalid model name '${name}'`);
  const model = await models.getModel(name);
  if (!model || model.versions.length === 0) throw new NotFoundError(`model '${name}' is not found`);
  let versionName: string | undefined;
  if (versionOrAlias === undefined) {
    versionName = latestActiveVersion(model.versions)?.version;
    if (!versionName) throw new NotFoundError(`model '${name}' has no active version`);
  } else if (MODEL_VERSION.test(versionOrAlias)) {
    versionName = versionOrAlias;
  } else if (ALIAS_NAME.test(versionOrAlias)) {
    const alias = model.aliases.find((a) => a.alias === versionOrAlias);
    if (!alias) throw new NotFoundError(`model '${name}' has no version or alias '${versionOrAlias}'`);
    // The alias write admits active versions only; should one stop being active meanwhile, its
    // share goes to the others rather than to a version that cannot serve.
    const active = alias.routes.filter((r) => isActive(model, r.version));
    versionName = pickWeighted(active.length ? active : alias.routes, routingPoint(routingKey)).version;
  } else {
    throw new BadRequestError(`'${versionOrAlias}' is neither a version number nor an alias name`);
  }
  const version = model.versions.find((v) => v.version === versionName);
  if (!version || version.status === 'DISABLED') throw versionNotFound(name, versionName);
  return { model, version };
}

/** Resolves as `resolveVersion` does, and refuses a version that is not `ACTIVE`. */
export async function resolveTarget(
  models: Pick<ModelCache, 'getModel'>,
  name: string,
  versionOrAlias: string | undefined,
  routingKey: string,
): Promise<ResolvedTarget> {
  const target = await resolveVersion(models, name, versionOrAlias, routingKey);
  refuseUnlessActive(target.version);
  return target;
}

/**
 * A `LOADING` version is warming up: a 503 with `Retry-After`, as for a model the endpoint is still
 * loading. A `FAILED` version never serves: a 409 carrying the reason its warm-up gave.
 */
export function refuseUnlessActive(version: ModelVersion): void {
  const named = `model '${version.name}' version ${version.version}`;
  if (version.status === 'LOADING') {
    throw new ModelLoadingError(`${named} is LOADING: its warm-up has not finished; try again shortly`);
  }
  if (version.status === 'FAILED') {
    throw new VersionFailedError(
      `${named} FAILED its warm-up and serves no traffic: ${version.statusReason ?? 'no reason recorded'}`,
    );
  }
}

/** A version whose warm-up failed is addressed: nothing will change until it is pushed again. */
export class VersionFailedError extends PlatformError {
  readonly statusCode = 409;
  readonly code = 'MODEL_FAILED';
}

function isActive(model: Model, version: string): boolean {
  return model.versions.some((v) => v.version === version && v.status === 'ACTIVE');
}

/** Open Inference Protocol model metadata; `versions` lists every active version unless one was named. */
export function modelMetadata({ model, version }: ResolvedTarget, versionNamed: boolean) {
  return {
    name: model.name,
    versions: versionNamed
      ? [version.version]
      : model.versions.filter((v) => v.status === 'ACTIVE').map((v) => v.version),
    platform: version.platform,
    inputs: version.inputs,
    outputs: version.outputs,
  };
}

/**
 * The model configuration Triton would return for the version (its model configuration extension:
 * the JSON form of model_config.proto's ModelConfig, field names as in the proto), as far as the
 * registry knows it: name, platform, max_batch_size and each tensor's data_type and dims (without
 * the batch dimension, as config.pbtxt writes them). Everything else Triton would add (version_policy,
 * instance_group, dynamic_batching, optimization, backend, default_model_filename, label_filename
 * and the like) lives only in the model's config.pbtxt on the endpoint, so it is left out.
 */
export function modelConfig({ model, version }: ResolvedTarget) {
  const batches = version.maxBatchSize > 0;
  const tensor = ({ name, datatype, shape }: ModelVersion['inputs'][number]) => ({
    name,
    // model_config.proto names BYTES TYPE_STRING.
    data_type: `TYPE_${datatype === 'BYTES' ? 'STRING' : datatype}`,
    dims: batches ? shape.slice(1) : [...shape],
  });
  return {
    name: model.name,
    platform: version.platform,
    max_batch_size: version.maxBatchSize,
    input: version.inputs.map(tensor),
    output: version.outputs.map(tensor),
  };
}

/** Picks an item with probability proportional to its weight, for a point in [0, 1). */
export function pickWeighted<T extends { readonly weight: number }>(items: readonly T[], point: number): T {
  const total = items.reduce((sum, item) => sum + item.weight, 0);
  let remaining = point * total;
  for (const item of items) {
    remaining -= item.weight;
    if (remaining < 0) return item;
  }
  return items[items.length - 1]!;
}

/** A stable point in [0, 1) for a routing key (32-bit FNV-1a). */
export function routingPoint(key: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    hash ^= key.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash / 2 ** 32;
}

/** The weighted choice first, then the other backends by descending weight, as failover candidates. */
export function backendsInOrder(backends: readonly Backend[], random: () => number = Math.random): Backend[] {
  const first = pickWeighted(backends, random());
  return [first, ...backends.filter((b) => b !== first).sort((a, b) => b.weight - a.weight)];
}

/** Checks a decoded request against the version's signature before any backend call, then sends it. */
export async function infer(
  deps: InferenceDependencies,
  version: ModelVersion,
  payload: InferencePayload,
): Promise<BackendAnswer> {
  validateAgainstSignature(payload.request, version, version.name);
  return inferChecked(deps, version, payload);
}

/**
 * Sends a request already checked against the version's signature (a batch item is checked when
 * its job is submitted) to a backend whose circuit admits it. On a retryable failure (throttling,
 * 5xx, connection error, timeout) it counts the failure against that backend and fails over once to
 * another admitted backend. A backend whose circuit is open is skipped without a call; when every
 * circuit is open the answer is 503 with the shortest `Retry-After`.
 */
export async function inferChecked(
  deps: InferenceDependencies,
  version: ModelVersion,
  payload: Pick<InferencePayload, 'body' | 'contentType'>,
): Promise<BackendAnswer> {
  const now = deps.now ?? Date.now;
  const deadline = now() + deps.timeoutMs;
  const circuits = tolerant(deps.circuits);
  const retryAfter: number[] = [];
  let attempts = 0;
  let lastFailure: unknown;
  for (const backend of backendsInOrder(version.backends, deps.random)) {
    if (attempts === MAX_ATTEMPTS || now() >= deadline) break;
    const admission = await circuits.admit(backend);
    if (admission.kind === 'open') {
      retryAfter.push(admission.retryAfterSeconds);
      continue;
    }
    // Reading the circuit can itself be slow (a throttled table): what is left may be nothing.
    const remainingMs = deadline - now();
    if (remainingMs <= 0) {
      lastFailure ??= new BackendTimeoutError(
        `model '${version.name}' version ${version.version} could not be called in time; try again later`,
      );
      break;
    }
    attempts++;
    try {
      const answer = await invokeBackend(deps.sagemaker, backend, payload, AbortSignal.timeout(remainingMs));
      if (await circuits.recordSuccess(backend, admission)) {
        logger.info('circuit closed', { backend: circuitName(backend) });
        publishEvent(METRIC.circuitClosed, MetricUnit.Count, 1, { backend: circuitName(backend) });
      }
      return answer;
    } catch (error) {
      // A model that judged the request is a healthy backend; only backend failures count.
      if (!isRetryable(error)) {
        await circuits.recordSuccess(backend, admission);
        throw error;
      }
      lastFailure = error;
      publishEvent(METRIC.backendErrors, MetricUnit.Count, 1, { backend: circuitName(backend) });
      if (await circuits.recordFailure(backend, admission)) {
        logger.warn('circuit opened', { backend: circuitName(backend) });
        publishEvent(METRIC.circuitOpened, MetricUnit.Count, 1, { backend: circuitName(backend) });
      }
    }
  }
  if (lastFailure) throw lastFailure;
  throw new BackendUnavailableError(
    `every backend of model '${version.name}' version ${version.version} is failing; try again later`,
    Math.min(...retryAfter, 30),
  );
}

/** First attempt plus one failover. */
const MAX_ATTEMPTS = 2;

/**
 * The breaker's own storage failing must not fail inference: an unreadable circuit counts as
 * closed and an unrecorded outcome is logged, as the rate limiter does.
 */
function tolerant(circuits: InferenceDependencies['circuits']): InferenceDependencies['circuits'] {
  const logged = async <T>(what: string, fallback: T, call: () => Promise<T>): Promise<T> => {
    try {
      return await call();
    } catch (error) {
      logger.warn(`circuit breaker ${what} failed`, { error: error as Error });
      return fallback;
    }
  };
  return {
    admit: (b) => logged('read', { kind: 'closed' } as const, () => circuits.admit(b)),
    recordSuccess: (b, a) => logged('write', false, () => circuits.recordSuccess(b, a)),
    recordFailure: (b, a) => logged('write', false, () => circuits.recordFailure(b, a)),
  };
}

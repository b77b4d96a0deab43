/**
 * Local stand-in for a SageMaker endpoint running Triton: one port answers the SageMaker Runtime
 * InvokeEndpoint API (as the AWS SDK calls it) and Triton's own HTTP/REST API, running the models of
 * `triton-image/model_repository` on onnxruntime-node. Requests are rejected as Triton would reject
 * them, and errors come back in the shape the real services use, so client code sees the same
 * status codes and typed SDK exceptions locally as in AWS.
 *
 * Like Triton, it takes v2 JSON and the binary tensor extension, runs each model version one
 * execution at a time, and merges concurrent requests into one execution for models whose config has
 * `dynamic_batching` (see scheduler.ts). With `faultInjection`, a control route that exists
 * only locally makes the SageMaker API fail, throttle, slow down or go away on demand.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { ModelDefinition } from '../../triton-image/model-repository';
import { listenOnLoopback } from '../loopback';
import { FaultInjector } from './faults';
import { FAULTS_PATH, faultsRoute } from './faults-route';
import { decodeSegment, GONE, type Outcome, RESET, send } from './http';
import { LocalModelStore, type ModelStoreLocation } from './model-store';
import { MultiModelMetrics } from './multi-model-metrics';
import { closeSchedulers, loadModels, releaseSessions } from './runner';
import { type SageMakerEndpoints, SageMakerRuntimeApi } from './sagemaker-api';
import { isSageMakerControlRequest, SageMakerControlApi } from './sagemaker-control';
import { TritonApi, tritonErrorReply } from './triton-api';

export { FAULTS_PATH } from './faults-route';
export type { ModelRunner } from './scheduler';

export interface ModelServerOptions {
  /** Models to serve, as `loadModelRepository` reads them. */
  readonly models: readonly ModelDefinition[];
  /** @default 0 (a free port) */
  readonly port?: number;
  /** SageMaker endpoints to answer InvokeEndpoint for. */
  readonly endpoints: SageMakerEndpoints;
  /** Endpoints InvokeEndpoint callers may invoke; others get AccessDeniedException. @default - all */
  readonly invokableEndpoints?: readonly string[];
  /**
   * Serves `GET`, `POST` and `DELETE /local/faults`, which inject faults into InvokeEndpoint calls.
   * Only the local platform and tests turn it on; neither SageMaker nor Triton has such a route.
   * @default false
   */
  readonly faultInjection?: boolean;
  /**
   * The multi-model endpoints' model data (`ModelDataUrl`): a TargetModel is loaded from the archive
   * of that name under it on first request. Without it, a TargetModel names one of `models`.
   */
  readonly modelStore?: ModelStoreLocation;
  /**
   * The memory the multi-model endpoints' loaded models may take (bytes of their unpacked model
   * folders); past it, least recently used models are unloaded (model-store.ts).
   * @default - no budget
   */
  readonly modelMemoryBudgetBytes?: number;
}

export interface ModelServer {
  readonly url: string;
  readonly port: number;
  /** What the multi-model endpoints record about their model cache, as SageMaker publishes it. */
  readonly multiModelMetrics: MultiModelMetrics;
  close(): Promise<void>;
}

/** The options name a model the server does not have. */
export class ModelServerOptionsError extends Error {
  override readonly name = 'ModelServerOptionsError';
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
    const faults = options.faultInjection ? new FaultInjector() : undefined;
    const triton = new TritonApi(models);
    const multiModelMetrics = new MultiModelMetrics();
    const store =
      options.modelStore &&
      new LocalModelStore(options.modelStore, {
        memoryBudgetBytes: options.modelMemoryBudgetBytes,
        metrics: multiModelMetrics,
      });
    const sagemaker = new SageMakerRuntimeApi(
      triton,
      options.endpoints,
      faults,
      options.invokableEndpoints,
      store,
    );
    const server = createServer((req, res) => {
      void handle(req, res, triton, sagemaker, faults);
    });
    const { url, port } = await listenOnLoopback(server, options.port ?? 0);
    return {
      url,
      port,
      multiModelMetrics,
      async close() {
        closeSchedulers(models);
        await new Promise<void>((resolve, reject) => {
          server.close((error) => (error ? reject(error) : resolve()));
          // Keep-alive sockets of SDK clients would otherwise hold the server open.
          server.closeAllConnections();
        });
        await releaseSessions(models);
        await store?.close();
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
    } else if (isSageMakerControlRequest(method, path, req)) {
      outcome = await new SageMakerControlApi(sagemaker.endpoints).handle(req);
    } else if (faults !== undefined && path === FAULTS_PATH) {
      outcome = await faultsRoute(method, new URLSearchParams(query), req, faults);
    } else {
      outcome = await triton.handle(method, path, req);
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

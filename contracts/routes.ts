/**
 * The HTTP surface of the platform: one table that both the CDK stack and the local API Gateway
 * emulator read, so a route exists in both places or in neither.
 */
import type { ApiFunctionName } from './functions';

/** OAuth-style scopes a token may carry; each protected route needs exactly one. */
export const SCOPES = [
  'models:read',
  'models:write',
  'inference:invoke',
  'batch:submit',
  'batch:read',
  'admin',
] as const;
export type Scope = (typeof SCOPES)[number];

export type { ApiFunctionName };

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

export interface Route {
  readonly method: HttpMethod;
  /** API Gateway resource path, with `{name}` path parameters. */
  readonly path: string;
  /** The catalogue's function (functions.ts) behind the route. */
  readonly function: ApiFunctionName;
  /** Scope the caller's token must hold; routes without one are public (no authorizer). */
  readonly scope?: Scope;
}

export const ROUTES: readonly Route[] = [
  { method: 'GET', path: '/health', function: 'health' },
  { method: 'GET', path: '/v2/health/live', function: 'health' },
  { method: 'GET', path: '/v2/health/ready', function: 'health' },
  { method: 'GET', path: '/openapi.json', function: 'health' },
  // Server metadata (Open Inference Protocol): public like the health routes, and as cheap.
  { method: 'GET', path: '/v2', function: 'health' },
  { method: 'GET', path: '/v2/models/{model}', function: 'inference', scope: 'models:read' },
  { method: 'GET', path: '/v2/models/{model}/ready', function: 'inference', scope: 'models:read' },
  {
    method: 'GET',
    path: '/v2/models/{model}/versions/{version}',
    function: 'inference',
    scope: 'models:read',
  },
  {
    method: 'GET',
    path: '/v2/models/{model}/versions/{version}/ready',
    function: 'inference',
    scope: 'models:read',
  },
  // Triton's model configuration extension, answered from the registry.
  { method: 'GET', path: '/v2/models/{model}/config', function: 'inference', scope: 'models:read' },
  {
    method: 'GET',
    path: '/v2/models/{model}/versions/{version}/config',
    function: 'inference',
    scope: 'models:read',
  },
  { method: 'POST', path: '/v2/models/{model}/infer', function: 'inference', scope: 'inference:invoke' },
  {
    method: 'POST',
    path: '/v2/models/{model}/versions/{version}/infer',
    function: 'inference',
    scope: 'inference:invoke',
  },
  { method: 'POST', path: '/v1/models', function: 'models', scope: 'models:write' },
  { method: 'GET', path: '/v1/models', function: 'models', scope: 'models:read' },
  { method: 'GET', path: '/v1/models/{model}', function: 'models', scope: 'models:read' },
  { method: 'GET', path: '/v1/models/{model}/versions/{version}', function: 'models', scope: 'models:read' },
  {
    method: 'PATCH',
    path: '/v1/models/{model}/versions/{version}',
    function: 'models',
    scope: 'models:write',
  },
  {
    method: 'DELETE',
    path: '/v1/models/{model}/versions/{version}',
    function: 'models',
    scope: 'models:write',
  },
  // Pushing a version: presigned upload of its archive into the model store, then the check that registers it.
  {
    method: 'POST',
    path: '/v1/models/{model}/versions/{version}/upload',
    function: 'models',
    scope: 'models:write',
  },
  {
    method: 'POST',
    path: '/v1/models/{model}/versions/{version}/upload/complete',
    function: 'models',
    scope: 'models:write',
  },
  { method: 'PUT', path: '/v1/models/{model}/aliases/{alias}', function: 'models', scope: 'models:write' },
  { method: 'DELETE', path: '/v1/models/{model}/aliases/{alias}', function: 'models', scope: 'models:write' },
  // A batch input file: presigned upload into the batch data bucket, and the multipart completion.
  { method: 'POST', path: '/v1/batch-inputs', function: 'batch', scope: 'batch:submit' },
  { method: 'POST', path: '/v1/batch-inputs/{inputId}/complete', function: 'batch', scope: 'batch:submit' },
  { method: 'POST', path: '/v1/batch-jobs', function: 'batch', scope: 'batch:submit' },
  { method: 'GET', path: '/v1/batch-jobs', function: 'batch', scope: 'batch:read' },
  { method: 'GET', path: '/v1/batch-jobs/{jobId}', function: 'batch', scope: 'batch:read' },
  { method: 'GET', path: '/v1/batch-jobs/{jobId}/results', function: 'batch', scope: 'batch:read' },
  { method: 'POST', path: '/v1/batch-jobs/{jobId}/cancel', function: 'batch', scope: 'batch:submit' },
  { method: 'POST', path: '/v1/batch-jobs/{jobId}/retry', function: 'batch', scope: 'batch:submit' },
  { method: 'DELETE', path: '/v1/batch-jobs/{jobId}', function: 'batch', scope: 'batch:submit' },
];

/** A compiled route: the table entry plus a matcher that extracts path parameters. */
export interface MatchedRoute {
  readonly route: Route;
  readonly pathParameters: Record<string, string>;
}

const compiled = ROUTES.map((route) => {
  const names: string[] = [];
  const source = route.path
    .split('/')
    .map((segment) => {
      const param = /^\{(\w+)\}$/.exec(segment);
      if (!param) return segment.replace(/[.*+?^$()|[\]\\]/g, '\\$&');
      names.push(param[1]!);
      return '([^/]+)';
    })
    .join('/');
  return { route, names, pattern: new RegExp(`^${source}$`) };
});

/**
 * Finds the route for a method and path as API Gateway would. Returns `'method-not-allowed'` when
 * the path exists under another method, so callers can answer like the gateway does.
 */
export function matchRoute(method: string, path: string): MatchedRoute | 'not-found' | 'method-not-allowed' {
  let pathExists = false;
  for (const { route, names, pattern } of compiled) {
    const found = pattern.exec(path);
    if (!found) continue;
    pathExists = true;
    if (route.method !== method) continue;
    const pathParameters: Record<string, string> = {};
    try {
      names.forEach((name, i) => {
        pathParameters[name] = decodeURIComponent(found[i + 1]!);
      });
    } catch {
      return 'not-found'; // malformed percent-encoding names no resource
    }
    return { route, pathParameters };
  }
  return pathExists ? 'method-not-allowed' : 'not-found';
}

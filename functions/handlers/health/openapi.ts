/**
 * The OpenAPI 3.1 description of the HTTP API, built from the route table and from the zod schemas
 * the handlers validate with, so the document cannot drift from what the API accepts. Only
 * SDK-free modules are imported here: the health function serves the document.
 */

import {
  AliasNameSchema,
  AliasSchema,
  ModelNameSchema,
  ModelVersionSchema,
  VersionSchema,
} from '../../../contracts/registry-schemas';
import { ROUTES, type Route } from '../../../contracts/routes';
import * as z from '../../../contracts/zod';
import {
  IdempotencyKeySchema,
  JobIdSchema,
  ListJobsQuerySchema,
  ListResultsQuerySchema,
  SubmitBatchJobSchema,
} from '../../batch/api-schemas';
import { CompleteInputUploadSchema, InputIdSchema, StartInputUploadSchema } from '../../batch/input-schemas';
import { requestSchema as InferenceRequestSchema } from '../../inference/protocol';
import {
  CompleteUploadSchema,
  ListModelsQuerySchema,
  PutAliasSchema,
  RegisterVersionSchema,
  StartUploadSchema,
  VersionPatchSchema,
} from '../../registry/api-schemas';

type JsonSchema = Record<string, unknown>;

/**
 * A zod schema as JSON Schema 2020-12 (OpenAPI 3.1's dialect). Request shapes are described as
 * clients send them (`io: 'input'`: defaults make fields optional, refinements that JSON Schema
 * cannot express are left to the handler); what JSON Schema cannot express at all becomes `{}`.
 */
function jsonSchema(schema: z.ZodMiniType, io: 'input' | 'output' = 'input'): JsonSchema {
  const { $schema: _dialect, ...rest } = z.toJSONSchema(schema, {
    target: 'draft-2020-12',
    io,
    unrepresentable: 'any',
    // zod's `readonly` means "immutable once parsed"; OpenAPI's `readOnly` means "never sent".
    override: (ctx) => {
      delete ctx.jsonSchema.readOnly;
    },
  }) as JsonSchema;
  return rest;
}

const key = (route: Pick<Route, 'method' | 'path'>) => `${route.method} ${route.path}`;

/** Request bodies, by route; every POST, PUT and PATCH route not listed here takes no body. */
const REQUEST_BODIES: Readonly<Record<string, z.ZodMiniType>> = {
  'POST /v2/models/{model}/infer': InferenceRequestSchema,
  'POST /v2/models/{model}/versions/{version}/infer': InferenceRequestSchema,
  'POST /v1/models': RegisterVersionSchema,
  'PATCH /v1/models/{model}/versions/{version}': VersionPatchSchema,
  'PUT /v1/models/{model}/aliases/{alias}': PutAliasSchema,
  'POST /v1/models/{model}/versions/{version}/upload': StartUploadSchema,
  'POST /v1/models/{model}/versions/{version}/upload/complete': CompleteUploadSchema,
  'POST /v1/batch-jobs': SubmitBatchJobSchema,
  'POST /v1/batch-inputs': StartInputUploadSchema,
  'POST /v1/batch-inputs/{inputId}/complete': CompleteInputUploadSchema,
};

const QUERIES: Readonly<Record<string, z.ZodMiniObject>> = {
  'GET /v1/models': ListModelsQuerySchema,
  'GET /v1/batch-jobs': ListJobsQuerySchema,
  'GET /v1/batch-jobs/{jobId}/results': ListResultsQuerySchema,
};

/** Success status and, where a zod schema describes it, the response body. */
const SUCCESS: Readonly<Record<string, { status: number; description: string; schema?: z.ZodMiniType }>> = {
  'POST /v1/models': {
    status: 201,
    description: 'registered (`Location` names it)',
    schema: ModelVersionSchema,
  },
  'GET /v1/models/{model}/versions/{version}': {
    status: 200,
    description: 'the version',
    schema: ModelVersionSchema,
  },
  'PATCH /v1/models/{model}/versions/{version}': {
    status: 200,
    description: 'the updated version',
    schema: ModelVersionSchema,
  },
  'DELETE /v1/models/{model}/versions/{version}': { status: 204, description: 'deleted' },
  'PUT /v1/models/{model}/aliases/{alias}': { status: 200, description: 'the alias', schema: AliasSchema },
  'DELETE /v1/models/{model}/aliases/{alias}': { status: 204, description: 'deleted' },
  'POST /v1/models/{model}/versions/{version}/upload': {
    status: 200,
    description:
      'where to upload the archive: one presigned PUT, presigned parts, or nothing when it is stored already',
  },
  'POST /v1/models/{model}/versions/{version}/upload/complete': {
    status: 201,
    description: 'the archive was checked and the version registered (`Location` names it)',
    schema: ModelVersionSchema,
  },
  'POST /v1/batch-inputs': {
    status: 200,
    description:
      "the input file's `inputId` (its `name` when given) and where to upload it: one presigned PUT, presigned parts, or nothing when the input its idempotency key or name names is stored already",
  },
  'POST /v1/batch-inputs/{inputId}/complete': {
    status: 200,
    description: 'the multipart upload is complete: the input file and its size',
  },
  'POST /v1/batch-jobs': { status: 202, description: 'accepted (`Location` names the job)' },
  'POST /v1/batch-jobs/{jobId}/cancel': { status: 202, description: 'cancel requested' },
  'POST /v1/batch-jobs/{jobId}/retry': {
    status: 202,
    description: "retry started: the job's failed items run again",
  },
  'DELETE /v1/batch-jobs/{jobId}': { status: 204, description: 'the job and its data deleted' },
};

/** Routes that answer 409 (README: status codes). */
const CONFLICTS = new Set([
  'POST /v1/models',
  'PATCH /v1/models/{model}/versions/{version}',
  'DELETE /v1/models/{model}/versions/{version}',
  'POST /v1/models/{model}/versions/{version}/upload',
  'POST /v1/models/{model}/versions/{version}/upload/complete',
  'POST /v1/batch-jobs',
  'POST /v1/batch-jobs/{jobId}/cancel',
  'POST /v1/batch-jobs/{jobId}/retry',
  'DELETE /v1/batch-jobs/{jobId}',
]);

/** Routes that take an `Idempotency-Key`, and what it does; they answer 422 for a key reused. */
const IDEMPOTENCY_KEYS: Readonly<Record<string, string>> = {
  'POST /v1/batch-jobs': 'a retry with the same key and body returns the same job; another body is a 422',
  'POST /v1/batch-inputs':
    'a retry with the same key names the same input, `stored` once it is uploaded; another size is a 422 (a `name` in the body works the same way, and cannot go with a key)',
};

const ERROR_DESCRIPTIONS: Readonly<Record<number, string>> = {
  400: 'malformed JSON, or a body, query or path parameter that fails its schema',
  401: 'missing, malformed, expired or badly signed token',
  403: "the token lacks the route's scope",
  404: 'unknown model, version, alias, job or route',
  409: 'conflicts with the current state',
  413: 'body over 10 MB, or over the 6 MB an endpoint accepts (a compressed body once inflated)',
  415: 'a Content-Encoding other than gzip, deflate or identity (`Accept-Encoding` names those taken)',
  422: 'the idempotency key was used before with a different body',
  429: "the caller's rate limit is spent for this window (`Retry-After`)",
  502: 'the model rejected the request, or the answer is over the 6 MiB a response may carry',
  503: 'the endpoint is throttled or unavailable (`Retry-After`)',
  504: 'the endpoint did not answer in time',
};

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });

function pathParameterSchema(name: string, route: Route): JsonSchema {
  switch (name) {
    case 'model':
      return jsonSchema(ModelNameSchema);
    case 'version':
      // The data plane takes an alias wherever it takes a version.
      return jsonSchema(
        route.path.startsWith('/v2/') ? z.union([VersionSchema, AliasNameSchema]) : VersionSchema,
      );
    case 'alias':
      return jsonSchema(AliasNameSchema);
    case 'jobId':
      return jsonSchema(JobIdSchema);
    case 'inputId':
      return jsonSchema(InputIdSchema);
    default:
      throw new Error(`no schema for path parameter ${name} of ${key(route)}`);
  }
}

function parametersOf(route: Route): JsonSchema[] {
  const path = [...route.path.matchAll(/\{(\w+)\}/g)].map(([, name]) => ({
    name: name!,
    in: 'path',
    required: true,
    schema: pathParameterSchema(name!, route),
  }));
  const query = QUERIES[key(route)];
  const queryParameters = query
    ? Object.entries((jsonSchema(query).properties ?? {}) as Record<string, JsonSchema>).map(
        ([name, schema]) => ({
          name,
          in: 'query',
          required: false,
          schema,
        }),
      )
    : [];
  const keyed = IDEMPOTENCY_KEYS[key(route)];
  const headers = keyed
    ? [
        {
          name: 'Idempotency-Key',
          in: 'header',
          required: false,
          description: keyed,
          schema: jsonSchema(IdempotencyKeySchema),
        },
      ]
    : [];
  return [...path, ...queryParameters, ...headers];
}

function responsesOf(route: Route): Record<string, unknown> {
  const dataPlane = route.path.startsWith('/v2/');
  const success = SUCCESS[key(route)] ?? { status: 200, description: 'OK' };
  const responses: Record<string, unknown> = {
    [success.status]: {
      description: success.description,
      ...(success.status === 204
        ? {}
        : {
            content: {
              'application/json': {
                schema: success.schema ? jsonSchema(success.schema, 'output') : { type: 'object' },
              },
            },
          }),
    },
  };
  if (!route.scope) return responses; // public routes touch nothing that can fail
  const statuses = [
    400,
    401,
    403,
    404,
    ...(CONFLICTS.has(key(route)) ? [409] : []),
    ...(REQUEST_BODIES[key(route)] ? [413] : []),
    ...(key(route) in IDEMPOTENCY_KEYS ? [422] : []),
    429,
  ];
  if (dataPlane && route.method === 'POST') statuses.push(415, 502, 503, 504);
  for (const status of statuses) {
    // 401 and 403 always come from API Gateway, in the control-plane shape; on the data plane a
    // 404, 413 or 429 may come from API Gateway or from the function.
    const schema =
      !dataPlane || status === 401 || status === 403
        ? ref('ControlPlaneError')
        : [404, 413, 429].includes(status)
          ? { oneOf: [ref('DataPlaneError'), ref('ControlPlaneError')] }
          : ref('DataPlaneError');
    responses[status] = {
      description: ERROR_DESCRIPTIONS[status],
      content: { 'application/json': { schema } },
    };
  }
  return responses;
}

function operationOf(route: Route): JsonSchema {
  const body = REQUEST_BODIES[key(route)];
  const parameters = parametersOf(route);
  return {
    operationId: `${route.method.toLowerCase()}${route.path
      .split('/')
      .filter(Boolean)
      .map((s) => s.replace(/[{}]/g, '').replace(/(^|[-_.])(\w)/g, (_m, _sep, c: string) => c.toUpperCase()))
      .join('')}`,
    tags: [route.function],
    description: route.scope ? `Requires scope \`${route.scope}\`.` : 'Public: no token needed.',
    security: route.scope ? [{ bearer: [route.scope] }] : [],
    ...(route.scope ? { 'x-required-scope': route.scope } : {}),
    ...(parameters.length > 0 ? { parameters } : {}),
    ...(body
      ? { requestBody: { required: true, content: { 'application/json': { schema: jsonSchema(body) } } } }
      : {}),
    responses: responsesOf(route),
  };
}

export interface OpenApiOptions {
  /** `info.version`: the platform version the health function reports. */
  readonly version: string;
}

/** The OpenAPI 3.1 document: one operation per route in the route table, and nothing else. */
export function buildOpenApiDocument({ version }: OpenApiOptions): JsonSchema {
  const paths: Record<string, Record<string, JsonSchema>> = {};
  for (const route of ROUTES) {
    const item = paths[route.path] ?? {};
    item[route.method.toLowerCase()] = operationOf(route);
    paths[route.path] = item;
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'Inference platform API',
      version,
      description:
        'Open Inference Protocol v2 data plane (`/v2`) and the model registry and batch control plane (`/v1`).',
    },
    jsonSchemaDialect: 'https://json-schema.org/draft/2020-12/schema',
    components: {
      securitySchemes: {
        bearer: {
          type: 'http',
          scheme: 'bearer',
          bearerFormat: 'JWT',
          description:
            'Each protected operation needs the scope named in its `security` and `x-required-scope`.',
        },
      },
      schemas: {
        DataPlaneError: {
          type: 'object',
          description: 'Errors from the `/v2` functions, as the Open Inference Protocol has them.',
          properties: { error: { type: 'string' } },
          required: ['error'],
        },
        ControlPlaneError: {
          type: 'object',
          description:
            "Errors from the `/v1` functions and API Gateway's own errors on any route: the message in `error`, as the Open Inference Protocol has it, and the code and request id beside it.",
          properties: {
            error: { type: 'string' },
            code: { type: 'string' },
            requestId: { type: 'string' },
            details: {},
          },
          required: ['error', 'code'],
        },
      },
    },
    paths,
  };
}

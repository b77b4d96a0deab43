import { describe, expect, it } from 'vitest';
import { ROUTES } from '../../contracts/routes';
import { buildOpenApiDocument } from '../../functions/handlers/health/openapi';

interface Operation {
  security: Record<string, string[]>[];
  'x-required-scope'?: string;
  parameters?: { name: string; in: string; required: boolean; schema: unknown }[];
  requestBody?: { required: boolean; content: Record<string, { schema: Record<string, unknown> }> };
  responses: Record<string, unknown>;
}
interface Document {
  openapi: string;
  info: { title: string; version: string };
  components: { securitySchemes: Record<string, Record<string, string>> };
  paths: Record<string, Record<string, Operation>>;
}

const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];
const document = buildOpenApiDocument({ version: '1.2.3' }) as unknown as Document;
const operations = Object.entries(document.paths).flatMap(([path, item]) =>
  Object.keys(item)
    .filter((key) => METHODS.includes(key))
    .map((method) => ({ method: method.toUpperCase(), path, operation: item[method]! })),
);
const operationOf = (method: string, path: string) => document.paths[path]?.[method.toLowerCase()];

/** Routes whose handler parses a JSON body. */
const WITH_BODY = new Set([
  'POST /v2/models/{model}/infer',
  'POST /v2/models/{model}/versions/{version}/infer',
  'POST /v1/models',
  'PATCH /v1/models/{model}/versions/{version}',
  'PUT /v1/models/{model}/aliases/{alias}',
  'POST /v1/models/{model}/versions/{version}/upload',
  'POST /v1/models/{model}/versions/{version}/upload/complete',
  'POST /v1/batch-jobs',
  'POST /v1/batch-inputs',
  'POST /v1/batch-inputs/{inputId}/complete',
]);

describe('buildOpenApiDocument', () => {
  it('is an OpenAPI 3.1 document that survives JSON', () => {
    // Act
    const parsed = JSON.parse(JSON.stringify(document)) as Document;
    // Assess
    expect(parsed).toEqual(document);
    expect(parsed.openapi).toBe('3.1.0');
    expect(parsed.info).toMatchObject({ title: expect.any(String), version: '1.2.3' });
    expect(parsed.components.securitySchemes.bearer).toMatchObject({
      type: 'http',
      scheme: 'bearer',
      bearerFormat: 'JWT',
    });
  });

  it('documents the public GET /openapi.json route itself', () => {
    expect(ROUTES).toContainEqual({ method: 'GET', path: '/openapi.json', function: 'health' });
    expect(operationOf('GET', '/openapi.json')?.security).toEqual([]);
  });

  it.each(ROUTES.map((route) => [route.method, route.path, route]))(
    'documents %s %s',
    (method, path, route) => {
      const operation = operationOf(method, path);
      expect(operation).toBeDefined();
      expect(Object.keys(operation!.responses).length).toBeGreaterThan(0);
      const names = [...path.matchAll(/\{(\w+)\}/g)].map(([, name]) => name);
      const pathParameters = (operation!.parameters ?? []).filter((p) => p.in === 'path');
      expect(pathParameters.map((p) => p.name)).toEqual(names);
      expect(pathParameters.every((p) => p.required)).toBe(true);
      if (route.scope) {
        expect(operation!.security).toEqual([{ bearer: [route.scope] }]);
        expect(operation!['x-required-scope']).toBe(route.scope);
        expect(operation!.responses).toHaveProperty('401');
        expect(operation!.responses).toHaveProperty('403');
      } else {
        expect(operation!.security).toEqual([]);
        expect(operation!['x-required-scope']).toBeUndefined();
      }
    },
  );

  it('documents no operation that the route table lacks', () => {
    const routes = new Set(ROUTES.map((r) => `${r.method} ${r.path}`));
    const documented = operations.map(({ method, path }) => `${method} ${path}`);
    expect(documented.filter((op) => !routes.has(op))).toEqual([]);
    expect(documented).toHaveLength(ROUTES.length);
  });

  it('has a JSON request body schema exactly for the routes that take a body', () => {
    for (const { method, path, operation } of operations) {
      const body = operation.requestBody?.content['application/json']?.schema;
      if (WITH_BODY.has(`${method} ${path}`)) {
        expect(body, `${method} ${path}`).toMatchObject({ type: 'object', properties: expect.any(Object) });
        expect(operation.requestBody?.required).toBe(true);
      } else {
        expect(body, `${method} ${path}`).toBeUndefined();
      }
    }
  });

  it("describes request bodies from the handlers' own schemas", () => {
    const register = operationOf('POST', '/v1/models')!.requestBody!.content['application/json']!.schema;
    // `status` has a default, so a client may leave it out; the rest of a version is required.
    expect(register.required).toEqual(
      expect.arrayContaining([
        'name',
        'version',
        'platform',
        'inputs',
        'outputs',
        'maxBatchSize',
        'backends',
      ]),
    );
    expect(register.required).not.toContain('status');
    expect(register.additionalProperties).toBe(false);
    expect(JSON.stringify(document)).not.toContain('readOnly');
    const infer = operationOf('POST', '/v2/models/{model}/infer')!.requestBody!.content['application/json']!
      .schema;
    expect(infer.required).toEqual(['inputs']);
  });

  it('lists the query parameters of the paginated routes', () => {
    for (const path of ['/v1/models', '/v1/batch-jobs', '/v1/batch-jobs/{jobId}/results']) {
      const query = (operationOf('GET', path)!.parameters ?? []).filter((p) => p.in === 'query');
      expect(query.map((p) => p.name).sort(), path).toEqual(['limit', 'nextToken']);
      expect(query.every((p) => !p.required)).toBe(true);
    }
  });

  it('uses the data-plane error body on /v2 and the control-plane one on /v1', () => {
    expect(JSON.stringify(operationOf('POST', '/v2/models/{model}/infer')!.responses['400'])).toContain(
      '#/components/schemas/DataPlaneError',
    );
    expect(JSON.stringify(operationOf('POST', '/v1/models')!.responses['400'])).toContain(
      '#/components/schemas/ControlPlaneError',
    );
    expect(operationOf('POST', '/v1/models')!.responses).toHaveProperty('201');
    expect(operationOf('DELETE', '/v1/models/{model}/aliases/{alias}')!.responses).toHaveProperty('204');
  });
});

import { Match, type Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { CORS_ALLOW_HEADERS } from '../../contracts/cors';
import {
  GATEWAY_RESPONSES,
  type GatewayResponseType,
  gatewayResponseStatus,
  gatewayResponseTemplate,
} from '../../contracts/gateway-responses';
import { isBinaryMediaType } from '../../contracts/media-types';
import { ROUTES } from '../../contracts/routes';
import { synthesizePlatform } from './platform-app';

/** Template JSON is untyped; tests index into it freely. */
// biome-ignore lint/suspicious/noExplicitAny: CloudFormation JSON has no static shape here.
type Json = any;
type Resources = Record<string, { Type: string; Properties: Record<string, Json> }>;

/** Maps each AWS::ApiGateway::Resource logical id to its full path, following ParentId up to the root. */
function resourcePaths(resources: Resources): Map<string, string> {
  const paths = new Map<string, string>();
  const pathOf = (id: string): string => {
    const known = paths.get(id);
    if (known) return known;
    const { ParentId, PathPart } = resources[id]!.Properties;
    const parent = ParentId.Ref ? pathOf(ParentId.Ref) : '';
    const full = `${parent}/${PathPart}`;
    paths.set(id, full);
    return full;
  };
  for (const [id, resource] of Object.entries(resources)) {
    if (resource.Type === 'AWS::ApiGateway::Resource') pathOf(id);
  }
  return paths;
}

interface RenderedMethod {
  readonly path: string;
  readonly method: string;
  readonly properties: Record<string, Json>;
}

function renderedMethods(template: Template): RenderedMethod[] {
  const resources = template.toJSON().Resources as Resources;
  const paths = resourcePaths(resources);
  return Object.values(resources)
    .filter((r) => r.Type === 'AWS::ApiGateway::Method')
    .map((r) => ({
      path: r.Properties.ResourceId.Ref ? paths.get(r.Properties.ResourceId.Ref)! : '/',
      method: r.Properties.HttpMethod,
      properties: r.Properties,
    }));
}

function logicalIdOf(template: Template, type: string, pathFragment: string): string {
  const ids = Object.keys(template.findResources(type)).filter((id) => id.includes(pathFragment));
  expect(ids).toHaveLength(1);
  return ids[0]!;
}

describe('PlatformApi', () => {
  let template: Template;
  let methods: RenderedMethod[];
  let authorizerId: string;

  beforeAll(() => {
    ({ template } = synthesizePlatform());
    methods = renderedMethods(template);
    authorizerId = Object.keys(template.findResources('AWS::ApiGateway::Authorizer'))[0]!;
  });

  it.each(ROUTES.map((route) => [route.method, route.path, route]))(
    'routes %s %s',
    (_method, _path, route) => {
      const found = methods.filter((m) => m.path === route.path && m.method === route.method);
      expect(found).toHaveLength(1);
      const { properties } = found[0]!;

      if (route.scope) {
        expect(properties.AuthorizationType).toBe('CUSTOM');
        expect(properties.AuthorizerId).toEqual({ Ref: authorizerId });
      } else {
        expect(properties.AuthorizationType).toBe('NONE');
        expect(properties.AuthorizerId).toBeUndefined();
      }
      expect(properties.Integration.Type).toBe('AWS_PROXY');
      expect(properties.Integration.IntegrationHttpMethod).toBe('POST');
      const functionId = logicalIdOf(
        template,
        'AWS::Lambda::Function',
        `Api${pascal(route.function)}Function`,
      );
      expect(JSON.stringify(properties.Integration.Uri)).toContain(`"${functionId}","Arn"`);
    },
  );

  it('has no methods beyond the route table and CORS preflight', () => {
    const nonPreflight = methods.filter((m) => m.method !== 'OPTIONS');
    expect(nonPreflight).toHaveLength(ROUTES.length);
  });

  it('answers CORS preflight on every resource without a token', () => {
    const preflight = methods.filter((m) => m.method === 'OPTIONS');
    const routePaths = new Set(ROUTES.map((r) => r.path));
    for (const path of routePaths) expect(preflight.map((m) => m.path)).toContain(path);
    for (const m of preflight) {
      expect(m.properties.AuthorizationType).toBe('NONE');
      expect(m.properties.Integration.Type).toBe('MOCK');
    }
  });

  it('treats every media type as binary, so clients that send no Content-Type or Accept get bytes', () => {
    const apis = Object.values(template.findResources('AWS::ApiGateway::RestApi'));
    expect(apis).toHaveLength(1);
    const types: string[] = apis[0]!.Properties.BinaryMediaTypes;
    expect(types).toEqual(['*/*']);
    for (const value of [undefined, 'application/json; charset=utf-8', 'application/octet-stream']) {
      expect(isBinaryMediaType(value, types)).toBe(true);
    }
  });

  it('has the preflight mock integrations answer as text, which */* would otherwise turn into a 500', () => {
    for (const m of methods.filter((method) => method.method === 'OPTIONS')) {
      expect(m.properties.Integration.ContentHandling).toBe('CONVERT_TO_TEXT');
      expect(m.properties.Integration.IntegrationResponses[0].ContentHandling).toBe('CONVERT_TO_TEXT');
    }
  });

  it('allows the platform headers and the configured origin in preflight responses', () => {
    template.hasResourceProperties('AWS::ApiGateway::Method', {
      HttpMethod: 'OPTIONS',
      Integration: {
        IntegrationResponses: [
          Match.objectLike({
            ResponseParameters: Match.objectLike({
              'method.response.header.Access-Control-Allow-Headers': `'${CORS_ALLOW_HEADERS.join(',')}'`,
              'method.response.header.Access-Control-Allow-Origin': "'*'",
            }),
          }),
        ],
      },
    });
    for (const header of [
      'Authorization',
      'Content-Type',
      'X-Request-Id',
      'Idempotency-Key',
      'Inference-Header-Content-Length',
      'Content-Encoding',
    ]) {
      expect(CORS_ALLOW_HEADERS).toContain(header);
    }
  });

  it('uses a REQUEST authorizer keyed on the Authorization header with the configured TTL', () => {
    template.resourceCountIs('AWS::ApiGateway::Authorizer', 1);
    template.hasResourceProperties('AWS::ApiGateway::Authorizer', {
      Type: 'REQUEST',
      IdentitySource: 'method.request.header.Authorization',
      AuthorizerResultTtlInSeconds: 300,
      AuthorizerUri: Match.anyValue(),
    });
  });

  it.each(Object.keys(GATEWAY_RESPONSES) as GatewayResponseType[])(
    'installs the %s gateway response as JSON',
    (type) => {
      template.hasResourceProperties('AWS::ApiGateway::GatewayResponse', {
        ResponseType: type,
        StatusCode:
          gatewayResponseStatus(type) === undefined ? Match.absent() : String(gatewayResponseStatus(type)),
        ResponseTemplates: { 'application/json': gatewayResponseTemplate(type) },
        ResponseParameters: { 'gatewayresponse.header.Access-Control-Allow-Origin': "'*'" },
      });
    },
  );

  it('gives the 4XX and 5XX fallbacks no status code, so every other type keeps its own', () => {
    for (const type of ['DEFAULT_4XX', 'DEFAULT_5XX']) {
      const [response] = Object.values(
        template.findResources('AWS::ApiGateway::GatewayResponse', { Properties: { ResponseType: type } }),
      );
      expect(response?.Properties).not.toHaveProperty('StatusCode');
    }
    expect(gatewayResponseStatus('WAF_FILTERED')).toBe(403);
    expect(gatewayResponseStatus('UNSUPPORTED_MEDIA_TYPE')).toBe(415);
    expect(gatewayResponseStatus('RESOURCE_NOT_FOUND')).toBe(404);
  });

  it('is a regional API with throttling, tracing, metrics and JSON access logs on its stage', () => {
    template.hasResourceProperties('AWS::ApiGateway::RestApi', {
      EndpointConfiguration: { Types: ['REGIONAL'] },
    });
    template.hasResourceProperties('AWS::ApiGateway::Stage', {
      StageName: 'prod',
      TracingEnabled: true,
      AccessLogSetting: {
        DestinationArn: Match.anyValue(),
        Format: Match.stringLikeRegexp('"requestId":"\\$context.requestId"'),
      },
      MethodSettings: [
        Match.objectLike({
          HttpMethod: '*',
          ResourcePath: '/*',
          MetricsEnabled: true,
          LoggingLevel: 'ERROR',
          DataTraceEnabled: false,
          ThrottlingRateLimit: 1000,
          ThrottlingBurstLimit: 2000,
        }),
      ],
    });
    const stage = Object.values(template.findResources('AWS::ApiGateway::Stage'))[0]!;
    expect(JSON.stringify(stage.Properties.AccessLogSetting.DestinationArn)).toMatch(/"ApiAccessLogs\w+"/);
  });

  it('exports the API URL once', () => {
    const outputs = template.toJSON().Outputs as Record<string, { Value: unknown }>;
    const urlOutputs = Object.values(outputs).filter((o) => JSON.stringify(o.Value).includes('execute-api'));
    expect(urlOutputs).toHaveLength(1);
    template.hasOutput('ApiUrl', { Value: Match.anyValue() });
  });
});

describe('PlatformApi with configuration overrides', () => {
  it('names the REST API after the stack, the name its stage metrics are keyed by', () => {
    const { template } = synthesizePlatform();
    template.hasResourceProperties('AWS::ApiGateway::RestApi', { Name: 'InferencePlatform' });
  });

  it('leaves the account-wide API Gateway logging role alone unless configured to create it', () => {
    const { template } = synthesizePlatform();
    template.resourceCountIs('AWS::ApiGateway::Account', 0);
    const withRole = synthesizePlatform({ apiGatewayCloudWatchRole: 'true' }).template;
    withRole.resourceCountIs('AWS::ApiGateway::Account', 1);
    // Access logs still go to the API's own log group either way.
    for (const t of [template, withRole]) {
      t.hasResourceProperties('AWS::ApiGateway::Stage', {
        AccessLogSetting: { DestinationArn: Match.anyValue(), Format: Match.anyValue() },
      });
    }
  });

  it('takes the authorizer TTL and throttling from configuration', () => {
    const { template } = synthesizePlatform({
      authorizerCacheTtlSeconds: '0',
      throttleRateLimit: '50',
      throttleBurstLimit: '75',
      allowedOrigins: 'https://a.example.com,https://b.example.com',
    });

    template.hasResourceProperties('AWS::ApiGateway::Authorizer', { AuthorizerResultTtlInSeconds: 0 });
    template.hasResourceProperties('AWS::ApiGateway::Stage', {
      MethodSettings: [Match.objectLike({ ThrottlingRateLimit: 50, ThrottlingBurstLimit: 75 })],
    });
    // Several origins: preflight echoes a listed one; gateway responses cannot, so they set none.
    template.hasResourceProperties('AWS::ApiGateway::Method', {
      HttpMethod: 'OPTIONS',
      Integration: {
        IntegrationResponses: [
          Match.objectLike({
            ResponseParameters: Match.objectLike({
              'method.response.header.Access-Control-Allow-Origin': "'https://a.example.com'",
            }),
            ResponseTemplates: { 'application/json': Match.stringLikeRegexp('https://b.example.com') },
          }),
        ],
      },
    });
    const responses = Object.values(template.findResources('AWS::ApiGateway::GatewayResponse'));
    expect(responses).toHaveLength(Object.keys(GATEWAY_RESPONSES).length);
    for (const response of responses) expect(response.Properties.ResponseParameters).toBeUndefined();
  });

  it('sets a single configured origin on gateway responses', () => {
    const { template } = synthesizePlatform({ allowedOrigins: ['https://app.example.com'] });

    template.allResourcesProperties('AWS::ApiGateway::GatewayResponse', {
      ResponseParameters: {
        'gatewayresponse.header.Access-Control-Allow-Origin': "'https://app.example.com'",
      },
    });
  });
});

function pascal(name: string): string {
  return name.charAt(0).toUpperCase() + name.slice(1);
}

import { Duration, Stack, Validations } from 'aws-cdk-lib';
import {
  AccessLogField,
  AccessLogFormat,
  AuthorizationType,
  type CfnMethod,
  EndpointType,
  IdentitySource,
  LambdaIntegration,
  LogGroupLogDestination,
  MethodLoggingLevel,
  RequestAuthorizer,
  ResponseType,
  RestApi,
} from 'aws-cdk-lib/aws-apigateway';
import type { ParamsAndSecretsLayerVersion } from 'aws-cdk-lib/aws-lambda';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { CORS_ALLOW_HEADERS, CORS_MAX_AGE_SECONDS, gatewayResponseOrigin } from '../contracts/cors';
import * as ENV from '../contracts/environment-variables';
import { API_FUNCTION_NAMES, type ApiFunctionName, FUNCTIONS } from '../contracts/functions';
import {
  GATEWAY_RESPONSES,
  type GatewayResponseType,
  gatewayResponseStatus,
  gatewayResponseTemplate,
} from '../contracts/gateway-responses';
import { BINARY_MEDIA_TYPES } from '../contracts/media-types';
import { ROUTES } from '../contracts/routes';
import { pascalCase } from './pascal-case';
import { PlatformFunction } from './platform-function';

/** API Gateway's default integration timeout: no API function needs to run longer. */
const INTEGRATION_TIMEOUT = Duration.seconds(29);

export interface PlatformApiProps {
  /** Origins allowed by CORS: `['*']` or a list of exact origins. */
  readonly allowedOrigins: readonly string[];
  /** How long API Gateway caches an authorizer decision per token; zero disables the cache. */
  readonly authorizerCacheTtl: Duration;
  /**
   * Steady-state requests per second of each method of the stage. API Gateway applies the stage's
   * default method throttling to every method on its own, so the stage as a whole may take up to the
   * number of methods times this, within the account's regional limit.
   */
  readonly throttleRateLimit: number;
  /** Burst capacity in requests of each method of the stage, as `throttleRateLimit`. */
  readonly throttleBurstLimit: number;
  /**
   * Whether to create API Gateway's CloudWatch Logs role and set it in the account's API Gateway
   * settings. That setting is one per account and region, shared by every API there: turn this on
   * only in an account that has no such role yet. Execution and access logging need one.
   * @default false
   */
  readonly cloudWatchRole?: boolean;
  /**
   * Name of the deployment stage, the first segment of every URL path.
   * @default 'prod'
   */
  readonly stageName?: string;
  /**
   * Folder the catalogue's function entries are relative to.
   * @default - the repository root
   */
  readonly projectRoot?: string;
  /**
   * The Parameters and Secrets extension for the authorizer, which reads its HS256 key through it.
   * @default - none (JWKS mode needs no secret)
   */
  readonly authorizerParamsAndSecrets?: ParamsAndSecretsLayerVersion;
}

/**
 * The public REST API: every route in `ROUTES` as a Lambda proxy method, the REQUEST authorizer on
 * routes that need a scope, JSON gateway responses, CORS preflight, binary media types for the
 * binary tensor extension, throttling, access logs and X-Ray tracing. The API functions get the
 * CORS origins, which they answer with as the gateway does; the rest of the functions' environment
 * and permissions are wired by the caller.
 */
export class PlatformApi extends Construct {
  public readonly restApi: RestApi;
  /** One function per API function of the catalogue (`API_FUNCTION_NAMES`). */
  public readonly functions: Readonly<Record<ApiFunctionName, PlatformFunction>>;
  public readonly authorizerFunction: PlatformFunction;
  public readonly authorizer: RequestAuthorizer;
  public readonly accessLogGroup: LogGroup;

  constructor(scope: Construct, id: string, props: PlatformApiProps) {
    super(scope, id);
    const { allowedOrigins, projectRoot } = props;

    this.accessLogGroup = new LogGroup(this, 'AccessLogs', { retention: RetentionDays.ONE_MONTH });
    this.restApi = new RestApi(this, 'RestApi', {
      // API Gateway's metrics are keyed by API name and stage: a name of its own keeps another API
      // of the account out of this API's dashboard and alarms.
      restApiName: Stack.of(this).stackName,
      description: 'Inference platform: Open Inference Protocol and control plane',
      endpointTypes: [EndpointType.REGIONAL],
      // Logging needs the account's API Gateway CloudWatch role; creating it replaces any other.
      cloudWatchRole: props.cloudWatchRole ?? false,
      deployOptions: {
        stageName: props.stageName ?? 'prod',
        throttlingRateLimit: props.throttleRateLimit,
        throttlingBurstLimit: props.throttleBurstLimit,
        tracingEnabled: true,
        metricsEnabled: true,
        loggingLevel: MethodLoggingLevel.ERROR,
        dataTraceEnabled: false,
        accessLogDestination: new LogGroupLogDestination(this.accessLogGroup),
        accessLogFormat: accessLogFormat(),
      },
      // `*/*`: Triton's clients send binary tensors without Content-Type or Accept (contracts/media-types.ts).
      binaryMediaTypes: [...BINARY_MEDIA_TYPES],
      defaultCorsPreflightOptions: {
        allowOrigins: [...allowedOrigins],
        allowHeaders: [...CORS_ALLOW_HEADERS],
        maxAge: Duration.seconds(CORS_MAX_AGE_SECONDS),
      },
    });

    // RestApi adds an unnamed URL output; the stack exports the URL under its own name instead.
    this.restApi.node.tryRemoveChild('Endpoint');

    const functions = {} as Record<ApiFunctionName, PlatformFunction>;
    const integrations = {} as Record<ApiFunctionName, LambdaIntegration>;
    for (const name of API_FUNCTION_NAMES) {
      const spec = FUNCTIONS[name];
      functions[name] = new PlatformFunction(this, `${pascalCase(spec.name)}Function`, {
        spec,
        projectRoot,
        timeout: INTEGRATION_TIMEOUT,
        environment: { [ENV.ALLOWED_ORIGINS]: allowedOrigins.join(',') },
      });
      // allowTestInvoke off: console test calls are not worth a second resource policy statement per method.
      integrations[name] = new LambdaIntegration(functions[name], { allowTestInvoke: false });
    }
    this.functions = functions;

    this.authorizerFunction = new PlatformFunction(this, 'AuthorizerFunction', {
      spec: FUNCTIONS.authorizer,
      projectRoot,
      paramsAndSecrets: props.authorizerParamsAndSecrets,
    });
    this.authorizer = new RequestAuthorizer(this, 'Authorizer', {
      handler: this.authorizerFunction,
      identitySources: [IdentitySource.header('Authorization')],
      resultsCacheTtl: props.authorizerCacheTtl,
    });

    for (const route of ROUTES) {
      this.restApi.root
        .resourceForPath(route.path)
        .addMethod(
          route.method,
          integrations[route.function],
          route.scope
            ? { authorizer: this.authorizer, authorizationType: AuthorizationType.CUSTOM }
            : { authorizationType: AuthorizationType.NONE },
        );
    }

    // With `*/*` binary, a mock integration's empty answer has no text form and the preflight fails
    // with a 500, unless the integration converts to text (docs/api-gateway-rules.md).
    for (const method of this.restApi.methods.filter((m) => m.httpMethod === 'OPTIONS')) {
      const cfn = method.node.defaultChild as CfnMethod;
      cfn.addPropertyOverride('Integration.ContentHandling', 'CONVERT_TO_TEXT');
      cfn.addPropertyOverride('Integration.IntegrationResponses.0.ContentHandling', 'CONVERT_TO_TEXT');
    }

    const corsOrigin = gatewayResponseOrigin(allowedOrigins);
    for (const type of Object.keys(GATEWAY_RESPONSES) as GatewayResponseType[]) {
      const statusCode = gatewayResponseStatus(type);
      this.restApi.addGatewayResponse(pascalCase(type), {
        type: ResponseType.of(type),
        statusCode: statusCode === undefined ? undefined : String(statusCode),
        templates: { 'application/json': gatewayResponseTemplate(type) },
        responseHeaders: corsOrigin ? { 'Access-Control-Allow-Origin': `'${corsOrigin}'` } : undefined,
      });
    }

    this.acknowledgeDesignDecisions();
  }

  /** The invoke URL of the stage, ending in `/`. */
  public get url(): string {
    return this.restApi.url;
  }

  private acknowledgeDesignDecisions(): void {
    Validations.of(this.restApi).acknowledge({
      id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs]',
      reason:
        'API Gateway logs through one role per account and region, for every API there; the AWS-managed policy is the one meant for it.',
    });
    Validations.of(this.restApi).acknowledge({
      id: 'AwsSolutions-APIG2',
      reason:
        'Handlers validate every request with zod against the model signature, which API Gateway models cannot express.',
    });
    Validations.of(this.restApi).acknowledge({
      id: 'AwsSolutions-APIG4',
      reason:
        'Health checks and CORS preflight are public by design; every other route uses the JWT authorizer.',
    });
    Validations.of(this.restApi).acknowledge({
      id: 'AwsSolutions-COG4',
      reason:
        'Bearer JWTs are verified by the Lambda authorizer (HS256 or any OIDC issuer), not a Cognito user pool.',
    });
  }
}

/** One JSON line per request, with what is needed to trace a failure to its authorizer or integration. */
function accessLogFormat(): AccessLogFormat {
  return AccessLogFormat.custom(
    JSON.stringify({
      requestId: AccessLogField.contextRequestId(),
      extendedRequestId: AccessLogField.contextExtendedRequestId(),
      requestTime: AccessLogField.contextRequestTime(),
      ip: AccessLogField.contextIdentitySourceIp(),
      httpMethod: AccessLogField.contextHttpMethod(),
      resourcePath: AccessLogField.contextResourcePath(),
      protocol: AccessLogField.contextProtocol(),
      status: AccessLogField.contextStatus(),
      responseLength: AccessLogField.contextResponseLength(),
      responseLatency: AccessLogField.contextResponseLatency(),
      integrationStatus: AccessLogField.contextIntegrationStatus(),
      integrationLatency: AccessLogField.contextIntegrationLatency(),
      principalId: AccessLogField.contextAuthorizerPrincipalId(),
      authorizerError: AccessLogField.contextAuthorizerError(),
      errorMessage: AccessLogField.contextErrorMessage(),
      xrayTraceId: AccessLogField.contextXrayTraceId(),
    }),
  );
}

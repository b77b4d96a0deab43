import * as path from 'node:path';
import { Duration, Validations } from 'aws-cdk-lib';
import { Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Architecture, type ParamsAndSecretsLayerVersion, Runtime, Tracing } from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import * as ENV from '../contracts/environment-variables';
import type { FunctionSpec } from '../contracts/functions';
import { METRICS_NAMESPACE } from '../contracts/metric-catalog';
import { toNodejsBundlingOptions } from './bundling';
import { PROJECT_ROOT } from './project-root';

/**
 * Environment every platform function starts with, besides its own `POWERTOOLS_SERVICE_NAME`; the
 * caller's `environment` is merged over it.
 */
export const PLATFORM_FUNCTION_ENVIRONMENT: Readonly<Record<string, string>> = {
  POWERTOOLS_METRICS_NAMESPACE: METRICS_NAMESPACE,
  POWERTOOLS_LOG_LEVEL: 'INFO',
  NODE_OPTIONS: '--enable-source-maps',
};

export interface PlatformFunctionProps {
  /**
   * The function in the catalogue: its entry (relative to `projectRoot`), description and service
   * name, which the dashboard and alarms select on.
   */
  readonly spec: FunctionSpec;
  /**
   * Folder holding `package.json` and `package-lock.json` for the bundle.
   * @default - the repository root
   */
  readonly projectRoot?: string;
  /**
   * Memory in MB (CPU scales with it).
   * @default 512
   */
  readonly memorySize?: number;
  /**
   * Maximum run time of one invocation.
   * @default Duration.seconds(10)
   */
  readonly timeout?: Duration;
  /**
   * Variables the function reads that no resource sets when it binds itself (settings such as the
   * worker's receive count), merged over the platform's Powertools and Node settings.
   * @default - only the platform's variables
   */
  readonly environment?: Record<string, string>;
  /**
   * How long the function's log group keeps events.
   * @default RetentionDays.ONE_MONTH
   */
  readonly logRetention?: RetentionDays;
  /**
   * The AWS Parameters and Secrets extension, for a function that reads a secret over its local
   * HTTP API instead of bundling an SDK client.
   * @default - no extension
   */
  readonly paramsAndSecrets?: ParamsAndSecretsLayerVersion;
}

/**
 * A Node.js 22 arm64 Lambda function bundled with the platform's esbuild options, with its own log
 * group (`logGroup`), X-Ray active tracing and Powertools settings. Its role can write only to that
 * log group.
 */
export class PlatformFunction extends NodejsFunction {
  /** `POWERTOOLS_SERVICE_NAME` of the function. */
  public readonly serviceName: string;

  constructor(scope: Construct, id: string, props: PlatformFunctionProps) {
    const { spec } = props;
    const projectRoot = props.projectRoot ?? PROJECT_ROOT;
    // The log group and role are siblings because `this` does not exist before super() returns.
    const logGroup = new LogGroup(scope, `${id}LogGroup`, {
      retention: props.logRetention ?? RetentionDays.ONE_MONTH,
    });
    // An explicit role instead of AWSLambdaBasicExecutionRole: logs go to this function's group only.
    const role = new Role(scope, `${id}Role`, {
      assumedBy: new ServicePrincipal('lambda.amazonaws.com'),
      description: spec.description,
    });
    logGroup.grantWrite(role);

    super(scope, id, {
      entry: path.resolve(projectRoot, spec.entry),
      projectRoot,
      depsLockFilePath: path.join(projectRoot, 'package-lock.json'),
      handler: 'handler',
      description: spec.description,
      runtime: Runtime.NODEJS_22_X,
      architecture: Architecture.ARM_64,
      memorySize: props.memorySize ?? 512,
      timeout: props.timeout ?? Duration.seconds(10),
      tracing: Tracing.ACTIVE,
      logGroup,
      role,
      environment: {
        ...PLATFORM_FUNCTION_ENVIRONMENT,
        [ENV.POWERTOOLS_SERVICE_NAME]: spec.serviceName,
        ...props.environment,
      },
      paramsAndSecrets: props.paramsAndSecrets,
      bundling: toNodejsBundlingOptions(),
    });
    this.serviceName = spec.serviceName;

    Validations.of(role).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason: 'X-Ray PutTraceSegments and PutTelemetryRecords support no resource-level permissions.',
    });
    Validations.of(this).acknowledge({
      id: 'AwsSolutions-L1',
      reason: 'The platform targets nodejs22.x, the runtime its bundles and tests are built for.',
    });
  }
}

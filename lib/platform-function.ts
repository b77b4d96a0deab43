import * as path from 'node:path';
import { Duration, Validations } from 'aws-cdk-lib';
import { Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Architecture, Runtime, Tracing } from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import { toNodejsBundlingOptions } from './bundling';
import { PROJECT_ROOT } from './project-root';

/** Environment every platform function starts with; the caller's `environment` is merged over it. */
export const PLATFORM_FUNCTION_ENVIRONMENT: Readonly<Record<string, string>> = {
  POWERTOOLS_SERVICE_NAME: 'inference-platform',
  POWERTOOLS_METRICS_NAMESPACE: 'InferencePlatform',
  POWERTOOLS_LOG_LEVEL: 'INFO',
  NODE_OPTIONS: '--enable-source-maps',
};

export interface PlatformFunctionProps {
  /** Handler file exporting `handler`; a relative path resolves against `projectRoot`. */
  readonly entry: string;
  /**
   * Folder holding `package.json` and `package-lock.json` for the bundle.
   * @default - the repository root
   */
  readonly projectRoot?: string;
  /**
   * What the function does, shown in the console.
   * @default - no description
   */
  readonly description?: string;
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
   * Extra environment variables, merged over the platform's Powertools and Node settings.
   * @default - only the platform's variables
   */
  readonly environment?: Record<string, string>;
  /**
   * How long the function's log group keeps events.
   * @default RetentionDays.ONE_MONTH
   */
  readonly logRetention?: RetentionDays;
}

/**
 * A Node.js 22 arm64 Lambda function bundled with the platform's esbuild options, with its own log
 * group (`logGroup`), X-Ray active tracing and Powertools settings. Its role can write only to that
 * log group.
 */
export class PlatformFunction extends NodejsFunction {
  constructor(scope: Construct, id: string, props: PlatformFunctionProps) {
    const projectRoot = props.projectRoot ?? PROJECT_ROOT;
    // The log group and role are siblings because `this` does not exist before super() returns.
    const logGroup = new LogGroup(scope, `${id}LogGroup`, {
      retention: props.logRetention ?? RetentionDays.ONE_MONTH,
    });
    // An explicit role instead of AWSLambdaBasicExecutionRole: logs go to this function's group only.
    const role = new Role(scope, `${id}Role`, {
      assumedBy: new ServicePrincipal('lambda.amazonaws.com'),
      description: props.description,
    });
    logGroup.grantWrite(role);

    super(scope, id, {
      entry: path.resolve(projectRoot, props.entry),
      projectRoot,
      depsLockFilePath: path.join(projectRoot, 'package-lock.json'),
      handler: 'handler',
      description: props.description,
      runtime: Runtime.NODEJS_22_X,
      architecture: Architecture.ARM_64,
      memorySize: props.memorySize ?? 512,
      timeout: props.timeout ?? Duration.seconds(10),
      tracing: Tracing.ACTIVE,
      logGroup,
      role,
      environment: { ...PLATFORM_FUNCTION_ENVIRONMENT, ...props.environment },
      bundling: toNodejsBundlingOptions(),
    });

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

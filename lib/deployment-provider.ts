import { Duration, Stack, Validations } from 'aws-cdk-lib';
import { Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import type { CfnFunction } from 'aws-cdk-lib/aws-lambda';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Provider } from 'aws-cdk-lib/custom-resources';
import { Construct } from 'constructs';
import { FUNCTIONS } from '../contracts/functions';
import { PlatformFunction } from './platform-function';

export interface DeploymentProviderProps {
  /**
   * Folder the function's entry is relative to.
   * @default - the repository root
   */
  readonly projectRoot?: string;
}

/**
 * The one function behind the stack's custom resources (`FUNCTIONS.deployment`), wrapped in CDK's
 * provider framework, which answers CloudFormation and retries on our behalf.
 */
export class DeploymentProvider extends Construct {
  public readonly function: PlatformFunction;
  public readonly serviceToken: string;

  constructor(scope: Construct, id: string, props: DeploymentProviderProps = {}) {
    super(scope, id);
    this.function = new PlatformFunction(this, 'Function', {
      spec: FUNCTIONS.deployment,
      projectRoot: props.projectRoot,
      timeout: Duration.minutes(5),
    });

    // The framework's function gets what platform functions get: a log group of its own and a role
    // that writes only there, instead of AWSLambdaBasicExecutionRole and never-expiring logs.
    const logGroup = new LogGroup(this, 'ProviderLogGroup', { retention: RetentionDays.ONE_MONTH });
    const role = new Role(this, 'ProviderRole', {
      assumedBy: new ServicePrincipal('lambda.amazonaws.com'),
      description: 'Runs the custom resource provider framework, which invokes the deployment function',
    });
    logGroup.grantWrite(role);
    const provider = new Provider(this, 'Provider', {
      onEventHandler: this.function,
      frameworkOnEventRole: role,
      logGroup,
    });
    this.serviceToken = provider.serviceToken;

    const functionId = Stack.of(this).resolve((this.function.node.defaultChild as CfnFunction).logicalId);
    Validations.of(role).acknowledge({
      id: `AwsSolutions-IAM5[Resource::<${functionId}.Arn>:*]`,
      reason:
        "Lambda's grantInvoke covers the function's versions and aliases (`<arn>:*`); it is still only the one deployment function.",
    });
  }
}

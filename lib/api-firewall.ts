import { ArnFormat, Names, Stack, Token } from 'aws-cdk-lib';
import type { IRestApi, IStage } from 'aws-cdk-lib/aws-apigateway';
import { CfnWebACL, CfnWebACLAssociation } from 'aws-cdk-lib/aws-wafv2';
import { Construct } from 'constructs';

/** WAF counts a rate-based rule's requests over this window; the limit prop is named after it. */
const EVALUATION_WINDOW_SECONDS = 300;
/** WAF's bounds for a rate-based rule's limit. */
const MIN_RATE_LIMIT = 10;
const MAX_RATE_LIMIT = 2_000_000_000;

export interface ApiFirewallProps {
  /** The REST API to protect. */
  readonly restApi: IRestApi;
  /**
   * The stage the web ACL is associated with.
   * @default - the API's deployment stage
   */
  readonly stage?: IStage;
  /**
   * Requests one client IP may make in 5 minutes; beyond that WAF blocks it until its rate drops.
   * @default 2000
   */
  readonly rateLimitPerFiveMinutes?: number;
}

/**
 * A regional WAFv2 web ACL on the API stage: a rate-based rule per client IP, then AWS's common and
 * known-bad-inputs rule groups. Requests no rule blocks are allowed; every rule publishes
 * CloudWatch metrics and sampled requests.
 */
export class ApiFirewall extends Construct {
  public readonly webAcl: CfnWebACL;
  public readonly association: CfnWebACLAssociation;

  constructor(scope: Construct, id: string, props: ApiFirewallProps) {
    super(scope, id);
    const limit = props.rateLimitPerFiveMinutes ?? 2000;
    if (
      !Token.isUnresolved(limit) &&
      (!Number.isInteger(limit) || limit < MIN_RATE_LIMIT || limit > MAX_RATE_LIMIT)
    ) {
      throw new Error(
        `rateLimitPerFiveMinutes must be an integer from ${MIN_RATE_LIMIT} to ${MAX_RATE_LIMIT}, got ${limit}`,
      );
    }
    const metricPrefix = Names.uniqueId(this).slice(-200);
    const visibility = (name: string): CfnWebACL.VisibilityConfigProperty => ({
      cloudWatchMetricsEnabled: true,
      sampledRequestsEnabled: true,
      metricName: `${metricPrefix}-${name}`,
    });

    this.webAcl = new CfnWebACL(this, 'WebAcl', {
      scope: 'REGIONAL',
      description: 'Inference API: per-IP rate limit and AWS managed rule groups',
      defaultAction: { allow: {} },
      visibilityConfig: visibility('WebAcl'),
      rules: [
        {
          // First, so a flood is cut off before the managed groups spend capacity on it.
          name: 'RateLimitPerIp',
          priority: 0,
          action: { block: {} },
          statement: {
            rateBasedStatement: {
              aggregateKeyType: 'IP',
              limit,
              evaluationWindowSec: EVALUATION_WINDOW_SECONDS,
            },
          },
          visibilityConfig: visibility('RateLimitPerIp'),
        },
        {
          name: 'AWSManagedRulesCommonRuleSet',
          priority: 1,
          overrideAction: { none: {} },
          statement: {
            managedRuleGroupStatement: {
              vendorName: 'AWS',
              name: 'AWSManagedRulesCommonRuleSet',
              // Inference and batch requests carry tensors far beyond the rule's 8 KB; API Gateway
              // (10 MB) and the handlers (6 MB, schema checks) bound body size instead.
              ruleActionOverrides: [{ name: 'SizeRestrictions_BODY', actionToUse: { count: {} } }],
            },
          },
          visibilityConfig: visibility('CommonRuleSet'),
        },
        {
          name: 'AWSManagedRulesKnownBadInputsRuleSet',
          priority: 2,
          overrideAction: { none: {} },
          statement: {
            managedRuleGroupStatement: { vendorName: 'AWS', name: 'AWSManagedRulesKnownBadInputsRuleSet' },
          },
          visibilityConfig: visibility('KnownBadInputs'),
        },
      ],
    });

    const stage = props.stage ?? props.restApi.deploymentStage;
    this.association = new CfnWebACLAssociation(this, 'Association', {
      // arn:aws:apigateway:{region}::/restapis/{id}/stages/{stage}
      resourceArn: Stack.of(this).formatArn({
        service: 'apigateway',
        account: '',
        resource: 'restapis',
        resourceName: `${stage.restApi.restApiId}/stages/${stage.stageName}`,
        arnFormat: ArnFormat.SLASH_RESOURCE_SLASH_RESOURCE_NAME,
      }),
      webAclArn: this.webAcl.attrArn,
    });
  }
}

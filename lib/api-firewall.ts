import { ArnFormat, Names, Stack, Token } from 'aws-cdk-lib';
import type { IRestApi, IStage } from 'aws-cdk-lib/aws-apigateway';
import { CfnWebACL, CfnWebACLAssociation } from 'aws-cdk-lib/aws-wafv2';
import { Construct } from 'constructs';
import { WAF_RATE_LIMITED, wafRateLimitedBody } from '../contracts/gateway-responses';
import type { RateLimitTiers } from '../contracts/settings';
import { PlatformConfigError } from './config';

/**
 * WAF counts a rate-based rule's requests over this window (60, 120, 300 or 600 s; 300 is WAF's
 * default); the limit prop is named after it.
 */
const EVALUATION_WINDOW_SECONDS = 300;
/** WAF's bounds for a rate-based rule's limit. */
const MIN_RATE_LIMIT = 10;
const MAX_RATE_LIMIT = 2_000_000_000;
/** Clients at the highest tier's full rate that one IP (a NAT, a proxy) may carry before WAF blocks it. */
const CLIENTS_PER_IP = 2;
const RATE_LIMITED_BODY = 'RateLimitedByIp';

/**
 * The per-IP limit for WAF's window, from the per-principal tiers: the API edge enforces each
 * principal's limit, and WAF only stops floods, so it must never block one client of the highest
 * tier that stays within its limit. Default: `CLIENTS_PER_IP` such clients; an override below one is
 * refused.
 */
export function ipRateLimitFor(tiers: RateLimitTiers, configured?: number): number {
  const highest = Math.max(...Object.values(tiers).map((tier) => tier.limit / tier.windowSeconds));
  const floor = Math.ceil(highest * EVALUATION_WINDOW_SECONDS);
  if (configured === undefined)
    return Math.min(MAX_RATE_LIMIT, Math.max(MIN_RATE_LIMIT, CLIENTS_PER_IP * floor));
  if (configured < floor) {
    throw new PlatformConfigError(
      `wafRateLimitPerIp ${configured} is below ${floor}, what one client of the highest rate-limit tier may send in ${EVALUATION_WINDOW_SECONDS} s: WAF would block it within its own limit`,
    );
  }
  return configured;
}

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
  /**
   * The `Access-Control-Allow-Origin` value the rate rule's 429 carries, as the gateway responses do.
   * @default - none
   */
  readonly corsOrigin?: string;
}

/**
 * A regional WAFv2 web ACL on the API stage: a rate-based rule per client IP, then AWS's common and
 * known-bad-inputs rule groups. Requests no rule blocks are allowed; every rule publishes
 * CloudWatch metrics and sampled requests. The rate rule answers with its own JSON 429 (a WAF custom
 * response, which API Gateway passes on instead of its gateway response); the managed groups' blocks
 * reach the client as API Gateway's WAF_FILTERED gateway response.
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
      customResponseBodies: {
        [RATE_LIMITED_BODY]: { contentType: 'APPLICATION_JSON', content: wafRateLimitedBody() },
      },
      rules: [
        {
          // First, so a flood is cut off before the managed groups spend capacity on it.
          name: 'RateLimitPerIp',
          priority: 0,
          action: {
            block: {
              customResponse: {
                responseCode: WAF_RATE_LIMITED.statusCode,
                customResponseBodyKey: RATE_LIMITED_BODY,
                responseHeaders: props.corsOrigin
                  ? [{ name: 'Access-Control-Allow-Origin', value: props.corsOrigin }]
                  : undefined,
              },
            },
          },
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

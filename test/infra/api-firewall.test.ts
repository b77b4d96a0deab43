import { App, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { MockIntegration, RestApi } from 'aws-cdk-lib/aws-apigateway';
import { describe, expect, it } from 'vitest';
import { WAF_RATE_LIMITED, wafRateLimitedBody } from '../../contracts/gateway-responses';
import { ApiFirewall, type ApiFirewallProps, ipRateLimitFor } from '../../lib/api-firewall';
import { nagFindings } from './nag-findings';

function firewallStack(props: Omit<ApiFirewallProps, 'restApi'> = {}, outdir?: string) {
  const app = new App({ outdir });
  const stack = new Stack(app, 'FirewallTest', { env: { account: '123456789012', region: 'eu-west-1' } });
  const restApi = new RestApi(stack, 'Api', { deployOptions: { stageName: 'live' } });
  restApi.root.addMethod('GET', new MockIntegration());
  const firewall = new ApiFirewall(stack, 'Firewall', { restApi, ...props });
  return { app, stack, restApi, firewall };
}

const rules = (template: Template) =>
  Object.values(template.findResources('AWS::WAFv2::WebACL'))[0]!.Properties.Rules as {
    Name: string;
    Priority: number;
    Action?: unknown;
    OverrideAction?: unknown;
    Statement: Record<string, unknown>;
    VisibilityConfig: { CloudWatchMetricsEnabled: boolean; SampledRequestsEnabled: boolean };
  }[];

describe('ApiFirewall', () => {
  it('creates one regional web ACL that allows by default, with metrics on', () => {
    const template = Template.fromStack(firewallStack().stack);
    template.resourceCountIs('AWS::WAFv2::WebACL', 1);
    template.hasResourceProperties('AWS::WAFv2::WebACL', {
      Scope: 'REGIONAL',
      DefaultAction: { Allow: {} },
      VisibilityConfig: { CloudWatchMetricsEnabled: true, SampledRequestsEnabled: true },
    });
    for (const rule of rules(template)) {
      expect(rule.VisibilityConfig).toMatchObject({
        CloudWatchMetricsEnabled: true,
        SampledRequestsEnabled: true,
      });
    }
  });

  it('blocks beyond 2000 requests per IP in 5 minutes by default, before the managed groups', () => {
    const template = Template.fromStack(firewallStack().stack);
    const rate = rules(template).find((r) => r.Statement.RateBasedStatement);
    expect(rate).toMatchObject({
      Priority: 0,
      Action: { Block: { CustomResponse: { ResponseCode: 429 } } },
      Statement: { RateBasedStatement: { AggregateKeyType: 'IP', Limit: 2000, EvaluationWindowSec: 300 } },
    });
    expect(Math.min(...rules(template).map((r) => r.Priority))).toBe(rate!.Priority);
  });

  it('takes the per-IP limit from its props and refuses one WAF would not accept', () => {
    const template = Template.fromStack(firewallStack({ rateLimitPerFiveMinutes: 500 }).stack);
    expect(rules(template).find((r) => r.Statement.RateBasedStatement)?.Statement).toMatchObject({
      RateBasedStatement: { Limit: 500 },
    });
    for (const bad of [0, 9, 12.5, 3_000_000_000]) {
      expect(() => firewallStack({ rateLimitPerFiveMinutes: bad })).toThrow(/rateLimitPerFiveMinutes/);
    }
  });

  it('answers a rate-limited IP with a JSON 429 of its own, carrying the CORS origin when there is one', () => {
    const template = Template.fromStack(firewallStack({ corsOrigin: '*' }).stack);
    const acl = Object.values(template.findResources('AWS::WAFv2::WebACL'))[0]!.Properties;
    const rate = rules(template).find((r) => r.Statement.RateBasedStatement)!;
    const custom = (rate.Action as { Block: { CustomResponse: Record<string, unknown> } }).Block
      .CustomResponse;
    expect(custom).toEqual({
      ResponseCode: WAF_RATE_LIMITED.statusCode,
      CustomResponseBodyKey: 'RateLimitedByIp',
      ResponseHeaders: [{ Name: 'Access-Control-Allow-Origin', Value: '*' }],
    });
    expect(acl.CustomResponseBodies.RateLimitedByIp).toEqual({
      ContentType: 'APPLICATION_JSON',
      Content: wafRateLimitedBody(),
    });
    expect(JSON.parse(acl.CustomResponseBodies.RateLimitedByIp.Content).code).toBe('RATE_LIMITED_BY_IP');
    const bare = rules(Template.fromStack(firewallStack().stack)).find(
      (r) => r.Statement.RateBasedStatement,
    )!;
    expect(bare.Action).toEqual({
      Block: { CustomResponse: { ResponseCode: 429, CustomResponseBodyKey: 'RateLimitedByIp' } },
    });
  });

  it('runs the common and known-bad-inputs rule groups, with only the 8 KB body rule counting', () => {
    const template = Template.fromStack(firewallStack().stack);
    const managed = rules(template).filter((r) => r.Statement.ManagedRuleGroupStatement);
    expect(managed.map((r) => (r.Statement.ManagedRuleGroupStatement as { Name: string }).Name)).toEqual([
      'AWSManagedRulesCommonRuleSet',
      'AWSManagedRulesKnownBadInputsRuleSet',
    ]);
    for (const rule of managed) {
      // The groups' own actions apply: no override turns a whole group into COUNT.
      expect(rule.OverrideAction).toEqual({ None: {} });
      expect(rule.Statement.ManagedRuleGroupStatement).toMatchObject({ VendorName: 'AWS' });
    }
    expect(managed[0]!.Statement.ManagedRuleGroupStatement).toMatchObject({
      RuleActionOverrides: [{ Name: 'SizeRestrictions_BODY', ActionToUse: { Count: {} } }],
    });
    expect(managed[1]!.Statement.ManagedRuleGroupStatement).not.toHaveProperty('RuleActionOverrides');
    expect(new Set(rules(template).map((r) => r.Priority)).size).toBe(rules(template).length);
  });

  it("associates the web ACL with the API's deployment stage", () => {
    const { stack, restApi, firewall } = firewallStack();
    const template = Template.fromStack(stack);
    template.resourceCountIs('AWS::WAFv2::WebACLAssociation', 1);
    template.hasResourceProperties('AWS::WAFv2::WebACLAssociation', {
      WebACLArn: { 'Fn::GetAtt': [stack.getLogicalId(firewall.webAcl), 'Arn'] },
      ResourceArn: {
        'Fn::Join': [
          '',
          Match.arrayWith([
            Match.stringLikeRegexp('^arn:'),
            { Ref: stack.getLogicalId(restApi.node.findChild('Resource') as never) },
            '/stages/',
            { Ref: stack.getLogicalId(restApi.deploymentStage.node.defaultChild as never) },
          ]),
        ],
      },
    });
    const arn = JSON.stringify(template.findResources('AWS::WAFv2::WebACLAssociation'));
    expect(arn).toContain(':apigateway:eu-west-1::/restapis/');
  });

  it('leaves cdk-nag AwsSolutions nothing to report on the firewall, and satisfies APIG3', () => {
    // Act: the bare test API has findings of its own; the firewall must add none.
    const findings = nagFindings((outdir) => firewallStack({}, outdir).app);
    // Assess
    expect(findings.length).toBeGreaterThan(0); // nag did run
    expect(findings.filter((f) => f.constructPath.startsWith('FirewallTest/Firewall'))).toEqual([]);
    expect(findings.filter((f) => f.ruleName === 'AwsSolutions-APIG3')).toEqual([]);
  });
});

describe('ipRateLimitFor', () => {
  const tiers = {
    standard: { limit: 600, windowSeconds: 60 },
    premium: { limit: 6000, windowSeconds: 60 },
    trial: { limit: 60, windowSeconds: 60 },
  };

  it("defaults to twice what one client of the fastest tier may send in WAF's 5-minute window", () => {
    // premium: 100 requests/s, 30,000 in 300 s.
    expect(ipRateLimitFor(tiers)).toBe(60_000);
    expect(ipRateLimitFor({ standard: { limit: 10, windowSeconds: 3600 } })).toBe(10);
  });

  it('keeps an override at or above one such client and refuses one below', () => {
    expect(ipRateLimitFor(tiers, 30_000)).toBe(30_000);
    expect(() => ipRateLimitFor(tiers, 29_999)).toThrow(/wafRateLimitPerIp 29999 is below 30000/);
    expect(() => ipRateLimitFor(tiers, 2000)).toThrow(/highest rate-limit tier/);
  });
});

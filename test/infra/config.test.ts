import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  alarmThresholdsOf,
  CONFIG_KEYS,
  invokableEndpointNames,
  PlatformConfigError,
  parsePlatformConfig,
  unknownContextKeys,
} from '../../lib/config';
import { CDK_JSON_CONTEXT } from './platform-app';

describe('parsePlatformConfig', () => {
  it('applies the defaults when nothing is set', () => {
    expect(parsePlatformConfig({})).toEqual({
      region: 'us-east-1',
      instanceType: 'ml.g5.xlarge',
      initialInstanceCount: 1,
      minInstanceCount: 1,
      maxInstanceCount: 2,
      targetInvocationsPerInstance: 1000,
      servingMode: 'multi-model',
      tritonImageVersion: '24.09-py3',
      customImage: false,
      defaultModelName: 'simple',
      additionalEndpointNames: [],
      jwtKeyRotationDays: 30,
      allowedOrigins: ['*'],
      authorizerCacheTtlSeconds: 300,
      throttleRateLimit: 1000,
      throttleBurstLimit: 2000,
      apiGatewayCloudWatchRole: false,
      circuitFailureThreshold: 5,
      circuitWindowSeconds: 30,
      circuitCooldownSeconds: 30,
      batchMaxReceiveCount: 5,
      batchWorkerConcurrency: 4,
      batchWorkerBatchSize: 1,
      batchWorkerTimeoutSeconds: 120,
      batchOutageBudgetSeconds: 900,
      batchStallTimeoutSeconds: 7200,
      batchRetentionDays: 30,
      batchOldestMessageAgeAlarmSeconds: 900,
      apiServerErrorRateAlarmPercent: 1,
      apiLatencyP99AlarmMs: 2000,
      modelLatencyP99AlarmMs: 1000,
      endpointServerErrorsAlarmCount: 5,
      lambdaErrorsAlarmCount: 5,
      lambdaThrottlesAlarmCount: 1,
      circuitOpenedAlarmCount: 1,
      rateLimitTiers: {
        standard: { limit: 600, windowSeconds: 60 },
        premium: { limit: 6000, windowSeconds: 60 },
        trial: { limit: 60, windowSeconds: 60 },
      },
    });
  });

  it('reads additional endpoints as a list or comma-separated, and refuses a name SageMaker would', () => {
    expect(
      parsePlatformConfig({ additionalEndpointNames: 'standby, canary-1' }).additionalEndpointNames,
    ).toEqual(['standby', 'canary-1']);
    expect(parsePlatformConfig({ additionalEndpointNames: ['standby'] }).additionalEndpointNames).toEqual([
      'standby',
    ]);
    expect(() => parsePlatformConfig({ additionalEndpointNames: ['-bad'] })).toThrow(
      /additionalEndpointNames.0: each must be a SageMaker endpoint name/,
    );
  });

  it('reads customImage as a boolean or its command-line string, and refuses anything else', () => {
    expect(parsePlatformConfig({ customImage: 'true' }).customImage).toBe(true);
    expect(parsePlatformConfig({ customImage: 'false' }).customImage).toBe(false);
    expect(parsePlatformConfig({ customImage: true }).customImage).toBe(true);
    expect(() => parsePlatformConfig({ customImage: 'yes' })).toThrow(/customImage/);
  });

  it('lists the invokable endpoints once each, the own endpoint first, equal names in any case as one', () => {
    expect(invokableEndpointNames('Own', ['standby', 'own', 'Standby', 'canary'])).toEqual([
      'Own',
      'standby',
      'canary',
    ]);
  });

  it('coerces command-line strings: numbers and comma-separated origins', () => {
    const config = parsePlatformConfig({
      initialInstanceCount: '2',
      authorizerCacheTtlSeconds: '0',
      allowedOrigins: 'https://a.example.com, https://b.example.com',
    });

    expect(config.initialInstanceCount).toBe(2);
    expect(config.authorizerCacheTtlSeconds).toBe(0);
    expect(config.allowedOrigins).toEqual(['https://a.example.com', 'https://b.example.com']);
  });

  it.each([
    ['region', 'US-EAST-1'],
    ['region', 'mars'],
    ['instanceType', 'g5.xlarge'],
    ['initialInstanceCount', '0'],
    ['initialInstanceCount', 1.5],
    ['initialInstanceCount', 'two'],
    ['minInstanceCount', '0'],
    ['maxInstanceCount', 101],
    ['targetInvocationsPerInstance', '0'],
    ['targetInvocationsPerInstance', 2.5],
    ['servingMode', 'serverless'],
    ['tritonImageVersion', '24.09'],
    ['tritonImageVersion', 'latest'],
    ['defaultModelName', 'has space'],
    ['jwksUrl', 'http://issuer.example.com/jwks.json'],
    ['jwksUrl', 'not a url'],
    ['jwtIssuer', ''],
    ['jwtTokenType', 'at jwt'],
    ['jwtTokenType', ''],
    ['jwtTokenUse', 'refresh'],
    // Secrets Manager's rate() schedules run every 1 to 999 days.
    ['jwtKeyRotationDays', '0'],
    ['jwtKeyRotationDays', 1000],
    ['jwtKeyRotationDays', 1.5],
    ['allowedOrigins', ''],
    ['allowedOrigins', []],
    ['authorizerCacheTtlSeconds', '3601'],
    ['authorizerCacheTtlSeconds', -1],
    ['throttleRateLimit', '0'],
    ['throttleBurstLimit', '1.5'],
    ['wafRateLimitPerIp', '5'],
    ['apiGatewayCloudWatchRole', 'yes'],
    ['alarmEmail', 'not an address'],
    ['apiServerErrorRateAlarmPercent', '0'],
    ['apiServerErrorRateAlarmPercent', 101],
    // Alarms that could never fire: no share above 100 %, no request past 29 s, no invocation past 60 s.
    ['apiServerErrorRateAlarmPercent', 100],
    ['apiLatencyP99AlarmMs', 29_000],
    ['modelLatencyP99AlarmMs', 60_000],
    ['batchOldestMessageAgeAlarmSeconds', 345_600],
    ['apiLatencyP99AlarmMs', '0'],
    ['modelLatencyP99AlarmMs', 'fast'],
    ['endpointServerErrorsAlarmCount', 0],
    ['lambdaErrorsAlarmCount', 1.5],
    ['lambdaThrottlesAlarmCount', '0'],
    ['circuitOpenedAlarmCount', -1],
  ])('rejects %s = %j with a message naming the key and the value', (key, value) => {
    expect(() => parsePlatformConfig({ [key]: value })).toThrow(
      new RegExp(`${key}: .*\\(got ${escapeRegExp(JSON.stringify(value))}\\)`),
    );
  });

  it.each([
    // Browsers send an origin with no path or trailing slash; a quote would break the header values.
    [
      'a trailing slash',
      'https://app.example.com/',
      /scheme:\/\/host\[:port\], with no path or trailing slash/,
    ],
    ['a path', 'https://app.example.com/ui', /with no path or trailing slash/],
    ['a quote', "https://o'brien.example.com", /with no path or trailing slash/],
    ['256 characters', `https://${'a'.repeat(244)}.com`, /at most 255/],
  ])('refuses an origin with %s, naming it', (_, origin, message) => {
    expect(() => parsePlatformConfig({ allowedOrigins: `https://ok.example.com,${origin}` })).toThrow(
      new RegExp(`allowedOrigins\\.1: .*${message.source}.*${escapeRegExp(origin)}`),
    );
  });

  it('accepts origins as browsers send them: any scheme, a host name or IPv6 address, a port', () => {
    const origins = ['https://app.example.com', 'http://localhost:5173', 'http://[::1]:8080', 'app://ui'];
    expect(parsePlatformConfig({ allowedOrigins: origins.join(',') }).allowedOrigins).toEqual(origins);
  });

  it("refuses more receives of a chunk than its redeliveries fit in the queues' retention", () => {
    // 480 receives 720 s apart take exactly the 4 days SQS keeps a message: the last would expire.
    expect(() => parsePlatformConfig({ batchMaxReceiveCount: 480 })).toThrow(
      /batchMaxReceiveCount: 480 receives, each after 6 x batchWorkerTimeoutSeconds \(720 s\), take 345600 s/,
    );
    expect(parsePlatformConfig({ batchMaxReceiveCount: 479 }).batchMaxReceiveCount).toBe(479);
  });

  it("refuses lists that would overflow the API functions' 4 KB environment", () => {
    const names = Array.from({ length: 48 }, (_, i) => `standby-${String(i).padStart(54, '0')}`);
    expect(() => parsePlatformConfig({ additionalEndpointNames: names.join(',') })).toThrow(
      /additionalEndpointNames: additionalEndpointNames, allowedOrigins and rateLimitTiers take \d+ bytes/,
    );
    expect(
      parsePlatformConfig({ additionalEndpointNames: names.slice(0, 20) }).additionalEndpointNames,
    ).toHaveLength(20);
  });

  it.each([
    ['min above initial', { minInstanceCount: '2', initialInstanceCount: '1', maxInstanceCount: '4' }],
    ['initial above max', { minInstanceCount: '1', initialInstanceCount: '3', maxInstanceCount: '2' }],
    ['min above max', { minInstanceCount: 5, initialInstanceCount: 5, maxInstanceCount: 4 }],
  ])('rejects instance counts out of order (%s)', (_, counts) => {
    expect(() => parsePlatformConfig(counts)).toThrow(
      /(min|initial)InstanceCount: instance counts must satisfy minInstanceCount <= initialInstanceCount <= maxInstanceCount, got minInstanceCount \d+, initialInstanceCount \d+, maxInstanceCount \d+$/,
    );
  });

  it('blames the minimum above the initial count, naming every count with its value', () => {
    expect(() => parsePlatformConfig({ minInstanceCount: '3' })).toThrow(
      'minInstanceCount: instance counts must satisfy minInstanceCount <= initialInstanceCount <= maxInstanceCount, got minInstanceCount 3, initialInstanceCount 1, maxInstanceCount 2',
    );
  });

  it('refuses a stall timeout a chunk riding out an outage would reach, naming the key', () => {
    expect(() => parsePlatformConfig({ batchStallTimeoutSeconds: '100' })).toThrow(
      'batchStallTimeoutSeconds: must be longer than batchOutageBudgetSeconds plus batchWorkerTimeoutSeconds (900 + 120 = 1020 s), got 100',
    );
    expect(
      parsePlatformConfig({ batchStallTimeoutSeconds: 1021, batchOutageBudgetSeconds: 900 })
        .batchStallTimeoutSeconds,
    ).toBe(1021);
  });

  it('says what the boolean keys take', () => {
    for (const key of ['customImage', 'apiGatewayCloudWatchRole']) {
      expect(() => parsePlatformConfig({ [key]: 'maybe' })).toThrow(
        `${key}: must be true or false (got "maybe")`,
      );
    }
  });

  it('throws a PlatformConfigError, which the app prints without a stack', () => {
    expect(() => parsePlatformConfig({ region: 'x' })).toThrow(PlatformConfigError);
  });

  it('accepts a fixed fleet (min = initial = max) and coerces the scaling keys from strings', () => {
    const config = parsePlatformConfig({
      minInstanceCount: '3',
      initialInstanceCount: '3',
      maxInstanceCount: '3',
      targetInvocationsPerInstance: '250',
      servingMode: 'single-model',
    });

    expect(config).toMatchObject({
      minInstanceCount: 3,
      initialInstanceCount: 3,
      maxInstanceCount: 3,
      targetInvocationsPerInstance: 250,
      servingMode: 'single-model',
    });
  });

  it('coerces the alarm thresholds from strings and keeps the alarm e-mail', () => {
    const config = parsePlatformConfig({
      alarmEmail: 'oncall@example.com',
      apiServerErrorRateAlarmPercent: '0.5',
      modelLatencyP99AlarmMs: '250',
      lambdaErrorsAlarmCount: '10',
    });

    expect(config).toMatchObject({
      alarmEmail: 'oncall@example.com',
      apiServerErrorRateAlarmPercent: 0.5,
      modelLatencyP99AlarmMs: 250,
      lambdaErrorsAlarmCount: 10,
    });
    expect(alarmThresholdsOf(config)).toEqual({
      apiServerErrorRatePercent: 0.5,
      apiLatencyP99Ms: 2000,
      modelLatencyP99Ms: 250,
      endpointServerErrors: 5,
      lambdaErrors: 10,
      lambdaThrottles: 1,
      circuitsOpened: 1,
    });
  });

  it.each([
    ['neither', {}],
    ['no audience', { jwtIssuer: 'https://idp.example.com/' }],
    ['no issuer', { jwtAudience: 'inference-api' }],
  ])(
    'refuses a JWKS URL with %s of jwtIssuer and jwtAudience: the issuer signs tokens for other clients too',
    (_, claims) => {
      expect(() =>
        parsePlatformConfig({ jwksUrl: 'https://idp.example.com/.well-known/jwks.json', ...claims }),
      ).toThrow(/jwksUrl: jwksUrl needs jwtIssuer and jwtAudience/);
    },
  );

  it('takes a JWKS URL with issuer and audience, and the optional token type and use', () => {
    const config = parsePlatformConfig({
      jwksUrl: 'https://idp.example.com/.well-known/jwks.json',
      jwtIssuer: 'https://idp.example.com/',
      jwtAudience: 'app-client-1',
      jwtTokenType: 'at+jwt',
      jwtTokenUse: 'access',
    });
    expect(config).toMatchObject({
      jwtAudience: 'app-client-1',
      jwtTokenType: 'at+jwt',
      jwtTokenUse: 'access',
    });
  });

  it('rejects unknown keys', () => {
    expect(() => parsePlatformConfig({ instanceTyp: 'ml.g5.xlarge' })).toThrow(/instanceTyp/);
  });

  it('reports every bad key at once', () => {
    expect(() => parsePlatformConfig({ region: 'x', initialInstanceCount: 0 })).toThrow(
      /region: [\s\S]*initialInstanceCount: /,
    );
  });
});

describe('unknownContextKeys', () => {
  it("names context keys that are no configuration keys, with the one likely meant, and leaves CDK's own alone", () => {
    expect(
      unknownContextKeys({
        ...CDK_JSON_CONTEXT,
        instancetype: 'ml.g5.2xlarge',
        batchRetentionDay: '7',
        colour: 'blue',
        'aws:cdk:enable-path-metadata': true,
        'availability-zones:account=123456789012:region=us-east-1': ['us-east-1a'],
        'acknowledged-issue-numbers': [1],
      }),
    ).toEqual([
      'instancetype (did you mean instanceType?)',
      'batchRetentionDay (did you mean batchRetentionDays?)',
      'colour',
    ]);
  });
});

describe('the CDK app', () => {
  it('prints a configuration error alone and exits 1', () => {
    const run = spawnSync(process.execPath, ['--import', 'tsx', 'bin/app.ts'], {
      env: {
        ...process.env,
        CDK_CONTEXT_JSON: JSON.stringify({ minInstanceCount: '3', instancetype: 'ml.g5.2xlarge' }),
        CDK_OUTDIR: mkdtempSync(path.join(tmpdir(), 'cdk-out-')),
      },
      encoding: 'utf8',
    });
    expect(run.status).toBe(1);
    expect(run.stderr).toBe(
      [
        'warning: ignoring context keys that are no configuration keys: instancetype (did you mean instanceType?)',
        'invalid platform configuration in cdk.json context:',
        '  minInstanceCount: instance counts must satisfy minInstanceCount <= initialInstanceCount <= maxInstanceCount, got minInstanceCount 3, initialInstanceCount 1, maxInstanceCount 2',
        '',
      ].join('\n'),
    );
  });
});

describe('cdk.json context', () => {
  it('lists a default for every configuration key', () => {
    for (const key of CONFIG_KEYS) expect(CDK_JSON_CONTEXT).toHaveProperty(key);
  });

  it('holds a valid configuration once unset (null) keys are dropped', () => {
    const raw = Object.fromEntries(
      CONFIG_KEYS.filter((k) => CDK_JSON_CONTEXT[k] !== null).map((k) => [k, CDK_JSON_CONTEXT[k]]),
    );
    expect(parsePlatformConfig(raw)).toEqual(parsePlatformConfig({}));
  });

  it('enables the feature flags cdk init recommends', async () => {
    const { default: recommended } = await import('aws-cdk-lib/recommended-feature-flags.json', {
      with: { type: 'json' },
    });
    expect(CDK_JSON_CONTEXT).toMatchObject(recommended);
  });
});

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

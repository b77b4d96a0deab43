import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import { build } from 'esbuild';
import { describe, expect, it } from 'vitest';
import { toNodejsBundlingOptions } from '../../lib/bundling';
import { LAMBDA_ESBUILD_OPTIONS } from '../../lib/lambda-esbuild-options';

describe('Lambda bundling options', () => {
  it('builds minified ESM for node22 with source maps and nothing external', () => {
    expect(LAMBDA_ESBUILD_OPTIONS).toMatchObject({
      bundle: true,
      format: 'esm',
      platform: 'node',
      target: 'node22',
      minify: true,
      sourcemap: true,
      mainFields: ['module', 'main'],
      external: [],
    });
    expect(LAMBDA_ESBUILD_OPTIONS.banner.js).toMatch(/createRequire.*import\.meta\.url/);
  });

  it('maps onto NodejsFunction bundling with the AWS SDK bundled', () => {
    expect(toNodejsBundlingOptions()).toMatchObject({
      format: OutputFormat.ESM,
      target: 'node22',
      minify: true,
      sourceMap: true,
      mainFields: ['module', 'main'],
      banner: LAMBDA_ESBUILD_OPTIONS.banner.js,
      externalModules: [],
      bundleAwsSDK: true,
      esbuildArgs: {
        '--alias': ['@aws-sdk/credential-provider-node=./functions/lambda-credentials.ts'],
      },
    });
  });
});

describe('a bundle built with the shared options', () => {
  it('runs CommonJS dependencies that require Node built-ins', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'bundle-'));
    writeFileSync(
      path.join(dir, 'legacy.cjs'),
      "module.exports = require('node:path').posix.join('a', 'b');",
    );
    writeFileSync(
      path.join(dir, 'entry.mjs'),
      "import joined from './legacy.cjs'; export const handler = () => joined;",
    );

    await build({
      ...LAMBDA_ESBUILD_OPTIONS,
      entryPoints: [path.join(dir, 'entry.mjs')],
      outfile: path.join(dir, 'out/index.mjs'),
    });
    const bundle = await import(pathToFileURL(path.join(dir, 'out/index.mjs')).href);

    expect(bundle.handler()).toBe('a/b');
  });
});

describe('an SDK client in a bundle', () => {
  it('takes its credentials from the environment and carries no other provider', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'bundle-'));
    writeFileSync(
      path.join(dir, 'entry.mjs'),
      "import { DynamoDBClient } from '@aws-sdk/client-dynamodb'; export const handler = () => new DynamoDBClient({ region: 'us-east-1' }).config.credentials();",
    );
    const { metafile } = await build({
      ...LAMBDA_ESBUILD_OPTIONS,
      entryPoints: [path.join(dir, 'entry.mjs')],
      outfile: path.join(dir, 'out/index.mjs'),
      nodePaths: [path.resolve('node_modules')],
      metafile: true,
    });
    const inputs = Object.keys(metafile.inputs).join('\n');
    expect(inputs).toContain('credential-provider-env');
    expect(inputs).not.toMatch(/credential-provider-(ini|sso|node|process|web-identity)|nested-clients/);

    const saved = { ...process.env };
    Object.assign(process.env, {
      AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE',
      AWS_SECRET_ACCESS_KEY: 'secret',
      AWS_SESSION_TOKEN: 'session',
    });
    try {
      const bundle = await import(pathToFileURL(path.join(dir, 'out/index.mjs')).href);
      await expect(bundle.handler()).resolves.toMatchObject({
        accessKeyId: 'AKIDEXAMPLE',
        sessionToken: 'session',
      });
    } finally {
      process.env = saved;
    }
  });
});

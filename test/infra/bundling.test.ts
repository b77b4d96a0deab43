import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import { build } from 'esbuild';
import { describe, expect, it } from 'vitest';
import { LAMBDA_ESBUILD_OPTIONS, toNodejsBundlingOptions } from '../../lib/bundling';

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

import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../lib/project-root';

const outdir = mkdtempSync(path.join(tmpdir(), 'cdk-synth-'));

describe('npx cdk synth', () => {
  afterAll(() => rmSync(outdir, { recursive: true, force: true }));

  it('synthesizes the stack with no AWS credentials, no Docker engine and no warnings', async () => {
    // Prepare: a user's shell with no AWS identity at all
    const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith('AWS_')));
    env.DOCKER_HOST = 'unix:///nonexistent/docker.sock';
    // Act
    const { stderr } = await promisify(execFile)('npx', ['cdk', 'synth', '-q', '-o', outdir], {
      cwd: PROJECT_ROOT,
      env,
    });
    // Assess: only CDK's progress lines, and a template with the API and the endpoint
    const lines = stderr.split('\n').filter((line) => line.trim() !== '');
    expect(lines.filter((line) => !line.startsWith('Bundling asset '))).toEqual([]);
    const template = JSON.parse(readFileSync(path.join(outdir, 'InferencePlatform.template.json'), 'utf8'));
    const types = Object.values(template.Resources as Record<string, { Type: string }>).map((r) => r.Type);
    expect(types).toEqual(expect.arrayContaining(['AWS::ApiGateway::RestApi', 'AWS::SageMaker::Endpoint']));
    // The CLI bundles every function: half a minute alone, longer beside other files.
  }, 180_000);
});

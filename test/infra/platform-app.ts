import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { CONFIG_KEYS, type PlatformConfig, parsePlatformConfig } from '../../lib/config';
import { InferencePlatformStack } from '../../lib/inference-platform-stack';
import { PROJECT_ROOT } from '../../lib/project-root';
import type { ServedModel } from '../../lib/served-models';
import { SIMPLE_SIGNATURE } from '../helpers/simple-model';

/** The `context` block of cdk.json: feature flags and configuration defaults. */
export const CDK_JSON_CONTEXT: Record<string, unknown> = JSON.parse(
  readFileSync(path.join(PROJECT_ROOT, 'cdk.json'), 'utf8'),
).context;

/** A throwaway Triton model repository shaped like the real one, so infra tests do not depend on built models. */
export function createModelRepositoryFixture(): string {
  const root = mkdtempSync(path.join(tmpdir(), 'model-repository-'));
  for (const model of FIXTURE_MODELS) {
    mkdirSync(path.join(root, model.name, model.version), { recursive: true });
    writeFileSync(path.join(root, model.name, 'config.pbtxt'), `name: "${model.name}"\nmax_batch_size: 8\n`);
    writeFileSync(path.join(root, model.name, model.version, 'model.onnx'), Buffer.from('not really onnx'));
  }
  return root;
}

/** The models of the fixture repository, as `servedModels` would describe them. */
export const FIXTURE_MODELS: readonly ServedModel[] = [
  { name: 'simple', version: '1', platform: 'onnxruntime_onnx', ...SIMPLE_SIGNATURE },
  {
    name: 'classifier',
    version: '3',
    platform: 'onnxruntime_onnx',
    inputs: [{ name: 'FEATURES', datatype: 'FP32', shape: [-1, 4] }],
    outputs: [{ name: 'LABEL', datatype: 'INT64', shape: [-1, 1] }],
    maxBatchSize: 64,
  },
];

export interface PlatformApp {
  readonly app: App;
  readonly stack: InferencePlatformStack;
  readonly config: PlatformConfig;
}

/**
 * Builds the stack as `bin/app.ts` does (same feature flags, same config defaults) with Lambda
 * bundling skipped. `overrides` are raw context values, as `-c key=value` would give.
 */
export function buildPlatform(
  overrides: Record<string, unknown> = {},
  appProps: { outdir?: string } = {},
  stackProps: { gpuPinnedModels?: readonly string[] } = {},
): PlatformApp {
  const app = new App({ ...appProps, context: { ...CDK_JSON_CONTEXT, 'aws:cdk:bundling-stacks': [] } });
  const raw: Record<string, unknown> = {};
  for (const key of CONFIG_KEYS) {
    const value = CDK_JSON_CONTEXT[key];
    if (value !== undefined && value !== null && value !== '') raw[key] = value;
  }
  const config = parsePlatformConfig({ ...raw, ...overrides });
  const stack = new InferencePlatformStack(app, 'InferencePlatform', {
    config,
    modelRepositoryPath: createModelRepositoryFixture(),
    models: FIXTURE_MODELS,
    platformVersion: '9.8.7-test',
    ...stackProps,
  });
  return { app, stack, config };
}

export type SynthesizedPlatform = PlatformApp & { readonly template: Template };

/** Platforms already synthesized in this worker, by their overrides. */
const synthesized = new Map<string, SynthesizedPlatform>();

/**
 * `buildPlatform`, synthesized into a template for assertions. Synthesis is the suite's largest CPU
 * cost, so each configuration is synthesized once per worker (the infra and fidelity files share
 * their workers' modules) and handed to every test that asks for it. The template is frozen: a test
 * that changed it would change it for the others, so that throws instead.
 */
export function synthesizePlatform(overrides: Record<string, unknown> = {}): SynthesizedPlatform {
  const key = JSON.stringify(overrides);
  let platform = synthesized.get(key);
  if (!platform) {
    const built = buildPlatform(overrides);
    const template = Template.fromStack(built.stack);
    deepFreeze(template.toJSON());
    platform = { ...built, template };
    synthesized.set(key, platform);
  }
  return platform;
}

function deepFreeze(value: unknown): void {
  if (typeof value !== 'object' || value === null || Object.isFrozen(value)) return;
  for (const child of Object.values(value)) deepFreeze(child);
  Object.freeze(value);
}

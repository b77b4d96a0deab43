import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parsePlatformConfig } from '../../lib/config';
import { PROJECT_ROOT } from '../../lib/project-root';
import { MULTI_MODEL_GPU_INSTANCE_TYPES, TRITON_IMAGE_VERSIONS } from '../../lib/triton-base-image';
import { modelsPinnedToGpu } from '../../lib/triton-endpoint';
import { loadModelRepository } from '../../triton-image/model-repository';
import { buildPlatform } from './platform-app';

/** The message synth stops with for `raw`. */
function refusal(raw: Record<string, unknown>): string {
  try {
    parsePlatformConfig(raw);
  } catch (error) {
    return (error as Error).message;
  }
  throw new Error(`accepted ${JSON.stringify(raw)}`);
}

describe('configuration that cannot deploy', () => {
  it('refuses a region without a SageMaker Triton image, listing those with one', () => {
    const message = refusal({ region: 'mx-central-1' });
    expect(message).toMatch(/region: AWS publishes no SageMaker Triton image in "mx-central-1"/);
    expect(message).toContain('us-east-1');
    expect(message).toContain('ap-southeast-3');
    expect(parsePlatformConfig({ region: 'ca-west-1' }).region).toBe('ca-west-1');
  });

  it('refuses a tag AWS does not publish, listing the published ones', () => {
    const message = refusal({ tritonImageVersion: '24.10-py3' });
    expect(message).toContain('tritonImageVersion: sagemaker-tritonserver:24.10-py3 is not published');
    expect(message).toContain(TRITON_IMAGE_VERSIONS.join(', '));
    expect(parsePlatformConfig({ tritonImageVersion: '23.12-py3' }).tritonImageVersion).toBe('23.12-py3');
  });

  it('refuses a GPU type multi-model endpoints do not run on, but not in single-model mode', () => {
    const message = refusal({ instanceType: 'ml.g6.2xlarge' });
    expect(message).toContain('instanceType: multi-model endpoints do not run on ml.g6.2xlarge');
    expect(message).toContain(MULTI_MODEL_GPU_INSTANCE_TYPES.join(', '));
    expect(refusal({ instanceType: 'ml.p4d.24xlarge' })).toContain('ml.p4d.24xlarge');
    expect(
      parsePlatformConfig({ instanceType: 'ml.g6.2xlarge', servingMode: 'single-model' }).instanceType,
    ).toBe('ml.g6.2xlarge');
  });

  it('refuses Inferentia and Trainium types in either mode, and accepts CPU types', () => {
    for (const servingMode of ['multi-model', 'single-model']) {
      expect(refusal({ instanceType: 'ml.inf2.xlarge', servingMode })).toMatch(
        /ml\.inf2\.xlarge has no NVIDIA GPU/,
      );
      expect(refusal({ instanceType: 'ml.trn1.2xlarge', servingMode })).toMatch(/no NVIDIA GPU/);
      expect(parsePlatformConfig({ instanceType: 'ml.c5.xlarge', servingMode }).instanceType).toBe(
        'ml.c5.xlarge',
      );
    }
  });

  it('finds the repository models pinned to KIND_GPU', async () => {
    const definitions = await loadModelRepository(
      path.join(PROJECT_ROOT, 'triton-image', 'model_repository'),
    );
    const pinned = modelsPinnedToGpu(definitions);
    expect(pinned.length).toBeGreaterThan(0);
    for (const name of pinned) {
      expect(definitions.find((d) => d.name === name)!.config.instanceGroup.map((g) => g.kind)).toContain(1);
    }
  });

  it('refuses a CPU type when a served model is pinned to KIND_GPU, and only then', () => {
    const build =
      (instanceType: string, gpuPinnedModels: string[], servingMode = 'multi-model') =>
      () =>
        buildPlatform({ instanceType, servingMode }, {}, { gpuPinnedModels });
    expect(build('ml.c5.xlarge', ['classifier'])).toThrow(
      /instanceType ml\.c5\.xlarge has no GPU, but config\.pbtxt of classifier pins instances to KIND_GPU/,
    );
    expect(build('ml.g5.xlarge', ['classifier'])).not.toThrow();
    expect(build('ml.c5.xlarge', [])).not.toThrow();
    // Single-model mode serves only the default model (simple), so a pinned classifier does not matter.
    expect(build('ml.c5.xlarge', ['classifier'], 'single-model')).not.toThrow();
  });
});

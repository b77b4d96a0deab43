import { describe, expect, it, vi } from 'vitest';
import type { ModelVersion } from '../../contracts/registry-schemas';
import { BadRequestError } from '../../functions/edge/errors';
import { RegistryService } from '../../functions/handlers/models/registry-service';
import { refuseUninvokableBackends } from '../../functions/registry/backend-access';
import type { ModelRegistry } from '../../functions/registry/registry';
import { SIMPLE_SIGNATURE } from '../helpers/simple-model';

const INVOKABLE = ['InferencePlatform-Triton-abc', 'standby'];

describe('refuseUninvokableBackends', () => {
  it('accepts backends on the invokable endpoints, in any case (IAM matches lower-case endpoint ARNs)', () => {
    expect(() =>
      refuseUninvokableBackends(
        [{ endpointName: 'inferenceplatform-triton-abc' }, { endpointName: 'Standby' }],
        INVOKABLE,
      ),
    ).not.toThrow();
  });

  it('refuses any other endpoint with a 400 that names it and lists the allowed ones', () => {
    let error: unknown;
    try {
      refuseUninvokableBackends([{ endpointName: 'standby' }, { endpointName: 'canary' }], INVOKABLE);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(BadRequestError);
    expect((error as Error).message).toContain("'canary'");
    expect((error as Error).message).toContain('InferencePlatform-Triton-abc, standby');
    expect((error as BadRequestError).details).toEqual({
      allowedEndpoints: INVOKABLE,
      refusedEndpoints: ['canary'],
    });
  });
});

describe('RegistryService backend checks', () => {
  const registry = {
    putVersion: vi.fn(async (v: ModelVersion) => v),
    updateVersion: vi.fn(async () => ({}) as ModelVersion),
    getModel: vi.fn(async () => undefined),
  };
  const service = new RegistryService(
    registry as unknown as ModelRegistry,
    { invalidate: () => undefined },
    INVOKABLE,
    () => 'now',
  );
  const input = (endpointName: string) => ({
    name: 'm',
    version: '1',
    platform: 'onnxruntime_onnx',
    ...SIMPLE_SIGNATURE,
    backends: [{ endpointName, weight: 100 }],
    status: 'ACTIVE' as const,
  });

  it('registers a version on an invokable endpoint and refuses one elsewhere before writing', async () => {
    await expect(service.register(input('standby'))).resolves.toMatchObject({ name: 'm' });
    registry.putVersion.mockClear();
    await expect(service.register(input('elsewhere'))).rejects.toBeInstanceOf(BadRequestError);
    expect(registry.putVersion).not.toHaveBeenCalled();
  });

  it('refuses a patch that moves backends to another endpoint, and lets other patches through', async () => {
    await expect(
      service.updateVersion('m', '1', { backends: [{ endpointName: 'elsewhere', weight: 100 }] }),
    ).rejects.toBeInstanceOf(BadRequestError);
    expect(registry.updateVersion).not.toHaveBeenCalled();
    await service.updateVersion('m', '1', { description: 'x' });
    expect(registry.updateVersion).toHaveBeenCalledOnce();
  });
});

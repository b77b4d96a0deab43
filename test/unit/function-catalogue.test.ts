import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import * as ENV from '../../contracts/environment-variables';
import {
  API_ENVIRONMENT,
  API_FUNCTION_NAMES,
  BACKEND_ENVIRONMENT,
  DEFAULT_SERVICE_NAME,
  FUNCTIONS,
} from '../../contracts/functions';
import { SERVICE_NAMES } from '../../contracts/metric-catalog';
import { ROUTES } from '../../contracts/routes';
import { INFERENCE_FUNCTION_ENV } from '../helpers/events';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const specs = Object.values(FUNCTIONS);

describe('environment variable names', () => {
  it('are each spelled as the constant that names them', () => {
    for (const [constant, name] of Object.entries(ENV)) expect(name).toBe(constant);
  });

  it('name every variable the catalogue declares', () => {
    const names = new Set<string>(Object.values(ENV));
    for (const spec of specs) {
      for (const variable of Object.keys(spec.environment.shape)) expect(names).toContain(variable);
    }
  });
});

describe('FUNCTIONS', () => {
  it('gives each function its own handler folder, name and description', () => {
    for (const spec of specs) {
      expect(spec.entry).toMatch(/^functions\/handlers\/[\w-]+\/handler\.ts$/);
      expect(existsSync(`${ROOT}${spec.entry}`), spec.entry).toBe(true);
      expect(spec.name).toMatch(/^[a-z]+(-[a-z]+)*$/);
    }
    for (const field of ['entry', 'name', 'description'] as const) {
      expect(new Set(specs.map((s) => s[field])).size).toBe(specs.length);
    }
  });

  it("reports each function under its metric catalogue service, the deployment and key rotation functions under the platform's", () => {
    expect(specs.map((s) => s.serviceName).sort()).toEqual(
      [...Object.values(SERVICE_NAMES), DEFAULT_SERVICE_NAME, DEFAULT_SERVICE_NAME].sort(),
    );
    expect(FUNCTIONS.deployment.serviceName).toBe('inference-platform');
    expect(FUNCTIONS.keyRotation.serviceName).toBe('inference-platform');
  });

  it('lists as API functions exactly those the routes name', () => {
    expect([...API_FUNCTION_NAMES].sort()).toEqual([...new Set(ROUTES.map((r) => r.function))].sort());
  });

  it('parses the environment the stack gives the inference function', () => {
    expect(FUNCTIONS.inference.environment.parse(INFERENCE_FUNCTION_ENV)).toMatchObject({
      REGISTRY_TABLE_NAME: 'registry',
      RATE_LIMIT_TIERS: { standard: { limit: 100, windowSeconds: 60 } },
      ALLOWED_ORIGINS: ['https://app.example.com'],
      REGISTRY_CACHE_TTL_MS: 5_000,
      CIRCUIT_SETTINGS: expect.objectContaining({ failureThreshold: 3 }),
    });
  });

  it('shares one parser per variable among the functions that read it', () => {
    const parsed = API_ENVIRONMENT.parse({
      ...INFERENCE_FUNCTION_ENV,
      [ENV.ALLOWED_ORIGINS]: 'https://a.example.com, https://b.example.com',
      [ENV.REGISTRY_CACHE_TTL_MS]: '250',
    });
    expect(parsed.ALLOWED_ORIGINS).toEqual(['https://a.example.com', 'https://b.example.com']);
    expect(parsed.REGISTRY_CACHE_TTL_MS).toBe(250);
    expect(FUNCTIONS.health.environment.parse({ [ENV.ENDPOINT_NAME]: 'triton' }).ALLOWED_ORIGINS).toEqual([
      '*',
    ]);
    expect(FUNCTIONS.batchFanOut.environment.shape.REGISTRY_CACHE_TTL_MS).toBe(
      API_ENVIRONMENT.shape.REGISTRY_CACHE_TTL_MS,
    );
    expect(FUNCTIONS.health.environment.shape.ALLOWED_ORIGINS).toBe(API_ENVIRONMENT.shape.ALLOWED_ORIGINS);
  });

  it('rejects a JSON variable that is not JSON or not valid settings', () => {
    const backend = { [ENV.CIRCUIT_TABLE_NAME]: 'circuits' };
    expect(() => BACKEND_ENVIRONMENT.parse({ ...backend, [ENV.CIRCUIT_SETTINGS]: '{' })).toThrow();
    expect(() =>
      BACKEND_ENVIRONMENT.parse({ ...backend, [ENV.CIRCUIT_SETTINGS]: '{"failureThreshold":0}' }),
    ).toThrow(/failureThreshold/);
    expect(() =>
      API_ENVIRONMENT.parse({ ...INFERENCE_FUNCTION_ENV, [ENV.RATE_LIMIT_TIERS]: '{"gold":{}}' }),
    ).toThrow(/standard/);
  });

  it('fails a function whose required variable is missing, naming it', () => {
    expect(() => FUNCTIONS.batchWorker.environment.parse({})).toThrow(/BATCH_OUTAGE_BUDGET_SECONDS/);
    expect(() => FUNCTIONS.deployment.environment.parse({})).toThrow(/REGISTRY_TABLE_NAME/);
  });

  it('leaves BACKEND_TIMEOUT_MS to the function when unset, and checks it when set', () => {
    const backend = { ...INFERENCE_FUNCTION_ENV };
    expect(BACKEND_ENVIRONMENT.parse(backend).BACKEND_TIMEOUT_MS).toBeUndefined();
    expect(
      BACKEND_ENVIRONMENT.parse({ ...backend, [ENV.BACKEND_TIMEOUT_MS]: '3000' }).BACKEND_TIMEOUT_MS,
    ).toBe(3000);
    expect(() => BACKEND_ENVIRONMENT.parse({ ...backend, [ENV.BACKEND_TIMEOUT_MS]: '0' })).toThrow();
  });
});

import { describe, expect, it } from 'vitest';
import * as ENV from '../../contracts/environment-variables';
import { FUNCTIONS, type FunctionSpec } from '../../contracts/functions';
import { PLATFORM_FUNCTION_ENVIRONMENT } from '../../lib/platform-function';
import { synthesizePlatform } from './platform-app';

/** Synthesizing the whole stack can outlast vitest's default timeout on a busy machine. */
const SYNTH_TIMEOUT_MS = 120_000;

/** What Powertools, Node and the Parameters and Secrets extension read, set beside the catalogue's. */
const isPlatformVariable = (name: string) =>
  name in PLATFORM_FUNCTION_ENVIRONMENT ||
  name === ENV.POWERTOOLS_SERVICE_NAME ||
  /^(PARAMETERS_SECRETS_EXTENSION|SECRETS_MANAGER|SSM_PARAMETER_STORE)_/.test(name);

/** Variables a function cannot start without: those its schema finds wrong when unset. */
const requiredOf = (spec: FunctionSpec) =>
  (spec.environment.safeParse({}).error?.issues ?? []).map((issue) => String(issue.path[0]));

/** Functions that exist only in HS256 mode: the signing key's rotation has no key to rotate with a JWKS. */
const HS256_ONLY = new Set<string>(['keyRotation']);

describe.each([
  ['HS256', {}],
  [
    'OIDC',
    {
      jwksUrl: 'https://issuer.example.com/.well-known/jwks.json',
      jwtIssuer: 'https://issuer.example.com/',
      jwtAudience: 'inference-platform',
    },
  ],
])('the environment of each catalogued function (%s mode)', (mode, overrides) => {
  it(
    'holds every variable its handler needs and none that it does not read',
    () => {
      const { template } = synthesizePlatform(overrides);
      const functions = Object.values(template.findResources('AWS::Lambda::Function'));
      for (const [key, spec] of Object.entries(FUNCTIONS)) {
        const matching = functions.filter((fn) => fn.Properties.Description === spec.description);
        if (mode !== 'HS256' && HS256_ONLY.has(key)) {
          expect(matching, key).toEqual([]);
          continue;
        }
        expect(matching, key).toHaveLength(1);
        const variables = Object.keys(matching[0]!.Properties.Environment.Variables);
        expect(variables, key).toEqual(expect.arrayContaining(requiredOf(spec)));
        expect(
          variables.filter((name) => !isPlatformVariable(name)),
          key,
        ).toEqual(variables.filter((name) => !isPlatformVariable(name) && name in spec.environment.shape));
      }
    },
    SYNTH_TIMEOUT_MS,
  );
});

import { describe, expect, it } from 'vitest';
import { FUNCTION_ENVIRONMENT } from '../../bench/figures/bundles';
import { FUNCTIONS } from '../../contracts/functions';

describe('the environment the bench loads each bundle with', () => {
  it.each(Object.values(FUNCTIONS).map((spec) => [spec.name, spec] as const))(
    'satisfies what %s checks at load',
    (_name, spec) => {
      const parsed = spec.environment.safeParse(FUNCTION_ENVIRONMENT);
      expect(parsed.success ? [] : parsed.error.issues.map((issue) => issue.path.join('.'))).toEqual([]);
    },
  );
});

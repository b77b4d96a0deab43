import type { Backend } from '../../contracts/registry-schemas';
import { BadRequestError } from '../edge/errors';

/**
 * Refuses backends on endpoints the platform's functions may not invoke. Their roles allow
 * InvokeEndpoint on these endpoints alone, so a version served elsewhere would only ever get
 * AccessDeniedException. IAM compares endpoint ARNs, which carry the name in lower case.
 */
export function refuseUninvokableBackends(
  backends: readonly Pick<Backend, 'endpointName'>[],
  invokable: readonly string[],
): void {
  const allowed = new Set(invokable.map((name) => name.toLowerCase()));
  const refused = [
    ...new Set(backends.map((b) => b.endpointName).filter((name) => !allowed.has(name.toLowerCase()))),
  ];
  if (refused.length === 0) return;
  throw new BadRequestError(
    `the platform may not invoke endpoint ${refused.map((n) => `'${n}'`).join(', ')}; backends must name one of: ${invokable.join(', ')} (an operator adds endpoints with additionalEndpointNames in cdk.json)`,
    { allowedEndpoints: invokable, refusedEndpoints: refused },
  );
}

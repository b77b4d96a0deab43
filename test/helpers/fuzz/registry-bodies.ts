/**
 * Registry request bodies at the edges of what the API accepts, for the fuzz suite and the registry
 * tests: every bounded field at its bound, in characters that take three bytes in UTF-8 where the
 * field takes them.
 */
import { MAX_LABELS } from '../../../functions/registry/api-schemas';

const wide = (length: number, suffix = '') => '€'.repeat(length - suffix.length) + suffix;
const tag = (i: number) => String(i).padStart(3, '0');
const LARGEST_DIM = Number.MAX_SAFE_INTEGER;

const tensors = (side: string) =>
  Array.from({ length: 64 }, (_, i) => ({
    name: wide(128, `${side}${tag(i)}`),
    datatype: 'BYTES',
    shape: [-1, ...Array<number>(15).fill(LARGEST_DIM)],
  }));

/**
 * The largest `POST /v1/models` body: a version as large as the write schema lets it be. Backends
 * name `endpointName` when given (a platform accepts only endpoints it may invoke), else the
 * longest names the schema allows.
 */
export function largestRegistration(name = 'largest', endpointName?: string) {
  return {
    name,
    version: '9999999999',
    platform: wide(64),
    inputs: tensors('i'),
    outputs: tensors('o'),
    maxBatchSize: LARGEST_DIM,
    backends: Array.from({ length: 16 }, (_, i) => ({
      endpointName: endpointName ?? `e${tag(i)}`.padEnd(63, 'x'),
      // InvokeEndpoint's headers take ASCII only (WritableBackendSchema).
      variant: `v${tag(i)}`.padEnd(63, 'x'),
      targetModel: `m${tag(i)}`.padEnd(1024, '~'),
      weight: 100,
    })),
    description: wide(1024),
    labels: largestLabels(),
  };
}

/** `MAX_LABELS` labels (or `count`), each key and value at its longest. */
export function largestLabels(count = MAX_LABELS): Record<string, string> {
  return Object.fromEntries(Array.from({ length: count }, (_, i) => [wide(128, tag(i)), wide(256)]));
}

import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { type PlatformConfig, readPlatformConfig } from '../lib/config';
import { LocalWorkerTimeoutSchema } from './batch-queues';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** A second endpoint with the same models, to register as another backend and try failover locally. */
export const LOCAL_STANDBY_ENDPOINT = 'local-triton-standby';

/**
 * The deployment configuration from cdk.json, so local and deployed behaviour agree. `LOCAL_CONTEXT`
 * (a JSON object) overrides keys of it, as `cdk deploy -c key=value` does: tests scale timings down.
 * The local standby is one more additional endpoint, as a deployed standby would be listed in cdk.json.
 * Kept apart from the platform so that `npm run token` reads it without loading the emulators.
 */
export function readLocalConfig(): PlatformConfig {
  const { context = {} } = JSON.parse(readFileSync(`${ROOT}cdk.json`, 'utf8')) as {
    context?: Record<string, unknown>;
  };
  const { batchWorkerTimeoutSeconds, ...overrides } = JSON.parse(process.env.LOCAL_CONTEXT ?? '{}') as Record<
    string,
    unknown
  >;
  const config = readPlatformConfig((key) => overrides[key] ?? context[key]);
  return {
    ...config,
    // Below the deployed minimum too, within Lambda's range: see local/batch-queues.ts.
    ...(batchWorkerTimeoutSeconds === undefined
      ? {}
      : { batchWorkerTimeoutSeconds: LocalWorkerTimeoutSchema.parse(batchWorkerTimeoutSeconds) }),
    additionalEndpointNames: [...config.additionalEndpointNames, LOCAL_STANDBY_ENDPOINT],
  };
}

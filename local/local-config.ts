import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as z from 'zod';
import { type PlatformConfig, readPlatformConfig } from '../lib/config';
import { LocalWorkerTimeoutSchema } from './batch-queues';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** A second endpoint with the same models, to register as another backend and try failover locally. */
export const LOCAL_STANDBY_ENDPOINT = 'local-triton-standby';

/**
 * Local only: how long a finished batch job and its data are kept, in seconds, so that expiry can be
 * watched on `npm start` and in tests. Deployed, the retention is `batchRetentionDays`: S3 lifecycle
 * rules count whole days.
 */
const LocalRetentionSchema = z.number().int().min(1);

export interface LocalConfig extends PlatformConfig {
  /** `batchRetentionDays` in seconds, unless `LOCAL_CONTEXT` sets `batchRetentionSeconds`. */
  readonly batchRetentionSeconds: number;
}

/**
 * The deployment configuration from cdk.json, so local and deployed behaviour agree. `LOCAL_CONTEXT`
 * (a JSON object) overrides keys of it, as `cdk deploy -c key=value` does: tests scale timings down.
 * The local standby is one more additional endpoint, as a deployed standby would be listed in cdk.json.
 * Kept apart from the platform so that `npm run token` reads it without loading the emulators.
 */
export function readLocalConfig(): LocalConfig {
  const { context = {} } = JSON.parse(readFileSync(`${ROOT}cdk.json`, 'utf8')) as {
    context?: Record<string, unknown>;
  };
  const { batchWorkerTimeoutSeconds, batchRetentionSeconds, ...overrides } = JSON.parse(
    process.env.LOCAL_CONTEXT ?? '{}',
  ) as Record<string, unknown>;
  const config = readPlatformConfig((key) => overrides[key] ?? context[key]);
  return {
    ...config,
    // Below the deployed minimum too, within Lambda's range: see local/batch-queues.ts.
    ...(batchWorkerTimeoutSeconds === undefined
      ? {}
      : { batchWorkerTimeoutSeconds: LocalWorkerTimeoutSchema.parse(batchWorkerTimeoutSeconds) }),
    additionalEndpointNames: [...config.additionalEndpointNames, LOCAL_STANDBY_ENDPOINT],
    batchRetentionSeconds:
      batchRetentionSeconds === undefined
        ? config.batchRetentionDays * 86_400
        : LocalRetentionSchema.parse(batchRetentionSeconds),
  };
}

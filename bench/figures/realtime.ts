/**
 * Realtime inference on `simple`, JSON and binary tensors, through the local API (gateway,
 * authorizer, handler) and straight to the model server: what the platform adds on top.
 */
import { npmToken, startPlatformProcess } from '../../local/platform-process';
import { simpleBinaryRequest } from '../../test/helpers/binary-requests';
import { CONNECTIONS, DURATION_SECONDS, type LoadFigures, load, round } from './measure';

const INPUT = Array.from({ length: 16 }, (_, i) => i);
const INFER_BODY = JSON.stringify({
  inputs: [
    { name: 'INPUT0', shape: [1, 16], datatype: 'INT32', data: INPUT },
    { name: 'INPUT1', shape: [1, 16], datatype: 'INT32', data: INPUT },
  ],
});

export async function measureRealtime() {
  // The bench measures the limiter's cost, not its refusals: one tier with room for the whole run.
  const platform = await startPlatformProcess({
    LOG_LEVEL: 'ERROR',
    RATE_LIMIT_TIERS: JSON.stringify({ standard: { limit: 1_000_000, windowSeconds: 60 } }),
  });
  try {
    const token = await npmToken('--sub', 'bench');
    const path = '/v2/models/simple/infer';
    // Warm both paths (module init, sessions, authorizer cache) before measuring.
    const authorization = { authorization: `Bearer ${token}` };
    await load(`${platform.apiUrl}${path}`, { body: INFER_BODY, headers: authorization }).catch(
      () => undefined,
    );
    const api = await load(`${platform.apiUrl}${path}`, { body: INFER_BODY, headers: authorization });
    const modelServer = await load(`${platform.modelServerUrl}${path}`, { body: INFER_BODY });
    const binary = simpleBinaryRequest(INPUT, { binaryOutputs: true });
    const binaryHeaders = {
      'content-type': 'application/octet-stream',
      'inference-header-content-length': String(binary.headerLength),
      accept: 'application/octet-stream',
    };
    const binaryApi = await load(`${platform.apiUrl}${path}`, {
      body: binary.body,
      headers: { ...binaryHeaders, ...authorization },
    });
    const binaryModelServer = await load(`${platform.modelServerUrl}${path}`, {
      body: binary.body,
      headers: binaryHeaders,
    });
    const figures = (request: string, viaApi: LoadFigures, direct: LoadFigures) => ({
      request,
      connections: CONNECTIONS,
      durationSeconds: DURATION_SECONDS,
      api: viaApi,
      modelServer: direct,
      overheadP50Ms: round(viaApi.p50Ms - direct.p50Ms),
      overheadP99Ms: round(viaApi.p99Ms - direct.p99Ms),
    });
    return {
      json: figures('POST /v2/models/simple/infer, 1x16 INT32 x2, JSON', api, modelServer),
      binary: figures(
        'POST /v2/models/simple/infer, 1x16 INT32 x2, binary tensors in and out',
        binaryApi,
        binaryModelServer,
      ),
    };
  } finally {
    await platform.stop();
  }
}

export type RealtimeFigures = Awaited<ReturnType<typeof measureRealtime>>;

export const realtimeErrors = (figures: RealtimeFigures) =>
  Object.values(figures).reduce((sum, f) => sum + f.api.errors + f.modelServer.errors, 0);

export function printRealtime(figures: RealtimeFigures): void {
  console.log('\nRealtime inference (%d connections, %d s each)', CONNECTIONS, DURATION_SECONDS);
  for (const [encoding, encodingFigures] of Object.entries(figures)) {
    console.table({
      [`${encoding}: local API (gateway + authorizer + handler)`]: encodingFigures.api,
      [`${encoding}: model server directly`]: encodingFigures.modelServer,
    });
    console.log(
      '%s: API overhead over the model server: p50 %d ms, p99 %d ms',
      encoding,
      encodingFigures.overheadP50Ms,
      encodingFigures.overheadP99Ms,
    );
  }
}

/**
 * `GET`, `POST` and `DELETE /local/faults` on the local model server: the control route that injects
 * faults into InvokeEndpoint calls. Only the local platform and tests turn it on; neither SageMaker
 * nor Triton has such a route.
 */
import type { IncomingMessage } from 'node:http';
import { type FaultInjector, faultUpdateSchema } from './faults';
import { jsonReply, type Reply, readBody } from './http';
import { tritonErrorReply } from './triton-api';

/** The path of the fault injection control route. */
export const FAULTS_PATH = '/local/faults';

const CONTROL_BODY_LIMIT = 64 * 1024;

export async function faultsRoute(
  method: string,
  query: URLSearchParams,
  req: IncomingMessage,
  faults: FaultInjector,
): Promise<Reply> {
  switch (method) {
    case 'GET':
      return jsonReply(200, { faults: faults.list() });
    case 'DELETE':
      faults.clear(query.get('endpoint') ?? undefined);
      return jsonReply(200, { faults: faults.list() });
    case 'POST': {
      const body = await readBody(req, CONTROL_BODY_LIMIT);
      let json: unknown;
      try {
        json = JSON.parse(Buffer.isBuffer(body) ? body.toString('utf8') : '');
      } catch {
        return tritonErrorReply(400, 'the body must be a JSON object describing the faults');
      }
      const update = faultUpdateSchema.safeParse(json);
      if (!update.success) {
        const issue = update.error.issues[0];
        const field = issue?.path.join('.') || 'body';
        return tritonErrorReply(400, `invalid fault '${field}': ${issue?.message ?? 'invalid'}`);
      }
      return jsonReply(200, { fault: faults.update(update.data) });
    }
    default:
      return tritonErrorReply(405, 'Method Not Allowed');
  }
}

/** The checks every answer to a fuzzed request must pass, whatever the request was. */
import { matchRoute } from '../../../contracts/routes';
import { type FuzzRequest, type FuzzResponse, resolvedPath } from './exchange';

const parseJson = (body: Buffer): unknown => {
  try {
    return JSON.parse(body.toString('utf8'));
  } catch {
    return undefined;
  }
};

/**
 * What is wrong with an answer, or nothing. Every answer is below 500; an error is JSON in the shape
 * of whoever answered, with the message a string in `error` as the Open Inference Protocol has it
 * (API Gateway's own responses and the control plane: `{error, code, requestId}`; the Open Inference
 * Protocol routes: `{error}`); a function's answer carries X-Request-Id, and a gateway answer its
 * request id in the body.
 */
export function problemsWith(request: FuzzRequest, response: FuzzResponse): string[] {
  const problems: string[] = [];
  const { status, headers } = response;
  if (status >= 500) problems.push(`status ${status}`);
  // A head past API Gateway's header quota is refused before any handler runs, with no body.
  if (status === 431) return problems;
  if (request.method === 'OPTIONS' && status === 204) return problems;

  const gateway = headers['x-amzn-errortype'] !== undefined;
  const body = response.body.length > 0 ? parseJson(response.body) : undefined;
  const isJson = String(headers['content-type'] ?? '')
    .toLowerCase()
    .startsWith('application/json');
  if (gateway) {
    const answer = body as { error?: unknown; code?: unknown; requestId?: unknown } | undefined;
    if (typeof answer?.error !== 'string' || typeof answer.code !== 'string')
      problems.push('gateway answer without {error: "<message>", code}');
    else if (answer.requestId !== headers['x-amzn-requestid'])
      problems.push('gateway answer without its request id');
    return problems;
  }
  const requestId = headers['x-request-id'];
  if (typeof requestId !== 'string' || requestId.length === 0) problems.push('no X-Request-Id');
  if (status >= 400) {
    if (!isJson || body === undefined) {
      problems.push(`a ${status} that is not JSON`);
      return problems;
    }
    let style: 'inference' | 'control' | 'either' = 'either';
    const match = matchRoute(request.method, resolvedPath(request.target));
    if (typeof match !== 'string') {
      if (match.route.function === 'inference') style = 'inference';
      else if (match.route.function !== 'health') style = 'control';
    }
    const {
      error,
      code,
      requestId: bodyRequestId,
    } = body as { error?: unknown; code?: unknown; requestId?: unknown };
    const inferenceShape = typeof error === 'string' && error.length > 0;
    const controlShape = inferenceShape && typeof code === 'string' && bodyRequestId === requestId;
    if (style === 'inference' && !inferenceShape) problems.push('inference error not {error: "<message>"}');
    if (style === 'control' && !controlShape)
      problems.push('control-plane error not {error: "<message>", code, requestId}');
    if (style === 'either' && !inferenceShape && !controlShape) problems.push('error body in neither shape');
    if (status === 429 && headers['retry-after'] === undefined) problems.push('429 without Retry-After');
  } else if (isJson && response.body.length > 0 && body === undefined) {
    problems.push('a JSON answer that does not parse');
  }
  return problems;
}

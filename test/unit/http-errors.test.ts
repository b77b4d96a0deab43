import { ProvisionedThroughputExceededException } from '@aws-sdk/client-dynamodb';
import { describe, expect, it } from 'vitest';
import { BadRequestError } from '../../functions/edge/errors';
import { errorResponse } from '../../functions/edge/http';
import { InvalidInferenceRequestError } from '../../functions/inference/protocol';

const throttled = () =>
  new ProvisionedThroughputExceededException({
    message: 'throughput exceeded',
    $metadata: { httpStatusCode: 400, attempts: 4 },
  });

describe('errorResponse', () => {
  it('answers 503 with Retry-After when DynamoDB throttling outlasts the SDK retries', () => {
    const inference = errorResponse(throttled(), 'req-1', 'inference');
    const control = errorResponse(throttled(), 'req-2', 'control');

    expect(inference.statusCode).toBe(503);
    expect(inference.headers).toMatchObject({ 'Retry-After': '1' });
    expect(JSON.parse(inference.body)).toEqual({ error: expect.any(String) });
    expect(control.statusCode).toBe(503);
    expect(JSON.parse(control.body)).toEqual({
      error: expect.any(String),
      code: 'SERVICE_UNAVAILABLE',
      requestId: 'req-2',
    });
  });

  it('keeps 500 for other unexpected errors, including a plain error named like a throttle', () => {
    const named = Object.assign(new Error('x'), { name: 'ThrottlingException' });

    expect(errorResponse(new Error('boom'), 'req-3', 'inference').statusCode).toBe(500);
    expect(errorResponse(named, 'req-4', 'inference').statusCode).toBe(500);
  });

  it('answers a request the protocol refuses with the same 400 as any bad request', () => {
    for (const style of ['inference', 'control'] as const) {
      const refused = errorResponse(new InvalidInferenceRequestError('input missing'), 'req-5', style);
      const bad = errorResponse(new BadRequestError('input missing'), 'req-5', style);

      expect(refused).toEqual(bad);
      expect(refused.statusCode).toBe(400);
    }
    expect(JSON.parse(errorResponse(new InvalidInferenceRequestError('x'), 'req-6', 'control').body)).toEqual(
      {
        error: 'x',
        code: 'BAD_REQUEST',
        requestId: 'req-6',
      },
    );
  });

  // A message quoting the client's own field could push the answer past Lambda's 6 MB once escaped.
  it('quotes at most 4,096 characters of a message and 256 of each detail, for every route', () => {
    const huge = '"'.repeat(1_700_000);
    const details = Array.from({ length: 1_000 }, () => ({ field: huge, [huge]: 1 }));
    for (const style of ['inference', 'control'] as const) {
      const message = `unknown field '${huge}'`;
      const answer = errorResponse(new BadRequestError(message, details), 'req-7', style);
      const body = JSON.parse(answer.body) as { error: string; details?: { field: string }[] };

      expect(answer.statusCode).toBe(400);
      expect(body.error).toBe(`${message.slice(0, 4_096)}... (${message.length - 4_096} more characters)`);
      expect(answer.body.length).toBeLessThan(200_000);
      if (style === 'control') {
        expect(body.details).toHaveLength(100);
        expect(body.details![0]!.field).toBe(`${'"'.repeat(256)}... (1699744 more characters)`);
      }
    }
  });
});

import { ProvisionedThroughputExceededException } from '@aws-sdk/client-dynamodb';
import { describe, expect, it } from 'vitest';
import { errorResponse } from '../../functions/edge/http';

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
      error: { code: 'SERVICE_UNAVAILABLE', message: expect.any(String), requestId: 'req-2' },
    });
  });

  it('keeps 500 for other unexpected errors, including a plain error named like a throttle', () => {
    const named = Object.assign(new Error('x'), { name: 'ThrottlingException' });

    expect(errorResponse(new Error('boom'), 'req-3', 'inference').statusCode).toBe(500);
    expect(errorResponse(named, 'req-4', 'inference').statusCode).toBe(500);
  });
});

import { describe, expect, it } from 'vitest';
import type { BucketCorsRule } from '../../contracts/cors';
import { corsResponseHeaders, preflight } from '../../local/aws/s3-cors';

const rule = (fields: Partial<BucketCorsRule>): BucketCorsRule => ({
  allowedMethods: ['GET'],
  allowedOrigins: ['*'],
  allowedHeaders: [],
  exposedHeaders: [],
  maxAgeSeconds: 60,
  ...fields,
});

/** S3's evaluation of a bucket's CORS rules (S3 User Guide, "Using cross-origin resource sharing"). */
describe('local S3 CORS evaluation', () => {
  it('matches origins and headers with one * wildcard each, headers without case', () => {
    const rules = [
      rule({
        allowedOrigins: ['https://*.example.com'],
        allowedMethods: ['PUT'],
        allowedHeaders: ['X-Amz-*'],
      }),
    ];
    const ask = (origin: string, requestHeaders?: string) =>
      preflight(rules, { origin, method: 'PUT', requestHeaders }).status;
    expect(ask('https://app.example.com', 'x-amz-date, X-AMZ-META-A')).toBe(200);
    expect(ask('https://example.com')).toBe(403);
    expect(ask('http://app.example.com')).toBe(403);
    expect(ask('https://app.example.com', 'content-type')).toBe(403);
    // An empty or blank list names no header.
    expect(ask('https://app.example.com', ' , ')).toBe(200);
  });

  it('uses the first rule that matches, and answers with its methods, max age and exposed headers', () => {
    const rules = [
      rule({ allowedOrigins: ['https://a.example'], allowedMethods: ['PUT'], maxAgeSeconds: 10 }),
      rule({ allowedMethods: ['GET', 'HEAD'], exposedHeaders: ['ETag', 'Content-Range'] }),
    ];
    expect(preflight(rules, { origin: 'https://a.example', method: 'PUT' })).toEqual({
      status: 200,
      headers: {
        'Access-Control-Allow-Origin': 'https://a.example',
        'Access-Control-Allow-Methods': 'PUT',
        'Access-Control-Max-Age': '10',
        Vary: 'Origin, Access-Control-Request-Headers, Access-Control-Request-Method',
      },
    });
    expect(corsResponseHeaders(rules, 'https://a.example', 'GET')).toMatchObject({
      'Access-Control-Allow-Methods': 'GET, HEAD',
      'Access-Control-Expose-Headers': 'ETag, Content-Range',
    });
    expect(corsResponseHeaders(rules, 'https://a.example', 'DELETE')).toEqual({});
    expect(corsResponseHeaders(rules, undefined, 'GET')).toEqual({});
    expect(corsResponseHeaders(undefined, 'https://a.example', 'GET')).toEqual({});
  });

  it('refuses a method S3 does not take in a preflight, even on a bucket without rules', () => {
    for (const method of ['PATCH', 'get', 'OPTIONS', 'GET, PUT', '']) {
      expect(preflight(undefined, { origin: 'https://a.example', method })).toMatchObject({
        status: 400,
        message: `Invalid Access-Control-Request-Method: ${method}`,
      });
    }
  });
});

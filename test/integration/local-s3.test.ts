import { createHash } from 'node:crypto';
import {
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  NoSuchKey,
  NotFound,
  PutObjectCommand,
  S3ServiceException,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { batchDataCors } from '../../contracts/cors';
import { presignUpload } from '../../functions/edge/presigned-uploads';
import { type LocalS3, startS3 } from '../../local/aws/s3';

/** What the model store needs of the S3 emulator, checked through the SDK as the platform calls it. */
describe('local S3 (fauxqs)', () => {
  let s3: LocalS3;
  const Bucket = 'store';

  beforeAll(async () => {
    s3 = await startS3({ region: 'us-east-1' });
    await s3.createBucket(Bucket);
  });

  afterAll(async () => {
    await s3?.close();
  });

  it('listens on the loopback address only', () => {
    expect(new URL(s3.url).hostname).toBe('127.0.0.1');
  });

  // S3 stores a body's bytes whatever its type; fauxqs parses these two for its SQS and SNS APIs.
  it.each(['application/x-www-form-urlencoded', 'application/x-amz-json-1.0'])(
    'stores a body sent as %s byte for byte',
    async (ContentType) => {
      const Key = `types/${ContentType}`;
      const Body = 'a=1&b={"x":2}';
      await s3.client.send(new PutObjectCommand({ Bucket, Key, Body, ContentType }));
      const stored = await s3.client.send(new GetObjectCommand({ Bucket, Key }));
      expect(await stored.Body!.transformToString()).toBe(Body);
      expect(stored.ContentType).toBe(ContentType);
    },
  );

  it('assembles a multipart upload, lists, heads, reads a range and deletes it', async () => {
    const Key = 'models/big-0123456789abcdef.tar.gz';
    // Every part but the last must be at least 5 MiB in S3.
    const first = Buffer.alloc(5 * 1024 * 1024, 1);
    const last = Buffer.from('tail');
    const { UploadId } = await s3.client.send(new CreateMultipartUploadCommand({ Bucket, Key }));
    const parts = [];
    for (const [i, Body] of [first, last].entries()) {
      const { ETag } = await s3.client.send(
        new UploadPartCommand({ Bucket, Key, UploadId, PartNumber: i + 1, Body }),
      );
      parts.push({ ETag, PartNumber: i + 1 });
    }
    await s3.client.send(
      new CompleteMultipartUploadCommand({ Bucket, Key, UploadId, MultipartUpload: { Parts: parts } }),
    );

    const listed = await s3.client.send(new ListObjectsV2Command({ Bucket, Prefix: 'models/' }));
    expect(listed.Contents?.map((o) => o.Key)).toContain(Key);
    const head = await s3.client.send(new HeadObjectCommand({ Bucket, Key }));
    expect(head.ContentLength).toBe(first.length + last.length);
    const range = await s3.client.send(
      new GetObjectCommand({ Bucket, Key, Range: `bytes=${first.length}-` }),
    );
    expect(Buffer.from(await range.Body!.transformToByteArray()).toString()).toBe('tail');

    await s3.client.send(new DeleteObjectCommand({ Bucket, Key }));
    await expect(s3.client.send(new HeadObjectCommand({ Bucket, Key }))).rejects.toBeInstanceOf(NotFound);
    await expect(s3.client.send(new GetObjectCommand({ Bucket, Key }))).rejects.toBeInstanceOf(NoSuchKey);
  });

  describe('what S3 checks of a presigned or checksummed request', () => {
    const presignedPut = (key: string, at: Date, expires: number, signedHeaders: string) => {
      const stamp = at
        .toISOString()
        .replace(/[-:]/g, '')
        .replace(/\.\d{3}/, '');
      const query = new URLSearchParams({
        'X-Amz-Algorithm': 'AWS4-HMAC-SHA256',
        'X-Amz-Credential': `local/${stamp.slice(0, 8)}/us-east-1/s3/aws4_request`,
        'X-Amz-Date': stamp,
        'X-Amz-Expires': String(expires),
        'X-Amz-SignedHeaders': signedHeaders,
        'X-Amz-Signature': '0'.repeat(64),
      });
      return `${s3.url}/${Bucket}/${key}?${query}`;
    };
    const answer = async (response: Response) => [response.status, await response.text()];

    it('refuses a presigned URL past its expiry (403 AccessDenied)', async () => {
      const url = presignedPut('presigned/late.txt', new Date(Date.now() - 120_000), 60, 'host');
      expect(await answer(await fetch(url, { method: 'PUT', body: 'late' }))).toEqual([
        403,
        expect.stringContaining('Request has expired'),
      ]);
    });

    it('refuses a presigned request without a header it signed, as its signature would not match', async () => {
      const url = presignedPut('presigned/unsent.txt', new Date(), 60, 'host;if-none-match');
      expect(await answer(await fetch(url, { method: 'PUT', body: 'x' }))).toEqual([
        403,
        expect.stringContaining('SignatureDoesNotMatch'),
      ]);
      const sent = await fetch(url, { method: 'PUT', body: 'x', headers: { 'if-none-match': '*' } });
      expect(sent.status).toBe(200);
    });

    it('refuses a body that does not hash to its x-amz-checksum-sha256 (400 BadDigest)', async () => {
      const url = presignedPut('presigned/digest.txt', new Date(), 60, 'host;x-amz-checksum-sha256');
      const wrong = 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=';
      expect(
        await answer(
          await fetch(url, { method: 'PUT', body: 'bytes', headers: { 'x-amz-checksum-sha256': wrong } }),
        ),
      ).toEqual([400, expect.stringContaining('BadDigest')]);
      const right = createHash('sha256').update('bytes').digest('base64');
      const stored = await fetch(url, {
        method: 'PUT',
        body: 'bytes',
        headers: { 'x-amz-checksum-sha256': right },
      });
      expect(stored.status).toBe(200);
      // The signature itself is not recomputed: a URL signed with any key is taken.
      const object = await s3.client.send(new GetObjectCommand({ Bucket, Key: 'presigned/digest.txt' }));
      expect(await object.Body!.transformToString()).toBe('bytes');
    });
  });

  it("holds requests to S3's limits: part numbers 1-10,000, 1,000 keys a delete, 1,000 keys a listing", async () => {
    const Key = 'limits/parts.bin';
    const { UploadId } = await s3.client.send(new CreateMultipartUploadCommand({ Bucket, Key }));
    for (const PartNumber of [0, 10_001]) {
      await expect(
        s3.client.send(new UploadPartCommand({ Bucket, Key, UploadId, PartNumber, Body: 'x' })),
      ).rejects.toMatchObject({ name: 'InvalidArgument', $metadata: { httpStatusCode: 400 } });
    }
    await s3.client.send(new UploadPartCommand({ Bucket, Key, UploadId, PartNumber: 10_000, Body: 'x' }));

    const keys = Array.from({ length: 1001 }, (_, i) => `limits/many/${String(i).padStart(4, '0')}`);
    for (let i = 0; i < keys.length; i += 100) {
      await Promise.all(
        keys.slice(i, i + 100).map((k) => s3.client.send(new PutObjectCommand({ Bucket, Key: k, Body: '' }))),
      );
    }
    const listed = await s3.client.send(
      new ListObjectsV2Command({ Bucket, Prefix: 'limits/many/', MaxKeys: 2000 }),
    );
    expect([listed.KeyCount, listed.IsTruncated]).toEqual([1000, true]);
    await expect(
      s3.client.send(
        new DeleteObjectsCommand({ Bucket, Delete: { Objects: keys.map((k) => ({ Key: k })) } }),
      ),
    ).rejects.toMatchObject({ name: 'MalformedXML', $metadata: { httpStatusCode: 400 } });
    await s3.client.send(
      new DeleteObjectsCommand({ Bucket, Delete: { Objects: keys.slice(0, 1000).map((k) => ({ Key: k })) } }),
    );
  });

  describe('conditional writes (If-None-Match: *, If-Match: <ETag>)', () => {
    const refused = async (write: Promise<unknown>, name = 'PreconditionFailed', status = 412) => {
      const error = await write.then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(S3ServiceException);
      expect((error as S3ServiceException).name).toBe(name);
      expect((error as S3ServiceException).$metadata.httpStatusCode).toBe(status);
    };
    const read = async (Key: string) =>
      (await s3.client.send(new GetObjectCommand({ Bucket, Key }))).Body!.transformToString();
    type Condition = { IfNoneMatch: string } | { IfMatch: string | undefined };
    /** Twenty writes of one key under one condition at once; the index of each that succeeded. */
    const racingWrites = async (Key: string, condition: Condition) => {
      const outcomes = await Promise.allSettled(
        Array.from({ length: 20 }, (_, i) =>
          s3.client.send(new PutObjectCommand({ Bucket, Key, Body: `writer ${i}`, ...condition })),
        ),
      );
      return outcomes.flatMap((o, i) => (o.status === 'fulfilled' ? [i] : []));
    };
    /** A one-part multipart upload of the key, completed under the condition. */
    const completeOnePart = async (Key: string, condition: Condition) => {
      const { UploadId } = await s3.client.send(new CreateMultipartUploadCommand({ Bucket, Key }));
      const { ETag } = await s3.client.send(
        new UploadPartCommand({ Bucket, Key, UploadId, PartNumber: 1, Body: 'replacement' }),
      );
      return s3.client.send(
        new CompleteMultipartUploadCommand({
          Bucket,
          Key,
          UploadId,
          MultipartUpload: { Parts: [{ ETag, PartNumber: 1 }] },
          ...condition,
        }),
      );
    };

    it('writes a new key once and refuses to replace it, leaving the first object', async () => {
      const Key = 'conditional/once.txt';
      await s3.client.send(new PutObjectCommand({ Bucket, Key, Body: 'first', IfNoneMatch: '*' }));
      await refused(s3.client.send(new PutObjectCommand({ Bucket, Key, Body: 'second', IfNoneMatch: '*' })));
      expect(await read(Key)).toBe('first');
      // Without the condition a write replaces the object, as in S3.
      await s3.client.send(new PutObjectCommand({ Bucket, Key, Body: 'third' }));
      expect(await read(Key)).toBe('third');
    });

    it('lets exactly one of many racing writes of one key succeed', async () => {
      const Key = 'conditional/race.txt';
      const won = await racingWrites(Key, { IfNoneMatch: '*' });
      expect(won).toHaveLength(1);
      expect(await read(Key)).toBe(`writer ${won[0]}`);
    });

    it('refuses a copy or a multipart completion onto a stored key, and takes parts unconditionally', async () => {
      const Key = 'conditional/target.txt';
      await s3.client.send(new PutObjectCommand({ Bucket, Key, Body: 'kept' }));
      await refused(
        s3.client.send(
          new CopyObjectCommand({ Bucket, Key, CopySource: `${Bucket}/${Key}`, IfNoneMatch: '*' }),
        ),
      );
      await refused(completeOnePart(Key, { IfNoneMatch: '*' }));
      expect(await read(Key)).toBe('kept');
    });

    it('replaces an object only while it has the ETag given, and answers 404 for a key holding none', async () => {
      const Key = 'conditional/match.txt';
      const { ETag: first } = await s3.client.send(new PutObjectCommand({ Bucket, Key, Body: 'first' }));
      const { ETag: second } = await s3.client.send(
        new PutObjectCommand({ Bucket, Key, Body: 'second', IfMatch: first }),
      );
      // The first ETag is no longer the object's.
      await refused(s3.client.send(new PutObjectCommand({ Bucket, Key, Body: 'stale', IfMatch: first })));
      expect(await read(Key)).toBe('second');
      // Given without its quotes, as in the S3 User Guide's example.
      await s3.client.send(
        new PutObjectCommand({ Bucket, Key, Body: 'third', IfMatch: second!.replaceAll('"', '') }),
      );
      expect(await read(Key)).toBe('third');

      const Absent = 'conditional/absent.txt';
      await refused(
        s3.client.send(new PutObjectCommand({ Bucket, Key: Absent, Body: 'x', IfMatch: first })),
        'NoSuchKey',
        404,
      );
      await expect(s3.client.send(new HeadObjectCommand({ Bucket, Key: Absent }))).rejects.toBeInstanceOf(
        NotFound,
      );
    });

    it('lets exactly one of many racing writes over one ETag succeed', async () => {
      const Key = 'conditional/match-race.txt';
      const { ETag } = await s3.client.send(new PutObjectCommand({ Bucket, Key, Body: 'base' }));
      const won = await racingWrites(Key, { IfMatch: ETag });
      expect(won).toHaveLength(1);
      expect(await read(Key)).toBe(`writer ${won[0]}`);
    });

    it('refuses a copy or a multipart completion over an object whose ETag changed', async () => {
      const Key = 'conditional/match-target.txt';
      const { ETag: stale } = await s3.client.send(new PutObjectCommand({ Bucket, Key, Body: 'old' }));
      await s3.client.send(new PutObjectCommand({ Bucket, Key, Body: 'kept' }));
      await refused(
        s3.client.send(
          new CopyObjectCommand({ Bucket, Key, CopySource: `${Bucket}/${Key}`, IfMatch: stale }),
        ),
      );
      await refused(completeOnePart(Key, { IfMatch: stale }));
      expect(await read(Key)).toBe('kept');
    });
  });

  describe("a bucket's CORS rules, as a browser on another origin meets them", () => {
    const Site = 'site';
    const origin = 'https://app.example.com';
    const preflightOf = (bucket: string, headers: Record<string, string>) =>
      fetch(`${s3.url}/${bucket}/inputs/file.jsonl`, { method: 'OPTIONS', headers });

    beforeAll(async () => {
      await s3.createBucket(Site, { cors: batchDataCors([origin]) });
    });

    it('lets a page upload through a presigned URL with the headers it signed, and read the ETag', async () => {
      const upload = await presignUpload({
        client: s3.client,
        bucket: Site,
        key: 'inputs/file.jsonl',
        size: 5,
        singlePutMaxBytes: 1024,
        partBytes: 1024,
        expiresInSeconds: 60,
        ifNoneMatch: true,
        now: new Date(),
      });
      if (upload.mode !== 'single') throw new Error('expected a single PUT');
      const allowed = await fetch(upload.url, {
        method: 'OPTIONS',
        headers: {
          origin,
          'access-control-request-method': 'PUT',
          'access-control-request-headers': 'content-type,If-None-Match',
        },
      });
      expect(allowed.status).toBe(200);
      expect(Object.fromEntries(allowed.headers)).toMatchObject({
        'access-control-allow-origin': origin,
        'access-control-allow-methods': 'GET, HEAD, PUT',
        'access-control-allow-headers': 'content-type, if-none-match',
        'access-control-expose-headers': 'ETag',
        'access-control-max-age': '3600',
      });
      const put = await fetch(upload.url, {
        method: 'PUT',
        body: '{}\n{}',
        headers: { ...upload.headers, origin, 'content-type': 'application/x-ndjson' },
      });
      expect(put.status).toBe(200);
      expect(put.headers.get('access-control-allow-origin')).toBe(origin);
      expect(put.headers.get('access-control-expose-headers')).toBe('ETag');
      expect(put.headers.get('etag')).toMatch(/^"[0-9a-f]+"$/);
    });

    it('refuses a preflight from another origin, for another method, or on a bucket without rules (403)', async () => {
      for (const [bucket, headers, message] of [
        [
          Site,
          { origin: 'https://evil.example', 'access-control-request-method': 'PUT' },
          'This CORS request is not allowed',
        ],
        [
          Site,
          { origin: 'https://APP.example.com', 'access-control-request-method': 'PUT' },
          'This CORS request is not allowed',
        ],
        [Site, { origin, 'access-control-request-method': 'DELETE' }, 'This CORS request is not allowed'],
        [Bucket, { origin, 'access-control-request-method': 'PUT' }, 'CORS is not enabled for this bucket'],
      ] as const) {
        const refused = await preflightOf(bucket, headers);
        expect([refused.status, await refused.text()]).toEqual([403, expect.stringContaining(message)]);
        expect(refused.headers.get('access-control-allow-origin')).toBeNull();
      }
    });

    it('refuses a preflight without an origin or a method it knows (400)', async () => {
      for (const [headers, message] of [
        [{ 'access-control-request-method': 'PUT' }, 'Origin request header needed'],
        [
          { origin, 'access-control-request-method': 'PATCH' },
          'Invalid Access-Control-Request-Method: PATCH',
        ],
        [{ origin }, 'Invalid Access-Control-Request-Method: null'],
      ] as const) {
        const refused = await preflightOf(Site, headers);
        expect([refused.status, await refused.text()]).toEqual([400, expect.stringContaining(message)]);
      }
    });

    it('adds no CORS header to a read from an origin no rule allows, and serves it all the same', async () => {
      await s3.client.send(new PutObjectCommand({ Bucket: Site, Key: 'results/part.jsonl', Body: 'r' }));
      const url = `${s3.url}/${Site}/results/part.jsonl`;
      const foreign = await fetch(url, { headers: { origin: 'https://evil.example' } });
      expect([foreign.status, foreign.headers.get('access-control-allow-origin')]).toEqual([200, null]);
      const own = await fetch(url, { headers: { origin } });
      expect([own.status, own.headers.get('access-control-allow-origin')]).toEqual([200, origin]);
    });
  });
});

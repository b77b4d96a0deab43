import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import * as path from 'node:path';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { buildApp } from 'fauxqs';
import type { BucketCorsRule } from '../../contracts/cors';
import { LOOPBACK } from '../loopback';
import { writeFileAtomically } from '../state-dir';
import { S3Store, someStores } from './fauxqs-stores';
import { corsResponseHeaders, preflight } from './s3-cors';

export interface LocalS3 {
  /** The endpoint S3 clients are given (`AWS_ENDPOINT_URL_S3`). */
  readonly url: string;
  /** A client of this emulator, closed with it. */
  readonly client: S3Client;
  /**
   * Creates a bucket through the S3 API, as a deployment would, with the CORS rules the stack gives
   * it; one that exists keeps its objects.
   */
  createBucket(name: string, options?: { readonly cors?: readonly BucketCorsRule[] }): Promise<void>;
  close(): Promise<void>;
}

/**
 * fauxqs's S3 (PutObject, GetObject with ranges, HeadObject, DeleteObject, ListObjectsV2, CopyObject
 * and the multipart actions) on the loopback address, in an app of its own beside SQS, with S3's
 * conditional writes added (`checkConditionalWrites`), and what else S3 checks of a request that a client
 * can get wrong (`checkAsS3Does`: expiry and signed headers of a presigned URL, checksums, request
 * limits). The signature itself is not recomputed.
 *
 * In memory, unless `stateDir` is given: then every bucket and object is also kept on disk there and
 * read back on the next start (see PersistentS3Store).
 *
 * The endpoint is an IP address, so the SDK addresses buckets by path (`/<bucket>/<key>`) and fauxqs
 * routes them without a virtual-hosted name.
 */
export async function startS3(options: {
  region: string;
  port?: number;
  stateDir?: string;
}): Promise<LocalS3> {
  const store = options.stateDir ? new PersistentS3Store(options.stateDir) : new S3Store();
  const app = buildApp({ logger: false, host: LOOPBACK, stores: someStores({ s3Store: store }) });
  // fauxqs parses the SQS and SNS media types for those services; this app serves S3 alone, which
  // stores a body's bytes whatever its Content-Type (a presigned PUT from curl sends form data's).
  for (const type of ['application/x-www-form-urlencoded', 'application/x-amz-json-1.0']) {
    app.removeContentTypeParser(type);
    app.addContentTypeParser(
      type,
      { parseAs: 'buffer' },
      (_request: unknown, body: Buffer, done: (error: Error | null, body: Buffer) => void) =>
        done(null, body),
    );
  }
  const cors = new Map<string, readonly BucketCorsRule[]>();
  answerCors(app, cors);
  checkAsS3Does(app);
  checkConditionalWrites(app, store);
  const url = await app.listen({ port: options.port ?? 0, host: LOOPBACK });
  const client = new S3Client({
    endpoint: url,
    region: options.region,
    forcePathStyle: true,
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  return {
    url,
    client,
    async createBucket(name, { cors: rules } = {}) {
      await client.send(new CreateBucketCommand({ Bucket: name }));
      if (rules) cors.set(name, rules);
    },
    async close() {
      client.destroy();
      await app.close();
    },
  };
}

/** What the write check reads of a fauxqs request, and writes of its reply. */
interface ObjectRequest {
  readonly method: string;
  readonly params: unknown;
  readonly query: unknown;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body?: unknown;
}
interface ObjectReply {
  status(code: number): ObjectReply;
  header(name: string, value: string): ObjectReply;
  send(body: string): unknown;
}

/**
 * S3's conditional writes, which fauxqs leaves out (S3 User Guide, "How to prevent object overwrites
 * with conditional writes", https://docs.aws.amazon.com/AmazonS3/latest/userguide/conditional-writes.html;
 * `IfNoneMatch` and `IfMatch` of PutObject, CopyObject and CompleteMultipartUpload in the S3 API
 * reference). UploadPart takes no condition.
 * - `If-None-Match: *` writes only if the key holds no object; otherwise 412 `PreconditionFailed`.
 * - `If-Match: <ETag>` writes only over an object with that ETag: another ETag is refused 412
 *   `PreconditionFailed`, and a key holding no object 404 `NoSuchKey` (there is nothing to compare
 *   with). The guide's own example passes the ETag without its quotes, so quotes are not compared.
 * The check runs as the last hook before fauxqs's handler, which writes without awaiting, so nothing
 * runs between them: of writes racing on one condition, exactly one succeeds. S3 may answer a racing
 * loser 409 `ConditionalRequestConflict` instead, which callers must also expect; locally the loser
 * always gets 412.
 */
function checkConditionalWrites(app: ReturnType<typeof buildApp>, store: S3Store): void {
  app.addHook('preHandler', (request: ObjectRequest, reply: ObjectReply, done: () => void) => {
    const { bucket, '*': key } = request.params as { bucket?: string; '*'?: string };
    const query = (request.query ?? {}) as Record<string, unknown>;
    const write =
      (request.method === 'PUT' && query.partNumber === undefined) ||
      (request.method === 'POST' && query.uploadId !== undefined);
    // A missing bucket is fauxqs's to answer (NoSuchBucket).
    if (!write || !bucket || !key || !store.hasBucket(bucket)) return done();
    const current = storedObject(store, bucket, key);
    const ifMatch = request.headers['if-match'];
    const precondition = (header: string) =>
      refuse(
        reply,
        412,
        'PreconditionFailed',
        'At least one of the pre-conditions you specified did not hold',
        `<Condition>${header}</Condition>`,
      );
    if (request.headers['if-none-match'] === '*' && current) return precondition('If-None-Match');
    if (typeof ifMatch === 'string') {
      if (!current) return refuse(reply, 404, 'NoSuchKey', 'The specified key does not exist.');
      if (unquoted(ifMatch) !== unquoted(current.etag)) return precondition('If-Match');
    }
    done();
  });
}

const unquoted = (etag: string) => etag.replaceAll('"', '');

/**
 * A bucket's CORS rules (`s3-cors.ts`): preflight requests are answered before fauxqs, which has no
 * route for them, and every other request from an origin a rule allows gets its CORS headers.
 */
function answerCors(
  app: ReturnType<typeof buildApp>,
  cors: ReadonlyMap<string, readonly BucketCorsRule[]>,
): void {
  const bucketOf = (url: string) => decodeURIComponent(url.split('?')[0]!.split('/')[1] ?? '');
  const header = (request: ObjectRequest, name: string) => {
    const value = request.headers[name];
    return Array.isArray(value) ? value.join(', ') : value;
  };
  app.addHook(
    'onRequest',
    (request: ObjectRequest & { url: string }, reply: ObjectReply, done: () => void) => {
      if (request.method !== 'OPTIONS') return done();
      const answer = preflight(cors.get(bucketOf(request.url)), {
        origin: header(request, 'origin'),
        method: header(request, 'access-control-request-method'),
        requestHeaders: header(request, 'access-control-request-headers'),
      });
      if (answer.status !== 200) return refuse(reply, answer.status, answer.code, answer.message);
      for (const [name, value] of Object.entries(answer.headers)) reply.header(name, value);
      void reply.status(200).send('');
    },
  );
  app.addHook(
    'onSend',
    (
      request: ObjectRequest & { url: string },
      reply: ObjectReply,
      payload: unknown,
      done: (error: null, payload: unknown) => void,
    ) => {
      if (request.method !== 'OPTIONS') {
        const headers = corsResponseHeaders(
          cors.get(bucketOf(request.url)),
          header(request, 'origin'),
          request.method,
        );
        for (const [name, value] of Object.entries(headers)) reply.header(name, value);
      }
      done(null, payload);
    },
  );
}

/** Answers a request with S3's error document instead of passing it to fauxqs. */
function refuse(reply: ObjectReply, status: number, code: string, message: string, detail = ''): void {
  void reply
    .status(status)
    .header('content-type', 'application/xml')
    .send(
      `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${message}</Message>${detail}</Error>`,
    );
}

/**
 * What S3 checks of a request that fauxqs does not, so that a client getting them wrong fails here
 * as it would on AWS. The signature itself is not recomputed.
 *
 * - A presigned request (`X-Amz-Algorithm` in the query) past `X-Amz-Date` plus `X-Amz-Expires` is
 *   refused 403 `AccessDenied` "Request has expired" (S3 User Guide, "Sharing objects with presigned
 *   URLs": a URL can be used until it expires).
 * - Every header its `X-Amz-SignedHeaders` lists must come with it: the signature covers them
 *   (Signature Version 4, "Authenticating Requests: Using Query Parameters"), so without one S3
 *   computes another signature and answers 403 `SignatureDoesNotMatch`.
 * - A body sent with `x-amz-checksum-sha256` must hash to it, or S3 refuses the upload 400
 *   `BadDigest` (S3 User Guide, "Checking object integrity").
 * - A part number is 1 to 10,000 (UploadPart), a DeleteObjects names at most 1,000 keys
 *   (DeleteObjects), and a listing answers at most 1,000 keys whatever `MaxKeys` asks (ListObjectsV2),
 *   all in the S3 API reference.
 */
function checkAsS3Does(app: ReturnType<typeof buildApp>): void {
  app.addHook('preHandler', (request: ObjectRequest, reply: ObjectReply, done: () => void) => {
    const query = (request.query ?? {}) as Record<string, string | undefined>;
    if (query['X-Amz-Algorithm'] !== undefined) {
      const signedAt = Date.parse(
        (query['X-Amz-Date'] ?? '').replace(
          /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/,
          '$1-$2-$3T$4:$5:$6Z',
        ),
      );
      const expires = Number(query['X-Amz-Expires'] ?? Number.NaN);
      if (!(signedAt + expires * 1000 >= Date.now()))
        return refuse(reply, 403, 'AccessDenied', 'Request has expired');
      const missing = (query['X-Amz-SignedHeaders'] ?? '')
        .split(';')
        .filter((name) => name !== '' && request.headers[name] === undefined);
      if (missing.length > 0) {
        return refuse(
          reply,
          403,
          'SignatureDoesNotMatch',
          `The request signature we calculated does not match the signature you provided (signed headers not sent: ${missing.join(', ')})`,
        );
      }
    }
    const checksum = request.headers['x-amz-checksum-sha256'];
    if (typeof checksum === 'string' && Buffer.isBuffer(request.body)) {
      if (createHash('sha256').update(request.body).digest('base64') !== checksum) {
        return refuse(
          reply,
          400,
          'BadDigest',
          'The SHA256 you specified did not match the calculated checksum.',
        );
      }
    }
    const part = query.partNumber;
    if (request.method === 'PUT' && part !== undefined && !/^([1-9]\d{0,3}|10000)$/.test(part)) {
      return refuse(
        reply,
        400,
        'InvalidArgument',
        'Part number must be an integer between 1 and 10000, inclusive',
      );
    }
    const body =
      typeof request.body === 'string'
        ? request.body
        : Buffer.isBuffer(request.body)
          ? request.body.toString('utf8')
          : '';
    if (
      request.method === 'POST' &&
      query.delete !== undefined &&
      (body.match(/<Object>/g)?.length ?? 0) > 1000
    ) {
      return refuse(
        reply,
        400,
        'MalformedXML',
        'The XML you provided was not well-formed or did not validate against our published schema',
      );
    }
    // A listing answers at most 1,000 keys, whatever MaxKeys asks for.
    if (query['max-keys'] !== undefined && Number(query['max-keys']) > 1000) query['max-keys'] = '1000';
    done();
  });
}

function storedObject(store: S3Store, bucket: string, key: string): StoredObject | undefined {
  try {
    return store.headObject(bucket, key);
  } catch {
    return undefined;
  }
}

type StoredObject = ReturnType<S3Store['putObject']>;

/** What a file of PersistentS3Store holds before the object's bytes, as one line of JSON. */
interface ObjectHeader {
  readonly key: string;
  readonly contentType: string;
  readonly etag: string;
  readonly lastModified: string;
  readonly metadata: Record<string, string>;
}

/**
 * fauxqs's S3 store, writing through to a directory: a bucket is a folder, an object one file (a JSON
 * header line, then its bytes) named by the SHA-256 of its key, since keys run to 1,024 bytes and hold
 * `/`. Each change is on disk before fauxqs answers the request that made it, replaced whole (written
 * aside, then renamed), so an acknowledged upload or delete survives the process being killed at any
 * point. Multipart uploads in progress are not kept: a restart forgets their parts, and such an upload
 * must start again (S3 keeps them until they are completed or aborted).
 */
class PersistentS3Store extends S3Store {
  /** The bucket of each multipart upload in progress: CompleteMultipartUpload's object does not name it. */
  private readonly uploadBuckets = new Map<string, string>();

  constructor(private readonly dir: string) {
    super();
    for (const bucket of readdirSync(dir, { withFileTypes: true })) {
      if (!bucket.isDirectory()) continue;
      super.createBucket(bucket.name);
      for (const file of readdirSync(path.join(dir, bucket.name))) {
        if (!file.endsWith('.object')) continue;
        const contents = readFileSync(path.join(dir, bucket.name, file));
        const newline = contents.indexOf(0x0a);
        const header = JSON.parse(contents.subarray(0, newline).toString('utf8')) as ObjectHeader;
        const restored = super.putObject(
          bucket.name,
          header.key,
          contents.subarray(newline + 1),
          header.contentType,
          header.metadata,
        );
        // As it was stored: a multipart object's ETag is not the MD5 of its bytes.
        restored.etag = header.etag;
        restored.lastModified = new Date(header.lastModified);
      }
    }
  }

  override createBucket(name: string): void {
    super.createBucket(name);
    mkdirSync(path.join(this.dir, name), { recursive: true });
  }

  override deleteBucket(name: string): void {
    super.deleteBucket(name);
    rmSync(path.join(this.dir, name), { recursive: true, force: true });
  }

  override putObject(...args: Parameters<S3Store['putObject']>): StoredObject {
    const stored = super.putObject(...args);
    this.save(args[0], stored);
    return stored;
  }

  override deleteObject(bucket: string, key: string): void {
    super.deleteObject(bucket, key);
    rmSync(this.fileOf(bucket, key), { force: true });
  }

  override createMultipartUpload(...args: Parameters<S3Store['createMultipartUpload']>): string {
    const uploadId = super.createMultipartUpload(...args);
    this.uploadBuckets.set(uploadId, args[0]);
    return uploadId;
  }

  override completeMultipartUpload(...args: Parameters<S3Store['completeMultipartUpload']>): StoredObject {
    const stored = super.completeMultipartUpload(...args);
    const bucket = this.uploadBuckets.get(args[0]);
    this.uploadBuckets.delete(args[0]);
    if (bucket === undefined) throw new Error(`multipart upload ${args[0]} has no known bucket`);
    this.save(bucket, stored);
    return stored;
  }

  override abortMultipartUpload(uploadId: string): void {
    super.abortMultipartUpload(uploadId);
    this.uploadBuckets.delete(uploadId);
  }

  private save(bucket: string, object: StoredObject): void {
    const header: ObjectHeader = {
      key: object.key,
      contentType: object.contentType,
      etag: object.etag,
      lastModified: object.lastModified.toISOString(),
      metadata: object.metadata,
    };
    writeFileAtomically(
      this.fileOf(bucket, object.key),
      Buffer.concat([Buffer.from(`${JSON.stringify(header)}\n`), object.body]),
    );
  }

  private fileOf(bucket: string, key: string): string {
    return path.join(this.dir, bucket, `${createHash('sha256').update(key).digest('hex')}.object`);
  }
}

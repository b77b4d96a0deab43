import { createHash, createHmac, type Hash, type Hmac } from 'node:crypto';
import { fromEnv } from '@aws-sdk/credential-provider-env';
import { SignatureV4 } from '@smithy/signature-v4';

/**
 * SageMaker's DescribeEndpoint, sent as the SDK would send it (JSON 1.1: `POST /` with
 * `X-Amz-Target: SageMaker.DescribeEndpoint`, SigV4 for service `sagemaker`) but with SigV4 alone:
 * the full SageMaker client is not among the platform's dependencies, and this is the health
 * function's only call. The endpoint URL follows the SDK's rules: `AWS_ENDPOINT_URL_SAGEMAKER` when
 * set, else `api.sagemaker.<region>` (botocore `sagemaker/2017-07-24/endpoint-rule-set-1.json`).
 */
export async function describeEndpointStatus(endpointName: string, signal?: AbortSignal): Promise<string> {
  const region = process.env.AWS_REGION ?? 'us-east-1';
  const url = new URL(
    process.env.AWS_ENDPOINT_URL_SAGEMAKER ??
      `https://api.sagemaker.${region}.${region.startsWith('cn-') ? 'amazonaws.com.cn' : 'amazonaws.com'}`,
  );
  const body = JSON.stringify({ EndpointName: endpointName });
  const signer = new SignatureV4({ service: 'sagemaker', region, credentials: fromEnv(), sha256: Sha256 });
  const signed = await signer.sign({
    method: 'POST',
    protocol: url.protocol,
    hostname: url.hostname,
    port: url.port ? Number(url.port) : undefined,
    path: '/',
    query: {},
    headers: {
      host: url.host,
      'content-type': 'application/x-amz-json-1.1',
      'x-amz-target': 'SageMaker.DescribeEndpoint',
    },
    body,
  });
  const response = await fetch(new URL('/', url), {
    method: 'POST',
    headers: signed.headers,
    body,
    signal,
  });
  const answer = (await response.json().catch(() => ({}))) as {
    EndpointStatus?: unknown;
    __type?: string;
    message?: string;
    Message?: string;
  };
  if (!response.ok || typeof answer.EndpointStatus !== 'string') {
    const type = response.headers.get('x-amzn-errortype') ?? answer.__type ?? `HTTP ${response.status}`;
    throw new Error(
      `DescribeEndpoint failed: ${type.split(':')[0]}: ${answer.message ?? answer.Message ?? ''}`,
    );
  }
  return answer.EndpointStatus;
}

/** SHA-256 and HMAC-SHA-256 as the signer wants them, from node:crypto. */
class Sha256 {
  private readonly hash: Hash | Hmac;
  constructor(secret?: string | ArrayBuffer | ArrayBufferView) {
    this.hash = secret === undefined ? createHash('sha256') : createHmac('sha256', bytes(secret));
  }
  update(data: string | ArrayBuffer | ArrayBufferView): void {
    this.hash.update(bytes(data));
  }
  async digest(): Promise<Uint8Array> {
    return new Uint8Array(this.hash.digest());
  }
}

function bytes(data: string | ArrayBuffer | ArrayBufferView): string | Uint8Array {
  if (typeof data === 'string') return data;
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  return new Uint8Array(data);
}

/**
 * The endpoint's status, read at most once per `ttlMs` per container. Health checks arrive from
 * load balancers and monitors every few seconds, each possibly on another container; 15 s keeps a
 * fleet of containers well below DescribeEndpoint's control-plane rate while a change of status
 * (an update starting or ending, which takes minutes) shows within 15 s. A failed read is not
 * cached, and concurrent requests share one read.
 */
export class EndpointReadiness {
  private cached: { status: string; at: number } | undefined;
  private pending: Promise<string> | undefined;

  constructor(
    private readonly read: () => Promise<string>,
    private readonly ttlMs = 15_000,
    private readonly now: () => number = Date.now,
  ) {}

  async status(): Promise<string> {
    if (this.cached && this.now() - this.cached.at < this.ttlMs) return this.cached.status;
    this.pending ??= this.read()
      .then((status) => {
        this.cached = { status, at: this.now() };
        return status;
      })
      .finally(() => {
        this.pending = undefined;
      });
    return this.pending;
  }
}

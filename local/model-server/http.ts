/**
 * HTTP plumbing the local model server's APIs share: replies, request bodies with a size limit, and
 * waits that end early when the client hangs up.
 */
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';

export const JSON_TYPE = 'application/json';

export interface Reply {
  readonly status: number;
  readonly headers?: Record<string, string>;
  readonly body?: string | Buffer;
}

/** Reset the connection instead of answering (an endpoint that is down). */
export const RESET = Symbol('reset');
/** The client went away before the answer was ready. */
export const GONE = Symbol('gone');
export type Outcome = Reply | typeof RESET | typeof GONE;

/** A request body, or its size when that exceeds the limit (the bytes are not kept). */
export type RequestBody = Buffer | { tooLarge: number };

export function send(res: ServerResponse, reply: Reply): void {
  if (res.destroyed) return;
  const length = reply.body === undefined ? 0 : Buffer.byteLength(reply.body);
  res.writeHead(reply.status, { ...reply.headers, 'content-length': String(length) });
  res.end(reply.body);
}

/** The request body, or the number of bytes sent when that exceeds `limit` (which are drained unkept). */
export function readBody(req: IncomingMessage, limit: number): Promise<RequestBody> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= limit) chunks.push(chunk);
    });
    req.once('end', () => {
      resolve(size > limit ? { tooLarge: size } : chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks));
    });
    req.once('error', reject);
    req.once('close', () => {
      if (!req.complete) reject(new Error('the client closed the connection before sending the whole body'));
    });
  });
}

export function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

/**
 * Waits `ms`, or less when the client hangs up (a client timeout, or the server closing).
 * Resolves true when the whole wait passed.
 */
export async function pause(ms: number, req: IncomingMessage): Promise<boolean> {
  const controller = new AbortController();
  const abort = () => controller.abort();
  req.socket.once('close', abort);
  try {
    await sleep(ms, undefined, { signal: controller.signal });
    return true;
  } catch {
    return false;
  } finally {
    req.socket.off('close', abort);
  }
}

export function headerValue(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

export function jsonReply(status: number, body: unknown, headers: Record<string, string> = {}): Reply {
  return { status, headers: { 'content-type': JSON_TYPE, ...headers }, body: JSON.stringify(body) };
}

/**
 * A handler with module state, for the local Lambda runtime's tests: each container gets its own
 * `containerId` and counts its own invocations.
 */
import { randomUUID } from 'node:crypto';
import type { Context } from 'aws-lambda';

const containerId = randomUUID();
let invocations = 0;
/** What `holdBytes` keeps alive across invocations. */
const held: Buffer[] = [];

export interface StatefulEvent {
  /** Milliseconds to wait before answering. */
  readonly delayMs?: number;
  /** Throw an Error with this message instead of answering. */
  readonly fail?: string;
  /** End the container's thread with this exit code, as a crashing runtime would. */
  readonly exit?: number;
  /** Throw this message from a timer: an uncaught exception outside the handler's promise. */
  readonly uncaught?: string;
  /** Lines to print to stdout. */
  readonly print?: readonly string[];
  /** Allocate this many bytes and keep them for the container's life. */
  readonly holdBytes?: number;
}

export interface StatefulResult {
  readonly containerId: string;
  readonly invocations: number;
  readonly requestId: string;
  readonly functionName: string;
  readonly remainingMs: number;
  readonly serviceName: string | undefined;
}

export async function handler(event: StatefulEvent, context: Context): Promise<StatefulResult> {
  invocations += 1;
  if (event.holdBytes) held.push(Buffer.alloc(event.holdBytes, 1));
  for (const line of event.print ?? []) console.log(line);
  if (event.delayMs) await new Promise((resolve) => setTimeout(resolve, event.delayMs));
  if (event.exit !== undefined) process.exit(event.exit);
  if (event.uncaught) {
    const message = event.uncaught;
    setTimeout(() => {
      throw new Error(message);
    }, 0);
    await new Promise((resolve) => setTimeout(resolve, 60_000));
  }
  if (event.fail) throw new TypeError(event.fail);
  return {
    containerId,
    invocations,
    requestId: context.awsRequestId,
    functionName: context.functionName,
    remainingMs: context.getRemainingTimeInMillis(),
    serviceName: process.env.POWERTOOLS_SERVICE_NAME,
  };
}

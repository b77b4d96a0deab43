/**
 * dynalite on a thread of its own (dynamodb.ts starts it). DynamoDB answers in about the same time
 * however busy its caller is; on the platform's thread, each request also waited behind the other
 * emulators' and the pollers' work, so one job's load slowed every other job's reads and writes.
 */
import { parentPort, workerData } from 'node:worker_threads';
import dynalite from 'dynalite';
import { listenOnLoopback } from '../loopback';

export interface DynamoDbThreadData {
  readonly port: number;
  /** A LevelDB directory; in memory without one. */
  readonly path?: string;
}

export type DynamoDbThreadMessage =
  | { readonly kind: 'listening'; readonly url: string }
  | { readonly kind: 'failed'; readonly message: string }
  | { readonly kind: 'closed' };

const { port, path } = workerData as DynamoDbThreadData;
const post = (message: DynamoDbThreadMessage) => parentPort?.postMessage(message);

const server = dynalite({
  createTableMs: 0,
  deleteTableMs: 0,
  updateTableMs: 0,
  ...(path ? { path } : {}),
});
listenOnLoopback(server, port).then(
  ({ url }) => post({ kind: 'listening', url }),
  (error: Error) => post({ kind: 'failed', message: error.message }),
);
// dynalite closes its database once the server has closed.
parentPort?.once('message', () => server.close(() => post({ kind: 'closed' })));

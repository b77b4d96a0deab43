import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { answerClientErrors } from './client-errors';

/**
 * The one address every local server binds. The emulators have no authentication of their own (any
 * caller of the SQS emulator could send jobs as any owner), so they answer this machine only.
 */
export const LOOPBACK = '127.0.0.1';

/**
 * Listens on the loopback address (port 0 picks a free one); rejects if the port is taken. Requests
 * the server cannot parse are answered without a reset (`answerClientErrors`).
 */
export async function listenOnLoopback(server: Server, port: number): Promise<{ port: number; url: string }> {
  answerClientErrors(server);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, LOOPBACK, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port: bound } = server.address() as AddressInfo;
  return { port: bound, url: `http://${LOOPBACK}:${bound}` };
}

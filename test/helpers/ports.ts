import { createServer } from 'node:net';
import { LOOPBACK } from '../../local/loopback';

/** A loopback port nobody listens on right now, for a server a test starts in another process. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, LOOPBACK, resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

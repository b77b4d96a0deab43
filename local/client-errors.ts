import { type IncomingMessage, type Server, type ServerResponse, STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';

/** How long a refused connection is still read from, so that its client gets to read the answer. */
const REFUSED_LINGER_MS = 5_000;

/** Node's statuses for the parse failures it names (`socketOnError` in Node's lib/_http_server.js). */
const CLIENT_ERROR_STATUS: Record<string, number> = {
  HPE_HEADER_OVERFLOW: 431,
  HPE_CHUNK_EXTENSIONS_OVERFLOW: 413,
  ERR_HTTP_REQUEST_TIMEOUT: 408,
};

/**
 * Answers a request the server cannot parse (a head past its `maxHeaderSize`, a malformed one) as
 * Node does, without resetting the client. Node writes its answer and destroys the socket at once,
 * so bytes the client is still sending meet a reset, which can discard the answer before the client
 * reads it (`EPIPE`, `ECONNRESET` instead of a 431). This closes only when the client stops
 * sending, or after REFUSED_LINGER_MS: meanwhile Node's parser goes on reading and dropping what
 * arrives, and emits `clientError` again for every chunk.
 */
export function answerClientErrors(server: Server): void {
  /** The response a socket is sending, until it has gone out. */
  const answering = new WeakMap<Duplex, ServerResponse>();
  const refused = new WeakSet<Duplex>();
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    answering.set(req.socket, res);
    res.on('close', () => answering.delete(req.socket));
  });
  server.on('clientError', (error: NodeJS.ErrnoException, socket: Duplex) => {
    if (refused.has(socket)) return;
    refused.add(socket);
    // A reset socket takes no answer.
    if (!socket.writable || error.code === 'ECONNRESET') return void socket.destroy();
    const status = CLIENT_ERROR_STATUS[error.code ?? ''] ?? 400;
    const refuse = () => {
      if (!socket.writable) return void socket.destroy();
      socket.write(
        `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`,
      );
      socket.once('end', () => socket.destroy());
      setTimeout(() => socket.destroy(), REFUSED_LINGER_MS).unref();
    };
    // Bytes that cannot be parsed after a request whose answer is still on its way (pipelined, or a
    // body longer than its Content-Length): that answer goes out first, then the refusal.
    const inFlight = answering.get(socket);
    if (inFlight) inFlight.once('close', () => (inFlight.writableFinished ? refuse() : socket.destroy()));
    else refuse();
  });
}

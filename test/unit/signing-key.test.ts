import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import {
  SigningKeyUnavailableError,
  signingKeysFromExtension,
} from '../../functions/handlers/authorizer/signing-key';

/** A stand-in for the Parameters and Secrets extension: one answer per version stage, and a count. */
async function extension(answers: Record<string, { status: number; body: string }>) {
  const calls: string[] = [];
  const server: Server = createServer((req, res) => {
    const stage = new URL(req.url ?? '/', 'http://localhost').searchParams.get('versionStage') ?? '';
    calls.push(stage);
    const answer = answers[stage] ?? { status: 500, body: 'no answer scripted' };
    res.writeHead(answer.status, { 'content-type': 'application/json' }).end(answer.body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const keys = signingKeysFromExtension({
    secretId: 'jwt-signing-key',
    port: (server.address() as AddressInfo).port,
    sessionToken: 'token',
  });
  return { keys, calls, close: () => new Promise((resolve) => server.close(resolve)) };
}

const current = { status: 200, body: JSON.stringify({ SecretString: 'current-key' }) };

describe('the signing keys read through the secrets extension', () => {
  let close: (() => Promise<unknown>) | undefined;
  afterEach(async () => close?.());

  it.each([
    ['ResourceNotFoundException', '{"__type":"ResourceNotFoundException","message":"no such version"}'],
    // The extension's error bodies are not documented: a generic one must mean the same.
    ['a body that names no exception', 'an unexpected error occurred while executing request'],
  ])('has no previous key before the first rotation, whatever a 400 says: %s', async (_, body) => {
    const stub = await extension({ AWSCURRENT: current, AWSPREVIOUS: { status: 400, body } });
    close = stub.close;
    expect(new TextDecoder().decode(await stub.keys.current())).toBe('current-key');
    expect(await stub.keys.previous()).toBeUndefined();
    // Kept for the TTL like a key, so bad signatures do not each call the extension again.
    expect(await stub.keys.previous()).toBeUndefined();
    expect(stub.calls.filter((stage) => stage === 'AWSPREVIOUS')).toHaveLength(1);
  });

  it('reports an extension that fails the previous key with a 5xx, and reads it again next time', async () => {
    const stub = await extension({ AWSCURRENT: current, AWSPREVIOUS: { status: 500, body: 'down' } });
    close = stub.close;
    await expect(stub.keys.previous()).rejects.toBeInstanceOf(SigningKeyUnavailableError);
    await expect(stub.keys.previous()).rejects.toBeInstanceOf(SigningKeyUnavailableError);
    expect(stub.calls).toEqual(['AWSPREVIOUS', 'AWSPREVIOUS']);
  });

  it('reports any failed read of the current key', async () => {
    const stub = await extension({ AWSCURRENT: { status: 400, body: 'AccessDeniedException' } });
    close = stub.close;
    await expect(stub.keys.current()).rejects.toBeInstanceOf(SigningKeyUnavailableError);
  });
});

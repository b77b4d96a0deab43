import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSecretsManager } from '../../local/aws/secrets-manager';
import { startConsole } from '../../local/console/server';
import { requestUrl } from '../../local/request-target';

/** The status line of the answer to `GET <target>`, written byte for byte. */
const statusOf = (url: string, target: string) =>
  new Promise<string>((resolve, reject) => {
    const { port } = new URL(url);
    const socket = connect(Number(port), '127.0.0.1');
    let answer = '';
    socket.setEncoding('latin1');
    socket.on('data', (data: string) => {
      answer += data;
    });
    socket.on('close', () => resolve(answer.split('\r\n')[0] ?? ''));
    socket.on('error', reject);
    socket.end(`GET ${target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
  });

describe('local servers and request targets that are no URL', () => {
  const servers: { url: string; close: () => Promise<void> }[] = [];

  beforeAll(async () => {
    servers.push(
      await startConsole({
        port: 0,
        dynamodbUrl: 'http://127.0.0.1:9',
        registryTable: 'registry',
        batchTable: 'batch',
        output: { subscribe: () => () => undefined },
      }),
    );
    servers.push(await startSecretsManager({ signing: 'secret' }));
  });

  afterAll(async () => {
    await Promise.all(servers.map((server) => server.close()));
  });

  it('reads an origin-form target as a path, even one starting with //', () => {
    expect(requestUrl('//evil.example/v2/health?x=1')?.pathname).toBe('//evil.example/v2/health');
    expect(requestUrl('http://host/path?x=1')?.pathname).toBe('/path');
    expect(requestUrl(undefined)?.pathname).toBe('/');
    expect(requestUrl('//[')?.pathname).toBe('//[');
    expect(requestUrl('http://[/health')).toBeUndefined();
    expect(requestUrl('*')).toBeUndefined();
  });

  it.each([0, 1])('answers a target that is no URL with a 400 and keeps serving (server %i)', async (i) => {
    const server = servers[i]!;
    expect(await statusOf(server.url, 'http://[/x')).toBe('HTTP/1.1 400 Bad Request');
    expect(await statusOf(server.url, '//[')).toMatch(/^HTTP\/1\.1 [24]0\d /);
    expect(await statusOf(server.url, '/')).toMatch(/^HTTP\/1\.1 \d{3} /);
  });
});

import { spawn } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const BIN = fileURLToPath(new URL('../../bin/inference-platform.mjs', import.meta.url));
const RESULTS = 1000;

/** The CLI as a user runs it, against a stand-in for the API that serves one ended job's results. */
describe('the CLI process', () => {
  let server: Server;
  let url: string;

  beforeAll(async () => {
    server = createServer((req, res) => {
      const body = req.url?.includes('/results')
        ? {
            results: Array.from({ length: RESULTS }, (_, index) => ({
              index,
              outputs: [{ data: 'x'.repeat(200) }],
            })),
          }
        : { jobId: 'j', status: 'SUCCEEDED', total: RESULTS, succeeded: RESULTS, failed: 0, cancelled: 0 };
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address() as { port: number };
    url = `http://127.0.0.1:${address.port}`;
  });

  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
  });

  it('exits quietly when its reader closes the pipe early (`| head -1`), with no stack trace', async () => {
    const child = spawn(process.execPath, [BIN, 'batch', 'results', 'j'], {
      env: { ...process.env, INFERENCE_API_URL: url, INFERENCE_API_TOKEN: 'token' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (data: Buffer) => {
      stderr += data.toString();
    });
    // The reader takes the first line's worth and goes away, as `head -1` does.
    child.stdout.once('data', () => child.stdout.destroy());
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));

    expect(stderr).toBe('');
    expect(code).toBe(0);
  }, 60_000);
});

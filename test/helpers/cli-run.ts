/** The CLI run in this process against a scripted API, as the CLI unit tests drive it. */
import type { CliIo } from '../../cli/context';
import { run } from '../../cli/main';

export type Reply = { status: number; body?: unknown };

/** Streams that keep what the CLI writes, and the environment it reads. */
export function fakeIo(env: NodeJS.ProcessEnv = { INFERENCE_API_TOKEN: 't' }) {
  const out = { stdout: '', stderr: '' };
  const stream = (key: 'stdout' | 'stderr') => ({
    write: (text: string, callback?: () => void) => {
      out[key] += text;
      callback?.();
      return true;
    },
    isTTY: false,
  });
  const io: CliIo = { stdout: stream('stdout'), stderr: stream('stderr'), env };
  return { io, out };
}

/** Runs the CLI against a scripted API and records the requests. */
export async function runWith(argv: string[], replies: Reply[] = []) {
  const { io, out } = fakeIo();
  const calls: { method: string; path: string; body?: unknown }[] = [];
  const fetch = (async (url: URL, init: RequestInit) => {
    calls.push({
      method: init.method!,
      path: url.pathname,
      ...(init.body ? { body: JSON.parse(init.body as string) } : {}),
    });
    const reply = replies.shift() ?? { status: 500, body: { error: 'no more replies' } };
    return new Response(reply.body === undefined ? null : JSON.stringify(reply.body), {
      status: reply.status,
    });
  }) as unknown as typeof globalThis.fetch;
  const code = await run(argv, io, { fetch, sleep: async () => undefined });
  return { code, ...out, calls };
}

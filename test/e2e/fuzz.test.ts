import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { platformToken } from '../../local/dev-credentials';
import { type PlatformProcess, startPlatformProcess } from '../../local/platform-process';
import { closeConnections, describeExchange, type FuzzRequest, send } from '../helpers/fuzz/exchange';
import {
  type FuzzContext,
  type FuzzFocus,
  fuzzRequests,
  outOfRangeRequests,
} from '../helpers/fuzz/generators';
import { problemsWith } from '../helpers/fuzz/oracle';

/**
 * Fuzzes every route of contracts/routes.ts through the gateway, as a client would: no answer may be a 5xx
 * (the model server is not faulted here), errors are JSON in the documented shapes, and the
 * platform still works afterwards. `FUZZ_RUNS` is the number of requests per property and
 * `FUZZ_SEED` the seed; a failure prints both with the counterexample's path for replay.
 */
const RUNS = Number(process.env.FUZZ_RUNS ?? 70);
const SEED = Number(process.env.FUZZ_SEED ?? 20_261_126);
// Generous per request: a slow shared machine, and shrinking replays requests.
const PROPERTY_TIMEOUT_MS = Math.max(120_000, RUNS * 400);
/** The tier of the rate-limit property: small, so a few requests spend it. */
const LIMITED_TIER = { name: 'fuzz-limited', limit: 5 };

const SIMPLE_INPUT0 = Array.from({ length: 16 }, (_, i) => i);
const SIMPLE_INPUT1 = Array.from({ length: 16 }, (_, i) => 2 * i + 1);
const simpleRequest = {
  inputs: [
    { name: 'INPUT0', shape: [1, 16], datatype: 'INT32', data: SIMPLE_INPUT0 },
    { name: 'INPUT1', shape: [1, 16], datatype: 'INT32', data: SIMPLE_INPUT1 },
  ],
};

describe('fuzzing every route (npm start)', () => {
  let platform: PlatformProcess;
  let context: FuzzContext;
  let limitedToken: string;
  const stats = new Map<number, number>();

  const call = async (path: string, token: string, init: { method?: string; json?: unknown } = {}) => {
    const response = await fetch(`${platform.apiUrl}${path}`, {
      method: init.method ?? 'GET',
      headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
      body: init.json === undefined ? undefined : JSON.stringify(init.json),
    });
    const text = await response.text();
    return { status: response.status, body: text ? JSON.parse(text) : undefined };
  };

  /** Sends one request and throws with the whole exchange if the answer breaks the contract. */
  const exchange = async (request: FuzzRequest, extra?: (status: number) => string[]) => {
    let response: Awaited<ReturnType<typeof send>>;
    try {
      response = await send(platform.apiUrl, request);
    } catch (error) {
      throw new Error(`no answer (${(error as Error).message}):\n${describeExchange(request)}`);
    }
    stats.set(response.status, (stats.get(response.status) ?? 0) + 1);
    const problems = [...problemsWith(request, response), ...(extra?.(response.status) ?? [])];
    if (problems.length > 0)
      throw new Error(`${problems.join('; ')}:\n${describeExchange(request, response)}`);
    return response;
  };

  const fuzz = (focus: FuzzFocus, numRuns = RUNS) =>
    fc.assert(
      fc.asyncProperty(fuzzRequests(context, focus), async (request) => {
        await exchange(request);
      }),
      { numRuns, seed: SEED },
    );

  beforeAll(async () => {
    console.log(`fuzz: seed ${SEED}, ${RUNS} runs per property (FUZZ_SEED, FUZZ_RUNS)`);
    platform = await startPlatformProcess({
      // Room for every fuzzed request, so the properties test handlers rather than the limiter;
      // one small tier for the property that does test it.
      RATE_LIMIT_TIERS: JSON.stringify({
        standard: { limit: 1_000_000, windowSeconds: 60 },
        [LIMITED_TIER.name]: { limit: LIMITED_TIER.limit, windowSeconds: 60 },
      }),
    });
    const [all, none, limited] = await Promise.all([
      platformToken({ sub: 'fuzz' }),
      platformToken({ sub: 'fuzz-no-scopes', scope: '' }),
      platformToken({ sub: 'fuzz-limited', tier: LIMITED_TIER.name }),
    ]);
    limitedToken = limited;
    const job = await call('/v1/batch-jobs', all, {
      method: 'POST',
      json: { model: 'simple', items: [{ id: 'known', inputs: simpleRequest.inputs }] },
    });
    expect(job.status).toBe(202);
    context = { tokens: { all, none }, jobId: job.body.jobId };
  });

  afterAll(async () => {
    closeConnections();
    console.log(`fuzz: statuses ${JSON.stringify(Object.fromEntries([...stats].sort(([a], [b]) => a - b)))}`);
    await platform?.stop();
  });

  it(
    'answers mutated and random bodies with no 5xx and errors in the documented shape',
    () => fuzz({ junkParams: 5, headers: false, query: false, authorization: false }),
    PROPERTY_TIMEOUT_MS,
  );

  it(
    'answers mutated headers (content types, binary framing, Accept, Authorization, ids, Origin) likewise',
    () => fuzz({ junkParams: 5, headers: true, query: false, authorization: true }),
    PROPERTY_TIMEOUT_MS,
  );

  it(
    'answers junk path parameters and other methods likewise',
    () => fuzz({ junkParams: 70, headers: false, query: false, authorization: false, otherMethods: true }),
    PROPERTY_TIMEOUT_MS,
  );

  it(
    'answers random query strings (nextToken and limit junk) likewise',
    // GET routes: the ones that read a query (limit, nextToken)
    () =>
      fuzz({
        junkParams: 10,
        headers: false,
        query: true,
        authorization: false,
        routes: (r) => r.method === 'GET',
      }),
    PROPERTY_TIMEOUT_MS,
  );

  it(
    'answers hostile well-formed bodies (deep unknown fields, built-in keys, extreme numbers, large labels) likewise',
    () =>
      fuzz(
        {
          junkParams: 0,
          headers: false,
          query: false,
          authorization: false,
          hostileBodies: true,
          routes: (r) => r.method !== 'GET' && r.method !== 'DELETE',
        },
        Math.ceil(RUNS / 2),
      ),
    PROPERTY_TIMEOUT_MS,
  );

  it(
    'refuses JSON numbers its datatype cannot hold with a 400, in realtime and batch alike',
    () =>
      fc.assert(
        fc.asyncProperty(outOfRangeRequests(context), async (request) => {
          await exchange(request, (status) => (status === 400 ? [] : [`status ${status}, not 400`]));
        }),
        { numRuns: Math.ceil(RUNS / 4), seed: SEED },
      ),
    PROPERTY_TIMEOUT_MS,
  );

  it(
    'answers with JSON 429s and Retry-After once the real limiter spends a budget',
    async () => {
      const limited: FuzzContext = { ...context, tokens: { all: limitedToken, none: limitedToken } };
      let refused = 0;
      await fc.assert(
        fc.asyncProperty(
          fuzzRequests(limited, { junkParams: 5, headers: false, query: false, authorization: false }),
          async (request) => {
            const { status } = await exchange(request);
            if (status === 429) refused++;
          },
        ),
        // enough requests to spend the budget and see the refusals
        { numRuns: Math.max(LIMITED_TIER.limit * 4, Math.ceil(RUNS / 4)), seed: SEED },
      );
      expect(refused).toBeGreaterThan(0);
    },
    PROPERTY_TIMEOUT_MS,
  );

  describe('afterwards', () => {
    it('still answers a known-good inference correctly', async () => {
      const { status, body } = await call('/v2/models/simple/infer', context.tokens.all, {
        method: 'POST',
        json: simpleRequest,
      });
      expect(status).toBe(200);
      const output = (name: string) =>
        (body.outputs as { name: string; data: number[] }[]).find((o) => o.name === name)?.data;
      expect(output('OUTPUT0')).toEqual(SIMPLE_INPUT0.map((x, i) => x + SIMPLE_INPUT1[i]!));
      expect(output('OUTPUT1')).toEqual(SIMPLE_INPUT0.map((x, i) => x - SIMPLE_INPUT1[i]!));
    });

    it('still lists the seeded models', async () => {
      const names: string[] = [];
      let nextToken: string | undefined;
      do {
        const query = `limit=100${nextToken ? `&nextToken=${encodeURIComponent(nextToken)}` : ''}`;
        const { status, body } = await call(`/v1/models?${query}`, context.tokens.all);
        expect(status).toBe(200);
        names.push(...(body.models as { name: string }[]).map((m) => m.name));
        nextToken = body.nextToken;
      } while (nextToken);
      expect(names).toEqual(expect.arrayContaining(['simple', 'iris']));
      for (const model of ['simple', 'iris']) {
        const { status, body } = await call(`/v1/models/${model}/versions/1`, context.tokens.all);
        expect(status).toBe(200);
        expect(body.status).toBe('ACTIVE');
      }
    });

    it('still runs a small batch job to completion', async () => {
      const submitted = await call('/v1/batch-jobs', context.tokens.all, {
        method: 'POST',
        json: {
          model: 'simple',
          items: [0, 1, 2].map((i) => ({ id: `after-${i}`, inputs: simpleRequest.inputs })),
        },
      });
      expect(submitted.status).toBe(202);
      let job = submitted.body as { jobId: string; status: string; succeeded: number };
      for (let attempt = 0; attempt < 300 && ['QUEUED', 'RUNNING'].includes(job.status); attempt++) {
        await new Promise((resolve) => setTimeout(resolve, 200));
        job = (await call(`/v1/batch-jobs/${job.jobId}`, context.tokens.all)).body;
      }
      expect(job).toMatchObject({ status: 'SUCCEEDED', succeeded: 3 });
    }, 90_000);

    it('has not crashed or logged an unhandled error', () => {
      const output = platform.output();
      expect(output).not.toMatch(/unhandled|emulator failure|function \w+ failed|exited with/i);
      expect(output).not.toMatch(/^\s+at .+:\d+:\d+\)?$/m); // a stack trace
    });
  });
});

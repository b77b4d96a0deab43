import { DynamoDBClient, ScanCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RATE_LIMIT_KEYS, type RateLimitDecision, RateLimiter } from '../../functions/edge/rate-limiter';
import { createCounterTable, type LocalDynamoDb, startDynamoDb } from '../../local/aws/dynamodb';
import { limitWritesPerKey, PartitionWriteLimit } from '../../local/aws/sdk-faults';
import { LOCAL_CREDENTIALS, localDynamoDb } from '../helpers/local-clients';

const TABLE = 'rate-limits';
const LIMIT = 20;
const TIERS = { standard: { limit: LIMIT, windowSeconds: 60 }, trial: { limit: 2, windowSeconds: 60 } };
const CONTAINERS = 4;

describe('RateLimiter on dynalite', () => {
  let dynamo: LocalDynamoDb;
  let clients: DynamoDBClient[];
  let clock: number;
  /** Several limiters, each with its own client, as separate Lambda containers would have. */
  let containers: RateLimiter[];

  /** Fires `count` requests at once, spread over the containers. */
  const burst = (sub: string, count: number, tier = 'standard'): Promise<RateLimitDecision[]> =>
    Promise.all(Array.from({ length: count }, (_, i) => containers[i % CONTAINERS]!.consume({ sub, tier })));

  const admitted = (decisions: RateLimitDecision[]) => decisions.filter((d) => d.allowed).length;

  beforeAll(async () => {
    dynamo = await startDynamoDb();
    clients = Array.from({ length: CONTAINERS }, () => localDynamoDb(dynamo.url));
    await createCounterTable(clients[0]!, TABLE);
    clock = Date.UTC(2026, 0, 1, 12, 0, 30);
    containers = clients.map((client) => new RateLimiter(client, TABLE, TIERS, () => clock));
  });

  afterAll(async () => {
    for (const client of clients) client.destroy();
    await dynamo.close();
  });

  it('admits exactly the limit when three times the limit arrive at once from several containers', async () => {
    // Act
    const decisions = await burst('alice', 3 * LIMIT);

    // Assess
    expect(decisions.filter((d) => d.degraded)).toEqual([]);
    expect(admitted(decisions)).toBe(LIMIT);
    // Every admitted request saw a distinct count: remaining values 19..0, each once.
    const remaining = decisions.filter((d) => d.allowed).map((d) => d.remaining);
    expect(remaining.sort((a, b) => b! - a!)).toEqual(Array.from({ length: LIMIT }, (_, i) => LIMIT - 1 - i));
    for (const denied of decisions.filter((d) => !d.allowed)) {
      expect(denied).toMatchObject({ remaining: 0, retryAfterSeconds: 30 });
    }
  });

  it("leaves another principal's budget untouched", async () => {
    const decisions = await burst('bob', LIMIT);

    expect(admitted(decisions)).toBe(LIMIT);
    expect(Math.min(...decisions.map((d) => d.remaining!))).toBe(0);
  });

  it('keeps principals apart even when one sub looks like part of another key', async () => {
    const decisions = await burst('alice@60', LIMIT);

    expect(admitted(decisions)).toBe(LIMIT);
  });

  it('admits again in the next window, with the previous windows still in the table', async () => {
    // Prepare: dynalite never expires items, so alice's full window stays behind.
    expect(admitted(await burst('alice', 1))).toBe(0);
    clock += 60_000;

    // Act
    const decisions = await burst('alice', 3 * LIMIT);

    // Assess
    expect(admitted(decisions)).toBe(LIMIT);
    const { Items = [] } = await clients[0]!.send(new ScanCommand({ TableName: TABLE }));
    const aliceWindows = Items.filter((item) =>
      item[RATE_LIMIT_KEYS.partitionKey]?.S?.startsWith('"alice"@'),
    );
    expect(aliceWindows.map((item) => item.count?.N)).toEqual([String(LIMIT), String(LIMIT)]);
  });

  it("applies the principal's tier", async () => {
    const decisions = await burst('carol', 10, 'trial');

    expect(admitted(decisions)).toBe(2);
  });

  describe('under sustained load', () => {
    const WINDOW = 10;
    const SUSTAINED = { standard: { limit: 3000, windowSeconds: WINDOW } };

    /** Every container serves `perTick` requests each 10 ms of simulated time; admissions per window. */
    const drive = async (limiters: RateLimiter[], sub: string, seconds: number, perTick: number) => {
      const start = clock;
      const perWindow = new Map<number, number>();
      let degraded = 0;
      for (let t = 0; t < seconds * 100; t++) {
        const window = Math.floor((clock - start) / (WINDOW * 1000));
        const decisions = await Promise.all(
          limiters.flatMap((l) =>
            Array.from({ length: perTick }, () => l.consume({ sub, tier: 'standard' })),
          ),
        );
        perWindow.set(window, (perWindow.get(window) ?? 0) + admitted(decisions));
        degraded += decisions.filter((d) => d.degraded).length;
        clock += 10;
      }
      return { perWindow: [...perWindow.values()], degraded };
    };

    it('admits at most the limit per window when containers serve more than a lease holds, with few writes', async () => {
      // Prepare: start on a window boundary, so the run covers two whole windows.
      clock = Math.ceil(clock / (WINDOW * 1000)) * WINDOW * 1000;
      const partition = new PartitionWriteLimit(1000, () => clock);
      for (const client of clients) limitWritesPerKey(client, partition);
      const limiters = clients.map((client) => new RateLimiter(client, TABLE, SUSTAINED, () => clock));

      // Act: 4 containers at 200 requests a second each, 800 a second against 300 a second allowed.
      const { perWindow, degraded } = await drive(limiters, 'dave', 2 * WINDOW, 2);

      // Assess
      expect(degraded).toBe(0);
      expect(perWindow).toEqual([3000, 3000]);
      expect(partition.throttled).toBe(0);
      expect(partition.writes / (2 * WINDOW * 800)).toBeLessThan(0.1);
    });

    it('admits at most the failure allowance per container per window while the counter is throttled', async () => {
      // Prepare: a partition that takes no writes at all.
      // One attempt each: the SDK's throttling back-off would wait in real time, not simulated time.
      const throttledClients = Array.from(
        { length: CONTAINERS },
        () =>
          new DynamoDBClient({
            endpoint: dynamo.url,
            region: 'us-east-1',
            credentials: LOCAL_CREDENTIALS,
            maxAttempts: 1,
          }),
      );
      const partition = new PartitionWriteLimit(0, () => clock);
      for (const client of throttledClients) limitWritesPerKey(client, partition);
      clock = Math.ceil(clock / (WINDOW * 1000)) * WINDOW * 1000;
      const limiters = throttledClients.map(
        (client) => new RateLimiter(client, TABLE, SUSTAINED, () => clock, { failureShare: 0.01 }),
      );

      try {
        const { perWindow, degraded } = await drive(limiters, 'erin', WINDOW, 2);

        // Assess: 1 % of 3,000 per container, not the 8,000 requests sent.
        expect(perWindow).toEqual([CONTAINERS * 30]);
        expect(degraded).toBe(8000);
        expect(partition.throttled).toBeGreaterThan(0);
      } finally {
        for (const client of throttledClients) client.destroy();
      }
    });
  });
});

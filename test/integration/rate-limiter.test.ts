import { type DynamoDBClient, ScanCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RATE_LIMIT_KEYS, type RateLimitDecision, RateLimiter } from '../../functions/edge/rate-limiter';
import { createCounterTable, type LocalDynamoDb, startDynamoDb } from '../../local/aws/dynamodb';
import { localDynamoDb } from '../helpers/local-clients';

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
});

/**
 * The rate limiter at tenant rates no machine here can send: many simulated containers, each with
 * its own `RateLimiter`, drive one tenant's requests through the real limiter code against the
 * local DynamoDB, with DynamoDB's per-partition limit of 1,000 writes a second modelled on the
 * counter item (`PartitionWriteLimit`). Time is simulated: every container's clock is one variable
 * stepped in ticks, so a minute of 20,000 requests a second takes seconds, not a minute of real
 * load. Writes are made for real, one attempt each (a throttled write is not retried).
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { LEASE_DEFAULTS, RateLimiter } from '../../functions/edge/rate-limiter';
import { createCounterTable, startDynamoDb } from '../../local/aws/dynamodb';
import { limitWritesPerKey, PartitionWriteLimit } from '../../local/aws/sdk-faults';
import { round } from './measure';

const CONTAINERS = 200;
const WINDOW_SECONDS = 10;
/** Three windows, so two boundaries are crossed. */
const SIMULATED_SECONDS = 3 * WINDOW_SECONDS;
const TICK_MS = 20;
const TABLE = 'limiter-scale';

interface Scenario {
  readonly name: string;
  /** The tenant's requests a second, spread evenly over the containers. */
  readonly rate: number;
  /** The tier's requests per window. */
  readonly limit: number;
  /** Writes a second the counter item's partition accepts (0: the counter table is unavailable). */
  readonly writesPerSecond: number;
}

const SCENARIOS: Scenario[] = [
  { name: '1,000 req/s, under the limit', rate: 1000, limit: 20_000, writesPerSecond: 1000 },
  { name: '20,000 req/s, under the limit', rate: 20_000, limit: 400_000, writesPerSecond: 1000 },
  { name: '20,000 req/s, twice the limit', rate: 20_000, limit: 100_000, writesPerSecond: 1000 },
  { name: '20,000 req/s, counter throttled', rate: 20_000, limit: 100_000, writesPerSecond: 0 },
];

async function simulate(url: string, scenario: Scenario, index: number) {
  let clock = Date.UTC(2026, 0, 1);
  const start = clock;
  const partition = new PartitionWriteLimit(scenario.writesPerSecond, () => clock);
  // Clients are shared by groups of containers to keep sockets few; the limiters are not.
  const clients = Array.from({ length: 8 }, () => {
    const client = new DynamoDBClient({
      endpoint: url,
      region: 'us-east-1',
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
      maxAttempts: 1,
    });
    limitWritesPerKey(client, partition);
    return client;
  });
  const tiers = { standard: { limit: scenario.limit, windowSeconds: WINDOW_SECONDS } };
  const containers = Array.from(
    { length: CONTAINERS },
    (_, i) => new RateLimiter(clients[i % clients.length]!, TABLE, tiers, () => clock),
  );
  const principal = { sub: `tenant-${index}`, tier: 'standard' };
  const windows = SIMULATED_SECONDS / WINDOW_SECONDS;
  const admitted = Array.from({ length: windows }, () => new Array<number>(CONTAINERS).fill(0));
  let requests = 0;
  let degraded = 0;
  // Fractional requests carry over, so every container gets exactly its share of the rate.
  const perContainerPerTick = (scenario.rate * TICK_MS) / 1000 / CONTAINERS;
  let owed = 0;
  try {
    for (let t = 0; t < (SIMULATED_SECONDS * 1000) / TICK_MS; t++) {
      owed += perContainerPerTick;
      const now = Math.floor(owed);
      owed -= now;
      const window = Math.floor((clock - start) / (WINDOW_SECONDS * 1000));
      const decisions = await Promise.all(
        containers.flatMap((container, c) =>
          Array.from({ length: now }, () =>
            container.consume(principal).then((d) => {
              if (d.allowed) admitted[window]![c]!++;
              if (d.degraded) degraded++;
            }),
          ),
        ),
      );
      requests += decisions.length;
      clock += TICK_MS;
    }
  } finally {
    for (const client of clients) client.destroy();
  }
  const perWindow = admitted.map((row) => row.reduce((a, b) => a + b, 0));
  const shareSpread = admitted.map((row) => {
    const mean = row.reduce((a, b) => a + b, 0) / CONTAINERS;
    return mean === 0 ? 0 : Math.max(...row.map((x) => Math.abs(x - mean))) / mean;
  });
  const allowance = Math.ceil(LEASE_DEFAULTS.failureShare * scenario.limit);
  return {
    scenario: scenario.name,
    requestsPerSecond: scenario.rate,
    limit: scenario.limit,
    requests,
    worstWindowAdmitted: Math.max(...perWindow),
    /** The bound: the limit, plus each container's failure allowance when the counter failed. */
    bound: scenario.limit + (degraded > 0 ? CONTAINERS * allowance : 0),
    worstWindowOverLimit: round(Math.max(...perWindow) / scenario.limit),
    boundOverLimit: round((scenario.limit + (degraded > 0 ? CONTAINERS * allowance : 0)) / scenario.limit),
    writesPerRequest: Math.round((partition.writes / requests) * 1000) / 1000,
    writesPerSecond: round(partition.writes / SIMULATED_SECONDS),
    throttledWrites: partition.throttled,
    degradedDecisions: degraded,
    worstShareFromEven: round(Math.max(...shareSpread)),
  };
}

export async function measureLimiterScale() {
  const dynamo = await startDynamoDb();
  const setup = new DynamoDBClient({
    endpoint: dynamo.url,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  try {
    await createCounterTable(setup, TABLE);
    const rows = [];
    for (const [i, scenario] of SCENARIOS.entries()) rows.push(await simulate(dynamo.url, scenario, i));
    return {
      containers: CONTAINERS,
      windowSeconds: WINDOW_SECONDS,
      simulatedSeconds: SIMULATED_SECONDS,
      rows,
    };
  } finally {
    setup.destroy();
    await dynamo.close();
  }
}

export type LimiterScaleFigures = Awaited<ReturnType<typeof measureLimiterScale>>;

export function printLimiterScale(figures: LimiterScaleFigures): void {
  console.log(
    '\nRate limiter at scale (%d simulated containers, %d s windows, %d simulated seconds, 1,000 writes/s per counter item)',
    figures.containers,
    figures.windowSeconds,
    figures.simulatedSeconds,
  );
  console.table(figures.rows);
}

/** Windows that admitted more than the stated bound: each one is a failure of the limiter. */
export function limiterScaleErrors(figures: LimiterScaleFigures): number {
  return figures.rows.filter((row) => row.worstWindowAdmitted > row.bound).length;
}

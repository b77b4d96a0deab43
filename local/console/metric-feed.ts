import { METRIC, METRICS_NAMESPACE, type RequestOutcome } from '../../contracts/metric-catalog';
import type { FunctionOutputBus, FunctionOutputLine } from '../aws/function-output';

export interface MetricFeedOptions {
  /** Width of one bucket in ms. @default 5000 */
  readonly bucketMs?: number;
  /** How far back the series reach in ms; older buckets are reused. @default 600000 (10 minutes) */
  readonly windowMs?: number;
  /** Latency samples kept per service and bucket; beyond it a uniform sample is kept. @default 500 */
  readonly maxSamples?: number;
  /** Distinct services tracked per bucket; more are folded into `other`. @default 32 */
  readonly maxServices?: number;
  readonly now?: () => number;
}

/** One service's numbers over the window, one entry per bucket, oldest first. */
export interface ServiceSeries {
  readonly requests: number[];
  readonly success: number[];
  readonly clientErrors: number[];
  readonly serverErrors: number[];
  readonly rateLimited: number[];
  readonly backendErrors: number[];
  readonly circuitOpened: number[];
  readonly batchItemsSucceeded: number[];
  readonly batchItemsFailed: number[];
  /** ms; null for a bucket without requests. */
  readonly latencyP50: (number | null)[];
  readonly latencyP99: (number | null)[];
}

export interface MetricSeries {
  readonly bucketMs: number;
  /** Start of each bucket (epoch ms), oldest first. */
  readonly times: number[];
  readonly overall: ServiceSeries;
  readonly services: Record<string, ServiceSeries>;
  /** Sums over the window, and latency percentiles over all its samples. */
  readonly totals: Record<Exclude<keyof ServiceSeries, 'latencyP50' | 'latencyP99'>, number> & {
    readonly latencyP50: number | null;
    readonly latencyP99: number | null;
  };
  /** Records that were ignored (not JSON, other namespace, bad shape). */
  readonly ignored: number;
}

type Counter = Exclude<keyof ServiceSeries, 'latencyP50' | 'latencyP99'>;
const COUNTERS: readonly Counter[] = [
  'requests',
  'success',
  'clientErrors',
  'serverErrors',
  'rateLimited',
  'backendErrors',
  'circuitOpened',
  'batchItemsSucceeded',
  'batchItemsFailed',
];
const OUTCOME_COUNTER: Record<RequestOutcome, Counter> = {
  success: 'success',
  client_error: 'clientErrors',
  rate_limited: 'rateLimited',
  server_error: 'serverErrors',
};
/** Summed metrics; Requests is counted per outcome as well, and rate limiting only from its outcome. */
const SUMMED: Partial<Record<string, Counter>> = {
  [METRIC.requests]: 'requests',
  [METRIC.backendErrors]: 'backendErrors',
  [METRIC.circuitOpened]: 'circuitOpened',
  [METRIC.batchItemsSucceeded]: 'batchItemsSucceeded',
  [METRIC.batchItemsFailed]: 'batchItemsFailed',
};
const OTHER = 'other';

interface Cell {
  counts: Record<Counter, number>;
  latencies: number[];
  /** Latency values seen, for reservoir sampling once `latencies` is full. */
  seen: number;
}

interface Bucket {
  index: number;
  cells: Map<string, Cell>;
}

/**
 * Turns the handlers' EMF lines into time series: a ring of fixed-width buckets over the last
 * `windowMs`, so memory stays bounded however long the platform runs.
 */
export class MetricFeed {
  private readonly bucketMs: number;
  private readonly ring: Bucket[];
  private readonly maxSamples: number;
  private readonly maxServices: number;
  private readonly now: () => number;
  private ignoredRecords = 0;

  constructor(options: MetricFeedOptions = {}) {
    this.bucketMs = options.bucketMs ?? 5000;
    const slots = Math.max(1, Math.ceil((options.windowMs ?? 600_000) / this.bucketMs));
    this.ring = Array.from({ length: slots }, () => ({ index: -1, cells: new Map() }));
    this.maxSamples = options.maxSamples ?? 500;
    this.maxServices = options.maxServices ?? 32;
    this.now = options.now ?? Date.now;
  }

  /** Feeds every line published on the bus from now on; returns the unsubscribe function. */
  attach(bus: Pick<FunctionOutputBus, 'subscribe'>): () => void {
    return bus.subscribe((line) => this.ingest(line));
  }

  /** Takes one output line; lines that are not EMF records of the platform's namespace are skipped. */
  ingest(line: FunctionOutputLine): void {
    const record = line.emf ?? parseEmf(line.line);
    if (record === undefined) return;
    if (record === null || !this.ingestRecord(record, line.at, line.functionName)) this.ignoredRecords++;
  }

  /** Adds one EMF record; false when it is not one of the platform's (it is then ignored). */
  ingestRecord(record: Record<string, unknown>, at: number = this.now(), fallbackService = OTHER): boolean {
    const names = declaredMetrics(record._aws);
    if (!names) return false;
    const timestamp = (record._aws as { Timestamp?: unknown }).Timestamp;
    const now = this.now();
    // A clock ahead of ours counts as now; records older than the window are dropped.
    const time = Math.min(typeof timestamp === 'number' && Number.isFinite(timestamp) ? timestamp : at, now);
    const index = Math.floor(time / this.bucketMs);
    if (index <= Math.floor(now / this.bucketMs) - this.ring.length) return true;
    const service = typeof record.service === 'string' && record.service ? record.service : fallbackService;
    const bucket = this.bucketAt(index);
    const cell = this.cellOf(bucket, service);
    for (const name of names) {
      const values = valuesOf(record[name]);
      if (values.length === 0) continue;
      if (name === METRIC.latency) {
        for (const value of values) this.sample(cell, value);
        continue;
      }
      const counter = SUMMED[name];
      if (!counter) continue;
      const sum = values.reduce((a, b) => a + b, 0);
      cell.counts[counter] += sum;
      if (name === METRIC.requests) {
        const outcome = OUTCOME_COUNTER[record.outcome as RequestOutcome];
        if (outcome) cell.counts[outcome] += sum;
      }
    }
    // ServerErrors is 1 or 0 per request; without an outcome it is the only sign of a 5xx.
    if (names.includes(METRIC.serverErrors) && record.outcome === undefined) {
      cell.counts.serverErrors += valuesOf(record[METRIC.serverErrors]).reduce((a, b) => a + b, 0);
    }
    if (names.includes(METRIC.rateLimited) && record.outcome === undefined) {
      cell.counts.rateLimited += valuesOf(record[METRIC.rateLimited]).reduce((a, b) => a + b, 0);
    }
    return true;
  }

  /** The series over the window ending now. */
  series(): MetricSeries {
    const last = Math.floor(this.now() / this.bucketMs);
    const first = last - this.ring.length + 1;
    const indices = Array.from({ length: this.ring.length }, (_, i) => first + i);
    const live = indices.map((index) => {
      const bucket = this.ring[index % this.ring.length]!;
      return bucket.index === index ? bucket.cells : undefined;
    });
    const names = new Set<string>();
    for (const cells of live) for (const name of cells?.keys() ?? []) names.add(name);

    const build = (pick: (cells: Map<string, Cell>) => Cell[]) => {
      const series = {
        ...Object.fromEntries(COUNTERS.map((c) => [c, [] as number[]])),
        latencyP50: [],
        latencyP99: [],
      } as unknown as ServiceSeries;
      const all: number[] = [];
      for (const cells of live) {
        const chosen = cells ? pick(cells) : [];
        for (const counter of COUNTERS) {
          series[counter].push(chosen.reduce((sum, cell) => sum + cell.counts[counter], 0));
        }
        const samples = chosen.flatMap((cell) => cell.latencies).sort((a, b) => a - b);
        all.push(...samples);
        series.latencyP50.push(percentile(samples, 50));
        series.latencyP99.push(percentile(samples, 99));
      }
      return { series, samples: all.sort((a, b) => a - b) };
    };

    const overall = build((cells) => [...cells.values()]);
    const services = Object.fromEntries(
      [...names]
        .sort()
        .map((name) => [name, build((cells) => (cells.has(name) ? [cells.get(name)!] : [])).series]),
    );
    const totals = Object.fromEntries(
      COUNTERS.map((c) => [c, overall.series[c].reduce((a, b) => a + b, 0)]),
    ) as MetricSeries['totals'];
    return {
      bucketMs: this.bucketMs,
      times: indices.map((index) => index * this.bucketMs),
      overall: overall.series,
      services,
      totals: {
        ...totals,
        latencyP50: percentile(overall.samples, 50),
        latencyP99: percentile(overall.samples, 99),
      },
      ignored: this.ignoredRecords,
    };
  }

  private bucketAt(index: number): Bucket {
    const bucket = this.ring[index % this.ring.length]!;
    if (bucket.index !== index) {
      bucket.index = index;
      bucket.cells = new Map();
    }
    return bucket;
  }

  private cellOf(bucket: Bucket, service: string): Cell {
    const name = bucket.cells.has(service) || bucket.cells.size < this.maxServices ? service : OTHER;
    let cell = bucket.cells.get(name);
    if (!cell) {
      cell = {
        counts: Object.fromEntries(COUNTERS.map((c) => [c, 0])) as Record<Counter, number>,
        latencies: [],
        seen: 0,
      };
      bucket.cells.set(name, cell);
    }
    return cell;
  }

  /** Keeps a uniform sample of at most maxSamples values (reservoir sampling). */
  private sample(cell: Cell, value: number): void {
    cell.seen++;
    if (cell.latencies.length < this.maxSamples) {
      cell.latencies.push(value);
      return;
    }
    const slot = Math.floor(Math.random() * cell.seen);
    if (slot < this.maxSamples) cell.latencies[slot] = value;
  }
}

/** Nearest-rank percentile of ascending values. */
export function percentile(sorted: readonly number[], p: number): number | null {
  if (sorted.length === 0) return null;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!;
}

/** Names of the metrics an EMF `_aws` block declares in the platform's namespace, or undefined. */
function declaredMetrics(aws: unknown): string[] | undefined {
  if (typeof aws !== 'object' || aws === null) return undefined;
  const directives = (aws as { CloudWatchMetrics?: unknown }).CloudWatchMetrics;
  if (!Array.isArray(directives)) return undefined;
  const names: string[] = [];
  for (const directive of directives) {
    if (directive?.Namespace !== METRICS_NAMESPACE || !Array.isArray(directive.Metrics)) continue;
    for (const metric of directive.Metrics) {
      if (typeof metric?.Name === 'string' && !names.includes(metric.Name)) names.push(metric.Name);
    }
  }
  return names.length > 0 ? names : undefined;
}

/** A metric value: a number or an array of numbers (several values in one flush). */
function valuesOf(value: unknown): number[] {
  const values = Array.isArray(value) ? value : [value];
  return values.filter((v): v is number => typeof v === 'number' && Number.isFinite(v));
}

/** The record of a line that looks like EMF; null when it looks like EMF but is no JSON object. */
function parseEmf(line: string): Record<string, unknown> | null | undefined {
  const text = line.trim();
  if (!text.startsWith('{') || !text.includes('"_aws"')) return undefined;
  try {
    const parsed: unknown = JSON.parse(text);
    return typeof parsed === 'object' && parsed !== null && '_aws' in parsed
      ? (parsed as Record<string, unknown>)
      : null;
  } catch {
    return null;
  }
}

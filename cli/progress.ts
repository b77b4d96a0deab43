/** Batch job progress on stderr: a redrawn bar on a terminal, plain lines in logs and pipes. */

export interface JobProgress {
  readonly jobId: string;
  readonly status: string;
  readonly total: number;
  readonly succeeded: number;
  readonly failed: number;
  readonly cancelled: number;
}

/** `[#########-----] 62% 620/1000 ok 615 failed 5` (and `cancelled n` when there are any). */
export function progressBar(job: JobProgress, width = 30): string {
  const done = job.succeeded + job.failed + job.cancelled;
  const ratio = job.total > 0 ? Math.min(1, done / job.total) : 0;
  const filled = Math.round(ratio * width);
  const bar = `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}]`;
  const cancelled = job.cancelled > 0 ? ` cancelled ${job.cancelled}` : '';
  return `${bar} ${Math.floor(ratio * 100)}% ${done}/${job.total} ok ${job.succeeded} failed ${job.failed}${cancelled}`;
}

/** One line for logs: `job abc RUNNING 620/1000 ok 615 failed 5`. */
export function progressLine(job: JobProgress): string {
  const done = job.succeeded + job.failed + job.cancelled;
  const cancelled = job.cancelled > 0 ? ` cancelled ${job.cancelled}` : '';
  return `job ${job.jobId} ${job.status} ${done}/${job.total} ok ${job.succeeded} failed ${job.failed}${cancelled}`;
}

export interface ProgressStream {
  write(text: string): unknown;
  readonly isTTY?: boolean;
}

export class ProgressReporter {
  private last = '';
  private lastAt = Number.NEGATIVE_INFINITY;
  private drawn = false;

  constructor(
    private readonly stream: ProgressStream,
    /** Without a terminal, the least time between two identical-looking lines. */
    private readonly lineIntervalMs = 10_000,
    private readonly now: () => number = Date.now,
  ) {}

  update(job: JobProgress): void {
    if (this.stream.isTTY) {
      this.stream.write(`\r${progressBar(job)} ${job.status}\x1b[K`);
      this.drawn = true;
      return;
    }
    // In logs: a line when anything changed, and otherwise one now and then as a heartbeat.
    const line = progressLine(job);
    if (line !== this.last || this.now() - this.lastAt >= this.lineIntervalMs) {
      this.stream.write(`${line}\n`);
      this.last = line;
      this.lastAt = this.now();
    }
  }

  /** Ends the bar's line so later messages start on their own. */
  finish(): void {
    if (this.drawn) this.stream.write('\n');
    this.drawn = false;
  }
}

/** Batch job progress on stderr: a redrawn bar on a terminal, plain lines in logs and pipes. */

export interface JobProgress {
  readonly jobId: string;
  readonly status: string;
  readonly total: number;
  readonly succeeded: number;
  readonly failed: number;
  readonly cancelled: number;
  /** Present while the job's input files are still being read: `total` is what was found so far. */
  readonly inputScan?: { readonly bytesRead: number; readonly bytes: number };
}

/** `620/1000`, or `620/1000+ reading input 42%` while the input is still being read. */
function counts(job: JobProgress, done: number): string {
  if (!job.inputScan) return `${done}/${job.total}`;
  const read =
    job.inputScan.bytes > 0 ? Math.floor((100 * job.inputScan.bytesRead) / job.inputScan.bytes) : 0;
  return `${done}/${job.total}+ reading input ${read}%`;
}

/**
 * `[#########-----] 62% 620/1000 ok 615 failed 5` (and `cancelled n` when there are any). While the
 * input is still being read the percentage is of the items found so far.
 */
export function progressBar(job: JobProgress, width = 30): string {
  const done = job.succeeded + job.failed + job.cancelled;
  const ratio = job.total > 0 ? Math.min(1, done / job.total) : 0;
  const filled = Math.round(ratio * width);
  const bar = `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}]`;
  const cancelled = job.cancelled > 0 ? ` cancelled ${job.cancelled}` : '';
  return `${bar} ${Math.floor(ratio * 100)}% ${counts(job, done)} ok ${job.succeeded} failed ${job.failed}${cancelled}`;
}

/** One line for logs: `job abc RUNNING 620/1000 ok 615 failed 5`. */
export function progressLine(job: JobProgress): string {
  const done = job.succeeded + job.failed + job.cancelled;
  const cancelled = job.cancelled > 0 ? ` cancelled ${job.cancelled}` : '';
  return `job ${job.jobId} ${job.status} ${counts(job, done)} ok ${job.succeeded} failed ${job.failed}${cancelled}`;
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

/**
 * An upload's progress on stderr: a redrawn `uploading [#####-----] 50% 4.0/8.0 MiB` on a
 * terminal, a line per tenth in logs and pipes.
 */
export class UploadProgress {
  private done = 0;
  private tenths = -1;

  constructor(
    private readonly stream: ProgressStream,
    private readonly total: number,
  ) {}

  add(bytes: number): void {
    this.done += bytes;
    const ratio = this.total > 0 ? Math.min(1, this.done / this.total) : 1;
    // Under a MiB, in KiB: a small archive would read 0.0/0.0 MiB.
    const [unit, divisor] = this.total >= 1024 * 1024 ? ['MiB', 1024 * 1024] : ['KiB', 1024];
    const size = (n: number) => (n / divisor).toFixed(1);
    const text = `uploading ${Math.floor(ratio * 100)}% ${size(this.done)}/${size(this.total)} ${unit}`;
    if (this.stream.isTTY) {
      const filled = Math.round(ratio * 30);
      this.stream.write(
        `\ruploading [${'#'.repeat(filled)}${'-'.repeat(30 - filled)}] ${text.slice(10)}\x1b[K`,
      );
      return;
    }
    const tenths = Math.floor(ratio * 10);
    if (tenths !== this.tenths) {
      this.stream.write(`${text}\n`);
      this.tenths = tenths;
    }
  }

  finish(): void {
    if (this.stream.isTTY && this.done > 0) this.stream.write('\n');
  }
}

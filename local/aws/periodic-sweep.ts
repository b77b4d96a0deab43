/** A sweep that runs one pass at a time, the next starting `intervalMs` after the last ended. */
export interface PeriodicSweep {
  /** One pass now, or the one already running; resolves with how many things it deleted. */
  sweep(): Promise<number>;
  /** Stops the passes, waiting for a running one. */
  close(): Promise<void>;
}

/** Runs `pass` every `intervalMs` until closed; a failed pass is retried at the next interval. */
export function startPeriodicSweep(pass: () => Promise<number>, intervalMs: number): PeriodicSweep {
  let running: Promise<number> | undefined;
  const sweep = () => {
    running ??= pass();
    const current = running;
    void current.finally(() => {
      if (running === current) running = undefined;
    });
    return current;
  };
  let timer: NodeJS.Timeout | undefined;
  let closed = false;
  const schedule = () => {
    if (closed) return;
    timer = setTimeout(() => {
      sweep()
        .catch(() => 0)
        .finally(schedule);
    }, intervalMs);
    timer.unref();
  };
  schedule();
  return {
    sweep,
    async close() {
      closed = true;
      clearTimeout(timer);
      await running?.catch(() => undefined);
    },
  };
}

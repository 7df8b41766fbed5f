export interface RepeatOptions {
  /** Also runs the task at once, not only after the first interval. */
  now?: boolean;
  /** Lets the process exit while the timer runs (periodic upkeep, not work a caller awaits). */
  unref?: boolean;
}

/**
 * Runs `task` every `ms`, one run at a time: a tick that comes while the last
 * run is still going is skipped. Why: periodic store work (lease renewals,
 * resume scans, sweeps) started on every tick piles up when the store is
 * slower than the interval. Under 16 lines on a starved FerretDB, OMS held
 * some 4 000 lease renewals queued at once (150 MiB of heap), each one more
 * load on the store that was already too slow, until no code moved at all.
 * A failed run is handed to `onError` and the next tick runs again. Returns
 * the stop function; a run in flight finishes on its own.
 */
export function repeatInTurn(ms: number, task: () => Promise<unknown>, onError: (err: unknown) => void, o: RepeatOptions = {}): () => void {
  let running = false;
  const tick = (): void => {
    if (running) return;
    running = true;
    let run: Promise<unknown>;
    try {
      run = task();
    } catch (err) {
      run = Promise.reject(err);
    }
    void run.catch(onError).finally(() => {
      running = false;
    });
  };
  const timer = setInterval(tick, ms);
  if (o.unref === true) timer.unref();
  if (o.now === true) tick();
  return () => clearInterval(timer);
}

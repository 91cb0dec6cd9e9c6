// The login's last resort: if it is still running a grace period after its
// deadline, it exits with nothing printed. Armed by the first wait (a request,
// the chain, a lock): a cache hit never waits, and the timer alone would cost
// it ~0.4 MiB of a standalone process (docs/benchmarks.md). A synchronous read
// cannot be interrupted by a timer anyway.

export interface HardStop {
  /** Starts the timer unless it runs already (idempotent). */
  arm(): void;
  /** Cancels the timer, if any: the answer is given. */
  disarm(): void;
}

export interface TimerHandle {
  unref?(): unknown;
}

export interface Timers {
  readonly now: () => number;
  readonly setTimeout: (fn: () => void, ms: number) => TimerHandle;
  readonly clearTimeout: (t: TimerHandle) => void;
}

const REAL_TIMERS: Timers = {
  now: Date.now,
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (t) => clearTimeout(t as ReturnType<typeof setTimeout>),
};

/** Calls `expire` at `deadlineAt + graceMs` once armed; the timer never keeps the process alive. */
export function hardStop(deadlineAt: number, graceMs: number, expire: () => void, t = REAL_TIMERS): HardStop {
  let timer: TimerHandle | undefined;
  return {
    arm() {
      if (timer) return;
      timer = t.setTimeout(expire, Math.max(0, deadlineAt + graceMs - t.now()));
      timer.unref?.();
    },
    disarm() {
      if (timer) t.clearTimeout(timer);
      timer = undefined;
    },
  };
}

// Pure: when a run that must end by `deadline` stops starting IAM calls, and
// when it aborts the calls still in flight, so that saving its progress (one
// PUT) fits before the deadline. Times are absolute milliseconds of one clock.

/** The most a run keeps back from its budget for calls in flight and the save. */
export const MAX_RESERVE_MS = 60_000;
/** Share of a short budget kept back. */
export const RESERVE_SHARE = 0.25;

export interface StopTimes {
  /** From then on no new IAM call starts. */
  readonly softStopAt: number;
  /** Calls still in flight then are aborted (they count as not done). */
  readonly hardStopAt: number;
}

/**
 * A quarter of the budget, at most 60 s, is kept back: half of it for calls
 * in flight (an adaptive-retry backoff can hold one for seconds), half for
 * writing progress.json (or, when the read completed just in time, for the
 * writes of the complete run).
 */
export function stopTimes(startMs: number, deadlineMs: number): StopTimes {
  const budget = Math.max(0, deadlineMs - startMs);
  const reserve = Math.min(MAX_RESERVE_MS, budget * RESERVE_SHARE);
  return { softStopAt: deadlineMs - reserve, hardStopAt: deadlineMs - reserve / 2 };
}

/** Saved key lists older than this are read again (key bodies are kept: a key id's body never changes). */
export const DEFAULT_PROGRESS_MAX_AGE_MS = 6 * 3600_000;

/** True when key lists read at `since` may still be reused at `now`. */
export function listsReusable(since: string, nowMs: number, maxAgeMs: number): boolean {
  const t = Date.parse(since);
  return Number.isFinite(t) && t <= nowMs && nowMs - t <= maxAgeMs;
}

/** Where a run that read nothing new stood when its time ran out. */
export interface StallFacts {
  readonly startMs: number;
  readonly deadlineMs: number;
  /** When the IAM read began (after the bucket reads). */
  readonly iamStartMs: number;
  /**
   * The least time by which a retry's backoff would have passed the hard stop
   * (undefined: no backoff was cut; e.g. an attempt that never answered).
   */
  readonly pastStopMs: number | undefined;
}

/** How much a budget fell short of letting a run save anything. */
export interface Shortfall {
  readonly budgetMs: number;
  /** Spent on the bucket reads before the first IAM call. */
  readonly bucketReadMs: number;
  /** What IAM calls had, up to the hard stop. */
  readonly iamMs: number;
  /** The smallest budget that could have made progress, as far as the run can tell (a lower bound). */
  readonly neededMs: number;
  /** neededMs - budget; undefined when the run cannot tell (a call that never answered). */
  readonly shortByMs: number | undefined;
}

/** Inverse of stopTimes: the budget whose soft (reserve share 1) or hard (share 1/2) stop comes `ms` after the start. */
function budgetFor(ms: number, share: 1 | 0.5): number {
  const capAt = MAX_RESERVE_MS / RESERVE_SHARE;
  const b = ms / (1 - RESERVE_SHARE * share);
  return b <= capAt ? b : ms + MAX_RESERVE_MS * share;
}

/**
 * Pure: the shortfall of a run that read nothing new. If the bucket reads used
 * the time before the soft stop, the budget needs room for them; if a throttled
 * call's backoff would have passed the hard stop, it needs at least that much
 * more time before the hard stop.
 */
export function shortfall(f: StallFacts): Shortfall {
  const budgetMs = Math.max(0, f.deadlineMs - f.startMs);
  const { softStopAt, hardStopAt } = stopTimes(f.startMs, f.deadlineMs);
  const bucketReadMs = Math.max(0, f.iamStartMs - f.startMs);
  const iamMs = Math.max(0, hardStopAt - f.iamStartMs);
  let neededMs: number;
  let known = true;
  if (f.iamStartMs >= softStopAt) neededMs = budgetFor(bucketReadMs, 1);
  else if (f.pastStopMs !== undefined) neededMs = budgetFor(hardStopAt - f.startMs + f.pastStopMs, 0.5);
  else {
    neededMs = budgetMs;
    known = false;
  }
  neededMs = Math.ceil(neededMs);
  return {
    budgetMs,
    bucketReadMs,
    iamMs,
    neededMs,
    shortByMs: known ? Math.max(1, neededMs - budgetMs) : undefined,
  };
}

const s = (ms: number) => `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 0)} s`;

/** The line a run that read nothing new logs and prints. */
export function describeShortfall(x: Shortfall): string {
  const by =
    x.shortByMs !== undefined
      ? `short by at least ${s(x.shortByMs)} (a budget of ${s(x.neededMs)} or more)`
      : 'short by an unknown amount: an IAM call did not answer in time';
  return `time budget too small for any progress: of ${s(x.budgetMs)}, the bucket reads took ${s(x.bucketReadMs)} and IAM calls had ${s(x.iamMs)} before the stop, and no IAM call completed; ${by}`;
}

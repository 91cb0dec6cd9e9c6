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

import { describe, expect, it } from 'vitest';
import {
  DEFAULT_PROGRESS_MAX_AGE_MS,
  describeShortfall,
  listsReusable,
  shortfall,
  stopTimes,
} from '../../../lambda/deadline.js';

describe('stopTimes', () => {
  it.each([
    // [start, deadline, softStopAt, hardStopAt]
    ['Lambda, 15 min left: 60 s kept back', 0, 900_000, 840_000, 870_000],
    ['CLI --time-budget 60: a quarter kept back', 1_000, 61_000, 46_000, 53_500],
    ['4 min: the reserve is capped at 60 s', 0, 240_000, 180_000, 210_000],
    ['a tiny budget still stops before its end', 0, 1_000, 750, 875],
    ['no time at all: stop at once', 5_000, 5_000, 5_000, 5_000],
    ['a deadline already past: stop at once', 5_000, 4_000, 4_000, 4_000],
  ])('%s', (_what, start, deadline, soft, hard) => {
    expect(stopTimes(start, deadline)).toEqual({ softStopAt: soft, hardStopAt: hard });
  });

  it('always stops starting calls before aborting them, and both before the deadline', () => {
    for (const budget of [0, 1, 10, 999, 60_000, 240_001, 900_000, 3_600_000]) {
      const t = stopTimes(100, 100 + budget);
      expect(t.softStopAt).toBeLessThanOrEqual(t.hardStopAt);
      expect(t.hardStopAt).toBeLessThanOrEqual(100 + budget);
      expect(100 + budget - t.softStopAt).toBeLessThanOrEqual(60_000);
    }
  });
});

describe('listsReusable', () => {
  const now = Date.parse('2026-01-01T12:00:00Z');
  it.each([
    ['read 1 h ago', '2026-01-01T11:00:00Z', true],
    ['read exactly 6 h ago', '2026-01-01T06:00:00Z', true],
    ['read 6 h and 1 s ago', '2026-01-01T05:59:59Z', false],
    ['dated in the future (clock skew, tampering)', '2026-01-01T12:00:01Z', false],
    ['not a time', 'yesterday-ish', false],
  ])('%s -> %s', (_what, since, want) => {
    expect(listsReusable(since, now, DEFAULT_PROGRESS_MAX_AGE_MS)).toBe(want);
  });
});

describe('shortfall', () => {
  it.each([
    // [what, deadline, iamStart, pastStop, neededMs, shortByMs]
    ['the bucket reads used the time before the soft stop', 3000, 2400, undefined, 3200, 200],
    ['a backoff missed the hard stop by 700 ms', 3000, 100, 700, 3800, 800],
    ['a call that never answered: unknown', 3000, 100, undefined, 3000, undefined],
    ['a long budget: the 60 s cap', 900_000, 1000, 10_000, 910_000, 10_000],
  ])('%s', (_w, deadline, iamStart, pastStop, needed, shortBy) => {
    const x = shortfall({ startMs: 0, deadlineMs: deadline, iamStartMs: iamStart, pastStopMs: pastStop });
    expect(x.neededMs).toBe(needed);
    expect(x.shortByMs).toBe(shortBy);
    expect(describeShortfall(x)).toMatch(/^time budget too small for any progress: /);
  });
});

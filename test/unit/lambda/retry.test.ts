import { describe, expect, it } from 'vitest';
import { backoffMs, DeadlineRetryStrategy, RunBudget } from '../../../lambda/retry.js';

const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;

describe('backoffMs', () => {
  it.each([
    ['first throttling retry, top of the jitter', 0, 'THROTTLING', 0.999, 999],
    ['third throttling retry', 2, 'THROTTLING', 0.5, 2000],
    ['capped at 20 s', 9, 'THROTTLING', 0.999, 19_980],
    ['a transient error waits less', 0, 'TRANSIENT', 0.999, 49],
  ] as const)('%s', (_w, n, type, r, ms) => {
    expect(backoffMs(n, type, r)).toBe(ms);
  });
});

describe('RunBudget.sleep', () => {
  it('a wait that would pass the stop starts no timer and ends with the abort, as an AbortError', async () => {
    let now = 1000;
    const b = new RunBudget(() => now);
    const c = new AbortController();
    b.limit(1500, c.signal);
    const before = timers();
    const p = b.sleep(20_000);
    expect(timers()).toBe(before);
    now = 1500;
    c.abort();
    await expect(p).rejects.toMatchObject({ name: 'AbortError' });
    expect(b.cutWaits).toBe(1);
    expect(b.pastStopMs).toBe(19_500);
  });

  it('a wait within the budget is ended by the abort too, and its timer cleared', async () => {
    const b = new RunBudget(() => 0);
    const c = new AbortController();
    b.limit(60_000, c.signal);
    const before = timers();
    const p = b.sleep(10_000);
    expect(timers()).toBe(before + 1);
    c.abort();
    await expect(p).rejects.toMatchObject({ name: 'AbortError' });
    expect(timers()).toBe(before);
  });

  it('without a limit it just sleeps', async () => {
    await expect(new RunBudget().sleep(1)).resolves.toBeUndefined();
  });
});

describe('DeadlineRetryStrategy', () => {
  it('retries throttling up to maxAttempts, not client errors; an aborted run ends the backoff', async () => {
    const b = new RunBudget();
    const s = new DeadlineRetryStrategy(3, b, undefined, () => 0);
    const t0 = await s.acquireInitialRetryToken('');
    const t1 = await s.refreshRetryTokenForRetry(t0, { errorType: 'THROTTLING' });
    expect(t1.getRetryCount()).toBe(1);
    expect(t1.getRetryDelay()).toBe(0);
    const t2 = await s.refreshRetryTokenForRetry(t1, { errorType: 'TRANSIENT' });
    await expect(s.refreshRetryTokenForRetry(t2, { errorType: 'THROTTLING' })).rejects.toThrow(/No retry/);
    await expect(s.refreshRetryTokenForRetry(t0, { errorType: 'CLIENT_ERROR' })).rejects.toThrow(/No retry/);
    const c = new AbortController();
    b.limit(Date.now() + 100, c.signal);
    const slow = new DeadlineRetryStrategy(10, b, undefined, () => 0.999);
    const p = slow.refreshRetryTokenForRetry(await slow.acquireInitialRetryToken(''), {
      errorType: 'THROTTLING',
    });
    c.abort();
    await expect(p).rejects.toMatchObject({ name: 'AbortError' });
  });
});

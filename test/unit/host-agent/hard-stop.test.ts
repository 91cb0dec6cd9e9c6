import { describe, expect, it } from 'vitest';
import { hardStop, type TimerHandle, type Timers } from '../../../host-agent/hard-stop.js';

/** A clock and timer table the test drives by hand. */
function fakeTimers(start: number) {
  let now = start;
  const pending = new Map<number, { at: number; fn: () => void; unref: boolean }>();
  let next = 1;
  const timers: Timers = {
    now: () => now,
    setTimeout: (fn, ms) => {
      const id = next++;
      const t = { at: now + ms, fn, unref: false };
      pending.set(id, t);
      const handle: TimerHandle & { id: number } = {
        id,
        unref: () => {
          t.unref = true;
        },
      };
      return handle;
    },
    clearTimeout: (h) => {
      pending.delete((h as { id: number }).id);
    },
  };
  const advance = (ms: number) => {
    now += ms;
    for (const [id, t] of [...pending]) {
      if (t.at <= now) {
        pending.delete(id);
        t.fn();
      }
    }
  };
  return { timers, pending, advance };
}

describe('hardStop', () => {
  it('starts no timer until armed (a cache hit never arms it)', () => {
    const f = fakeTimers(1000);
    let fired = 0;
    const s = hardStop(6000, 1500, () => fired++, f.timers);
    f.advance(60_000);
    expect(f.pending.size).toBe(0);
    expect(fired).toBe(0);
    s.disarm();
  });

  it.each([
    ['armed at the start', 0, 6500],
    ['armed 3 s in: still the deadline plus grace, not 3 s later', 3000, 3500],
    ['armed after the deadline plus grace: at once', 9000, 0],
  ])('%s', (_label, armAfter, firesAfter) => {
    const f = fakeTimers(1000);
    let fired = 0;
    const s = hardStop(6000, 1500, () => fired++, f.timers);
    f.advance(armAfter);
    s.arm();
    s.arm(); // a second wait does not start a second timer
    expect(f.pending.size).toBe(1);
    expect([...f.pending.values()][0]?.unref).toBe(true);
    if (firesAfter > 0) f.advance(firesAfter - 1);
    expect(fired).toBe(0);
    f.advance(1);
    expect(fired).toBe(1);
  });

  it('disarm cancels an armed timer', () => {
    const f = fakeTimers(0);
    let fired = 0;
    const s = hardStop(100, 1500, () => fired++, f.timers);
    s.arm();
    s.disarm();
    f.advance(10_000);
    expect(fired).toBe(0);
    expect(f.pending.size).toBe(0);
  });
});

import { describe, expect, it } from 'vitest';
import { mapLimit, mapLimitUntil } from '../../../lambda/map-limit.js';

const tick = () => new Promise((r) => setTimeout(r, 1));

describe('mapLimitUntil', () => {
  it.each([
    // [items, limit, stop after this many started, expected]
    [5, 2, Number.POSITIVE_INFINITY, [0, 10, 20, 30, 40]],
    [5, 1, 2, [0, 10, undefined, undefined, undefined]],
    [5, 2, 0, [undefined, undefined, undefined, undefined, undefined]],
    [0, 4, 0, []],
  ])('%i items, %i at a time, stop after %s started', async (n, limit, after, want) => {
    let started = 0;
    const out = await mapLimitUntil(
      Array.from({ length: n }, (_, i) => i),
      limit,
      () => started >= after,
      async (i) => {
        started++;
        await tick();
        return i * 10;
      },
    );
    expect(out).toEqual(want);
  });

  it('lets calls in flight finish when told to stop', async () => {
    let stop = false;
    const finished: number[] = [];
    const out = await mapLimitUntil(
      [0, 1, 2, 3, 4, 5],
      3,
      () => stop,
      async (i) => {
        if (i === 2) stop = true; // the third to start: 0 and 1 are in flight too
        await tick();
        finished.push(i);
        return i;
      },
    );
    // Three were in flight when the stop came: all three finished, none started after.
    expect(finished.sort()).toEqual([0, 1, 2]);
    expect(out).toEqual([0, 1, 2, undefined, undefined, undefined]);
  });

  it('still rejects with the first failure, after the calls in flight settled', async () => {
    let settled = 0;
    await expect(
      mapLimit([0, 1, 2], 3, async (i) => {
        await tick();
        settled++;
        if (i === 1) throw new Error('boom');
        return i;
      }),
    ).rejects.toThrow('boom');
    expect(settled).toBe(3);
  });
});

import { describe, expect, it } from 'vitest';
import { exitWhenSettled } from '../../../host-agent/exit.js';

const outcomes = {
  'an answer': { settle: () => Promise.resolve(0), code: 0, reports: [] },
  'a refusal': { settle: () => Promise.resolve(2), code: 2, reports: [] },
  'an internal error': {
    settle: () => Promise.reject(new TypeError('boom')),
    code: 1,
    reports: ['internal error: boom'],
  },
  'a thrown non-error': { settle: () => Promise.reject('odd'), code: 1, reports: ['internal error: odd'] },
};

describe('exitWhenSettled', () => {
  it.each(Object.keys(outcomes) as (keyof typeof outcomes)[])(
    '%s: exits at once with its code',
    async (what) => {
      const { settle, code, reports } = outcomes[what];
      const exits: number[] = [];
      const said: string[] = [];
      await exitWhenSettled(
        settle(),
        (c) => exits.push(c),
        (m) => said.push(m),
      );
      expect(exits).toEqual([code]);
      expect(said).toEqual(reports);
    },
  );
});

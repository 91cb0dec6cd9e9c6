import { describe, expect, it } from 'vitest';
import {
  FULL_RUN_BUDGET_KIND,
  FULL_RUN_BUDGET_VERSION,
  fullRunBudgetKey,
  lastEventFullRun,
  mayStartFullRun,
  serializeEventFullRun,
} from '../../../lambda/full-run-budget.js';

const HOUR = 3_600_000;
const T = Date.parse('2026-12-01T12:00:00Z');

describe('lastEventFullRun', () => {
  const good = serializeEventFullRun({
    kind: FULL_RUN_BUDGET_KIND,
    version: FULL_RUN_BUDGET_VERSION,
    startedAt: new Date(T).toISOString(),
    users: ['mallory'],
  });
  it.each([
    ['missing', undefined, undefined],
    ['written by the publisher', good, T],
    ['not JSON', '{', undefined],
    ['JSON null', 'null', undefined],
    ['another kind', good.replace(FULL_RUN_BUDGET_KIND, 'x'), undefined],
    ['another version', good.replace('"version": 1', '"version": 2'), undefined],
    ['a date that does not parse', good.replace(/"startedAt": "[^"]*"/, '"startedAt": "soon"'), undefined],
    ['a date that is not a string', good.replace(/"startedAt": "[^"]*"/, '"startedAt": 5'), undefined],
  ] as const)('%s', (_n, text, want) => expect(lastEventFullRun(text)).toBe(want));
});

describe('mayStartFullRun', () => {
  it.each([
    ['none before', undefined, T, true],
    ['one a minute ago', T - 60_000, T, false],
    ['one just under the interval ago', T - HOUR + 1, T, false],
    ['one exactly the interval ago', T - HOUR, T, true],
    ['one long ago', T - 10 * HOUR, T, true],
    ['one recorded in the future (clock went back) does not block', T + 60_000, T, true],
  ] as const)('%s', (_n, last, now, want) => expect(mayStartFullRun(last, now, HOUR)).toBe(want));
});

it('lives under publisher/, outside the layout', () => {
  expect(fullRunBudgetKey('p/')).toBe('p/publisher/event-full-run.json');
  expect(fullRunBudgetKey('')).toBe('publisher/event-full-run.json');
});

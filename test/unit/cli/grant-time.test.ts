import { describe, expect, it } from 'vitest';
import { checkGrantLength, grantEnd, grantLength, parseGrantDuration } from '../../../cli/grant-time.js';

describe('parseGrantDuration (--for)', () => {
  it.each([
    ['90m', 5400],
    ['4h', 14400],
    ['1h30m', 5400],
    ['12h', 43200],
    ['1m', 60],
    ['2d', 172800],
    ['1d2h3m', 93780],
    [' 4h ', 14400],
    ['0h1m', 60],
  ])('%j -> %i s', (text, seconds) => {
    expect(parseGrantDuration(text)).toBe(seconds);
  });

  it.each([
    ['', /expected a duration/],
    ['4', /expected a duration/],
    ['4 h', /expected a duration/],
    ['1.5h', /expected a duration/],
    ['-4h', /expected a duration/],
    ['4H', /expected a duration/],
    ['30m1h', /expected a duration/],
    ['45s', /expected a duration/],
    ['h', /expected a duration/],
    ['0m', /at least 1 minute/],
    ['0h0m', /at least 1 minute/],
  ])('refuses %j', (text, message) => {
    expect(() => parseGrantDuration(text)).toThrow(expect.objectContaining({ name: 'UsageError' }));
    expect(() => parseGrantDuration(text)).toThrow(message);
  });
});

describe('checkGrantLength', () => {
  it.each([
    [43200, 12, true],
    [43260, 12, false],
    [3600, 1, true],
    [3660, 1, false],
    [172800, 48, true],
  ])('%i s within %i h: %s', (seconds, max, ok) => {
    const check = () => checkGrantLength(seconds, max, 'X');
    if (ok) expect(check).not.toThrow();
    else expect(check).toThrow(new RegExp(`refusing --for X .*longer than the maximum grant of ${max} h`));
  });
});

describe('grantEnd and grantLength', () => {
  it.each([
    ['2026-12-07T05:35:00.000Z', 14400, '2026-12-07T09:35:00Z'],
    // Down to the whole second: never longer than asked.
    ['2026-12-07T05:35:10.999Z', 5400, '2026-12-07T07:05:10Z'],
    ['2026-12-31T23:30:00.000Z', 3600, '2027-01-01T00:30:00Z'],
  ])('%s + %i s -> %s', (now, seconds, end) => {
    expect(grantEnd(new Date(now), seconds)).toBe(end);
  });

  it.each([
    [5400, '1 h 30 min'],
    [14400, '4 h'],
    [60, '1 min'],
    [0, '0 min'],
  ])('%i s -> %j', (seconds, text) => {
    expect(grantLength(seconds)).toBe(text);
  });
});

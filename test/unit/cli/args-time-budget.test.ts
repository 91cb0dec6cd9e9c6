// `publish --time-budget SECONDS` (kept apart from args.test.ts, which other options extend).
import { describe, expect, it } from 'vitest';
import { parseArgs, USAGE } from '../../../cli/args.js';

describe('publish --time-budget', () => {
  it.each([
    [['publish', '--bucket', 'b', '--time-budget', '600'], 600],
    [['publish', '--bucket', 'b', '--time-budget=90.5'], 90.5],
    [['publish', '--bucket', 'b'], undefined],
  ])('%j -> %s', (argv, want) => {
    const c = parseArgs(argv);
    expect(c.cmd === 'publish' && c.timeBudget).toBe(want === undefined ? undefined : want);
  });

  it.each([
    [['publish', '--bucket', 'b', '--time-budget', '0'], /--time-budget must be positive/],
    [['publish', '--bucket', 'b', '--time-budget', '-5'], /--time-budget must be positive/],
    [['publish', '--bucket', 'b', '--time-budget', 'soon'], /--time-budget must be a number/],
    [['publish', '--bucket', 'b', '--time-budget'], /--time-budget needs a value/],
    [['status', '--bucket', 'b', '--time-budget', '60'], /--time-budget does not apply to status/],
  ])('%j is refused', (argv, message) => {
    expect(() => parseArgs(argv)).toThrow(message);
  });

  it('is in the usage text with its exit code', () => {
    expect(USAGE).toMatch(/--time-budget SECONDS.*exit 3/);
  });
});

import { describe, expect, it } from 'vitest';
import { caseVariantPatterns, GRANT_PATTERN_CHAR_BUDGET } from '../../../lib/grant-tag-patterns.js';
import { stringLike } from '../../helpers/iam-policy-eval.js';

const cost = (patterns: string[]) => patterns.reduce((n, p) => n + p.length + 3, 0);

describe('caseVariantPatterns', () => {
  it.each<[string, number, string[]]>([
    ['a:', 100, ['A:*', 'a:*']],
    ['ab/', 100, ['AB/*', 'Ab/*', 'aB/*', 'ab/*']],
    ['1-:', 100, ['1-:*']],
    // Over the budget: the last letters become `?`, first the later ones.
    ['ab:', 20, ['A?:*', 'a?:*']],
    ['ab:', 1, ['??:*']],
    // A non-ASCII letter with case is always `?`; one without case stays.
    ['é-x:', 100, ['?-X:*', '?-x:*']],
    ['日本:', 100, ['日本:*']],
  ])('%j (budget %i) -> %j', (prefix, budget, expected) => {
    expect(caseVariantPatterns(prefix, budget)).toEqual(expected);
  });

  it.each(['ssh-grant:', 'corp/ssh-grant-approval:', `${'g'.repeat(120)}:`])(
    '%s: stays within the budget and matches every case variant of the prefix',
    (prefix) => {
      const patterns = caseVariantPatterns(prefix);
      expect(cost(patterns)).toBeLessThanOrEqual(GRANT_PATTERN_CHAR_BUDGET);
      const flip = (s: string, mask: number) =>
        [...s].map((c, i) => ((mask >> (i % 30)) & 1 ? c.toUpperCase() : c.toLowerCase())).join('');
      for (const mask of [0, 1, 2, 0b1010_1010, 0x3fff_ffff, 0x1555_5555, 12345])
        expect(
          patterns.some((p) => stringLike(`${flip(prefix, mask)}Group`, p)),
          `mask ${mask}`,
        ).toBe(true);
    },
  );

  it('the default prefix gets every variant exactly: 2^8 patterns, no `?`', () => {
    const patterns = caseVariantPatterns('ssh-grant:');
    expect(patterns).toHaveLength(256);
    expect(patterns.filter((p) => p.includes('?'))).toEqual([]);
  });
});

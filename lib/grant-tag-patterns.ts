// The aws:TagKeys patterns that catch a grant tag key in any letter case. IAM compares
// tag keys without case (a user cannot hold both `ssh-grant:X` and `SSH-GRANT:X`: TagUser
// with the second overwrites the first's value), while StringLike compares with case and
// IAM has no StringLike...IgnoreCase operator. So a Deny lists the prefix in every case
// variant, each followed by `*`. Pure.

/** Budget for the patterns' characters in one policy (IAM: 6,144 per managed policy). */
export const GRANT_PATTERN_CHAR_BUDGET = 4000;

/**
 * StringLike patterns (`<variant>*`) matching every tag key that starts with `prefix` in
 * any letter case. ASCII letters give two variants each; past what the budget allows, and
 * for non-ASCII letters (whose case folding IAM does not document), a letter becomes `?`
 * (any one character): the patterns then match more keys than the grant keys, never fewer.
 * The prefix holds no `*` or `?` (parseTagKeyPrefix refuses them).
 */
export function caseVariantPatterns(prefix: string, budget = GRANT_PATTERN_CHAR_BUDGET): string[] {
  const chars = [...prefix];
  const ascii = chars.filter((c) => /^[A-Za-z]$/.test(c)).length;
  // Each pattern costs its length, `*`, two quotes and a comma.
  let varied = ascii;
  while (varied > 0 && 2 ** varied * (chars.length + 4) > budget) varied--;
  let patterns = [''];
  let left = varied;
  for (const c of chars) {
    if (/^[A-Za-z]$/.test(c) && left > 0) {
      left--;
      patterns = patterns.flatMap((p) => [p + c.toLowerCase(), p + c.toUpperCase()]);
    } else {
      const cased = c.toLowerCase() !== c.toUpperCase();
      patterns = patterns.map((p) => p + (cased ? '?' : c));
    }
  }
  return [...new Set(patterns.map((p) => `${p}*`))].sort();
}

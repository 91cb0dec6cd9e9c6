// Character-class checks without regular expressions, for what a cache hit
// reads: the config's names, the local user, the cache entry's lines. Each rule
// is also kept as a pattern beside its user (IAM_USER_NAME, REGION_NAME, ...),
// which stays the rule where data is large (the publisher, directory.json), and
// the two are tested equal on edge cases and random strings
// (test/unit/contract/charset.test.ts).
//
// Why: in the standalone agent's runtime, the first regular expressions a
// process runs cost ~0.8 MiB of the runtime's regex compiler and JIT
// (docs/benchmarks.md), and a cache hit need not run any. Under node, a cached
// line's owner, key blob and fingerprint keep their patterns (host-agent/derived.ts
// says why).

/** One bit per group of characters; a class is their union. */
export const GROUP_BITS = {
  digit: 1,
  /** a-f */
  hexLower: 2,
  lower: 4,
  upper: 8,
  underscore: 16,
  dot: 32,
  dash: 64,
  plus: 128,
  slash: 256,
  equals: 512,
  comma: 1024,
  at: 2048,
  colon: 4096,
  /** ! * ' ( ) */
  prefixMarks: 8192,
} as const;
const {
  digit: DIGIT,
  hexLower: HEX_LOWER,
  lower: LOWER,
  upper: UPPER,
  underscore: UNDERSCORE,
  dot: DOT,
  dash: DASH,
  plus: PLUS,
  slash: SLASH,
  equals: EQUALS,
  comma: COMMA,
  at: AT,
  colon: COLON,
  prefixMarks: PREFIX_MARKS,
} = GROUP_BITS;
const ALNUM = DIGIT | LOWER | UPPER;

/** The classes the checks use. */
export const CLASS = {
  digit: DIGIT,
  hex: DIGIT | HEX_LOWER,
  lower: LOWER,
  /** A local user name's first character (A-Z a-z 0-9 _), and the others (also . -). */
  localFirst: ALNUM | UNDERSCORE,
  localRest: ALNUM | UNDERSCORE | DOT | DASH,
  /** An S3 bucket name's ends (a-z 0-9), and its middle (also . -). */
  bucketEnd: DIGIT | LOWER,
  bucketMiddle: DIGIT | LOWER | DOT | DASH,
  /** A key prefix in the bucket: A-Z a-z 0-9 ! _ . * ' ( ) / - */
  prefix: ALNUM | PREFIX_MARKS | UNDERSCORE | DOT | SLASH | DASH,
  /** What a cache file name keeps as is (the rest is %-escaped). */
  fileName: ALNUM | UNDERSCORE | DOT | DASH,
  /** What an audit message keeps as is (the rest becomes `?`). */
  auditSafe: ALNUM | UNDERSCORE | DOT | COMMA | COLON | SLASH | PLUS | EQUALS | AT | DASH,
  /** An IAM role ARN's path after `role/`: \w + = , . @ / - */
  rolePath: ALNUM | UNDERSCORE | PLUS | EQUALS | COMMA | DOT | AT | SLASH | DASH,
  /** An ARN partition after `aws` (-cn, -us-gov, ...): a-z - */
  partitionTail: LOWER | DASH,
} as const;

export type CharClass = number;

/**
 * The groups of each ASCII code, 0-127, written out: a hit would otherwise build it at every
 * start. The unit test rebuilds it from the groups' definitions above.
 */
// biome-ignore format: one row per 16 codes
export const GROUPS = new Uint16Array([
  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
  0, 8192, 0, 0, 0, 0, 0, 8192, 8192, 8192, 8192, 128, 1024, 64, 32, 256,
  1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 4096, 0, 0, 512, 0, 0,
  2048, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8,
  8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 0, 0, 0, 0, 16,
  0, 6, 6, 6, 6, 6, 6, 4, 4, 4, 4, 4, 4, 4, 4, 4,
  4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 0, 0, 0, 0, 0,
]);

/** Whether every character of s from `from` up to `to` (exclusive) is in class `k`. */
export function allIn(s: string, k: CharClass, from = 0, to = s.length): boolean {
  for (let i = from; i < to; i++) {
    const c = s.charCodeAt(i);
    if (c >= 128 || ((GROUPS[c] as number) & k) === 0) return false;
  }
  return true;
}

/** s with each character outside class `k` replaced by `other(c)`. */
export function replaceOutside(s: string, k: CharClass, other: (c: string) => string): string {
  let out = '';
  let kept = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 128 && ((GROUPS[c] as number) & k) !== 0) continue;
    out += s.slice(kept, i) + other(s.charAt(i));
    kept = i + 1;
  }
  return kept === 0 ? s : out + s.slice(kept);
}

/**
 * Whether every character of s is one IAM names use: A-Z a-z 0-9 + = , . @ _ -.
 * Native calls, not a loop: JavaScriptCore's interpreter spends ~550 instructions
 * per character of a loop and ~700 per native call, and readDerived checks every
 * owner of an entry at once (all joined). escape() leaves exactly A-Z a-z 0-9
 * @ * _ + - . / as they are; = and , become + first, and * and / are refused.
 */
export function allIamNameChars(s: string): boolean {
  const t = s.replaceAll('=', '+').replaceAll(',', '+');
  return escape(t) === t && !t.includes('*') && !t.includes('/');
}

/** 1 to `max` IAM name characters, and neither `.` nor `..` (/^(?!\.\.?$)[A-Za-z0-9+=,.@_-]{1,max}$/). */
export function isIamNameOf(s: string, max: number): boolean {
  return iamNameShape(s, max) && allIamNameChars(s);
}

/** isIamNameOf's length and the `.`/`..` exclusion, its characters left to allIamNameChars. */
export function iamNameShape(s: string, max: number): boolean {
  return s.length >= 1 && s.length <= max && s !== '.' && s !== '..';
}

/**
 * Base64 as key blobs are written: a multiple of 4 characters, at least 4, of the alphabet, up to two
 * `=` at the end (keys.ts BASE64 with length % 4 === 0). atob checks the alphabet natively under Bun,
 * a key's ~70-700 characters in one call. It drops ASCII whitespace first; the decoded length catches
 * that: with any character dropped, fewer bytes come out (or atob refuses a stray `=`).
 */
export function isPaddedBase64(s: string): boolean {
  const n = s.length;
  if (n === 0 || n % 4 !== 0) return false;
  const pad = s.charCodeAt(n - 1) === 61 ? (s.charCodeAt(n - 2) === 61 ? 2 : 1) : 0;
  return decodedLength(s) === (3 * n) / 4 - pad;
}

/** Exactly `count` characters of base64's alphabet, no padding (a SHA-256 fingerprint: 43), through atob. */
export function isUnpaddedBase64(s: string, count: number): boolean {
  return s.length === count && count % 4 !== 1 && decodedLength(s) === Math.floor((count * 3) / 4);
}

/** What atob makes of s, in bytes; -1 when it refuses it. */
function decodedLength(s: string): number {
  try {
    return atob(s).length;
  } catch {
    return -1;
  }
}

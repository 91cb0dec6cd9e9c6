// Strings for checking a loop against the regular expression it replaces
// (contract/charset.ts): seeded, so a failure repeats, and shaped so that both
// answers come up often (uniform random strings almost never match a pattern).

/** A small seeded PRNG (mulberry32): the same seed gives the same strings. */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Characters that sit on the edges of the classes: ASCII punctuation, whitespace, non-ASCII, surrogates. */
export const AWKWARD = [
  ...' \t\n\r\f\v\0!"#$%&\'()*+,-./:;<=>?@[\\]^_`{|}~',
  'é',
  'İ',
  'ſ',
  'K', // Kelvin sign: folds to k under /i, never here
  '\u00a0',
  '\u2028',
  '\ud83d\udd11',
  '\ud800',
  '\udc00',
];

const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/**
 * `count` strings made by `shape` (a valid-looking string), each mutated at random:
 * left alone, one character replaced, inserted or removed, cut short or made longer.
 */
export function variants(seed: number, count: number, shape: (r: () => number) => string): string[] {
  const r = seeded(seed);
  const pick = (s: readonly string[] | string) => s[Math.floor(r() * s.length)] as string;
  const out: string[] = [];
  for (let i = 0; i < count; i++) {
    const s = shape(r);
    const at = Math.floor(r() * (s.length + 1));
    const c = r() < 0.5 ? pick(AWKWARD) : pick(ALNUM);
    const mutations = [
      () => s,
      () => s,
      () => s.slice(0, at) + c + s.slice(at + 1),
      () => s.slice(0, at) + c + s.slice(at),
      () => s.slice(0, at) + s.slice(at + 1),
      () => s.slice(0, at),
      () => s + s.slice(0, Math.floor(r() * 80)),
    ];
    out.push((mutations[Math.floor(r() * mutations.length)] as () => string)());
  }
  return out;
}

/** `n` characters drawn from `chars`. */
export function drawn(r: () => number, chars: string, n: number): string {
  let s = '';
  for (let i = 0; i < n; i++) s += chars.charAt(Math.floor(r() * chars.length));
  return s;
}

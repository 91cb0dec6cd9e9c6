// The loops and native calls that replace regular expressions on the cache-hit
// path (contract/charset.ts) answer as the patterns do: on edge cases, and on
// thousands of seeded strings shaped to land on both sides of each pattern.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  BUCKET_CHARS,
  BUCKET_RESERVED,
  isBucketName,
  isRegionName,
  REGION_NAME,
} from '../../../contract/aws-names.js';
import {
  allIamNameChars,
  allIn,
  CLASS,
  GROUP_BITS,
  GROUPS,
  isPaddedBase64,
  isUnpaddedBase64,
  replaceOutside,
} from '../../../contract/charset.js';
import {
  IAM_GROUP_NAME,
  IAM_USER_NAME,
  isIamGroupName,
  isIamUserName,
  normalizePrefix,
} from '../../../contract/layout.js';
import { EXPIRY_TIME, expiryTimeMs } from '../../../contract/line.js';
import { isLocalNameShape, isValidLocalName, LOCAL_NAME } from '../../../contract/names.js';
import { RUNTIMES, runtimeBinary } from '../../../scripts/runtimes.mjs';
import { AWKWARD, drawn, variants } from '../../helpers/strings.js';

const UPPER = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ';
const LOWER = 'abcdefghijklmnopqrstuvwxyz';
const DIGITS = '0123456789';
const IAM = `${UPPER}${LOWER}${DIGITS}+=,.@_-`;
const B64 = `${UPPER}${LOWER}${DIGITS}+/`;

/** The pattern's answer and the check's, for every string: equal lists read as one failure with the string. */
function disagreements(
  strings: readonly string[],
  pattern: (s: string) => boolean,
  check: (s: string) => boolean,
) {
  return strings.filter((s) => pattern(s) !== check(s)).map((s) => JSON.stringify(s));
}

describe('GROUPS, the per-code table', () => {
  it('is what the groups name, code by code', () => {
    const members: Record<keyof typeof GROUP_BITS, string> = {
      digit: DIGITS,
      hexLower: 'abcdef',
      lower: LOWER,
      upper: UPPER,
      underscore: '_',
      dot: '.',
      dash: '-',
      plus: '+',
      slash: '/',
      equals: '=',
      comma: ',',
      at: '@',
      colon: ':',
      prefixMarks: "!*'()",
    };
    const want = Array.from({ length: 128 }, () => 0);
    for (const [name, chars] of Object.entries(members))
      for (const c of chars)
        want[c.charCodeAt(0)] = (want[c.charCodeAt(0)] ?? 0) | GROUP_BITS[name as keyof typeof GROUP_BITS];
    expect([...GROUPS]).toEqual(want);
  });
});

describe('allIn and replaceOutside', () => {
  it.each([
    ['', CLASS.digit, true],
    ['0123456789', CLASS.digit, true],
    ['12a', CLASS.digit, false],
    ['deadbeef', CLASS.hex, true],
    ['DEADBEEF', CLASS.hex, false],
    ['a\u0100', CLASS.lower, false],
    ['\ud83d\udd11', CLASS.fileName, false],
  ])('allIn(%j) -> %s', (s, k, want) => {
    expect(allIn(s, k)).toBe(want);
  });

  it('looks only between from and to', () => {
    expect(allIn('x123y', CLASS.digit, 1, 4)).toBe(true);
    expect(allIn('x123y', CLASS.digit, 0, 4)).toBe(false);
    expect(allIn('x123y', CLASS.digit, 1)).toBe(false);
  });

  it('replaceOutside is s.replace(/[^class]/g, f) for the file-name and audit classes', () => {
    const strings = variants(1, 3000, (r) => drawn(r, `${IAM}/:%`, Math.floor(r() * 40)));
    const esc = (c: string) => `%${c.charCodeAt(0).toString(16).padStart(2, '0')}`;
    for (const s of [...strings, ...AWKWARD]) {
      expect(replaceOutside(s, CLASS.fileName, esc)).toBe(s.replace(/[^A-Za-z0-9_.-]/g, esc));
      expect(replaceOutside(s, CLASS.auditSafe, () => '?')).toBe(s.replace(/[^A-Za-z0-9_.,:/+=@-]/g, '?'));
    }
  });
});

describe('names', () => {
  const iamShaped = (r: () => number) => drawn(r, IAM, 1 + Math.floor(r() * 130));
  const strings = [
    ...variants(2, 4000, iamShaped),
    '',
    '.',
    '..',
    '...',
    '.a',
    'a'.repeat(64),
    'a'.repeat(65),
  ];

  it('isIamUserName and isIamGroupName answer as IAM_USER_NAME and IAM_GROUP_NAME', () => {
    expect(disagreements(strings, (s) => IAM_USER_NAME.test(s), isIamUserName)).toEqual([]);
    expect(disagreements(strings, (s) => IAM_GROUP_NAME.test(s), isIamGroupName)).toEqual([]);
    expect(strings.filter(isIamUserName).length).toBeGreaterThan(500);
  });

  it('allIamNameChars: every character one of A-Z a-z 0-9 + = , . @ _ -, whatever the length', () => {
    const all = [...strings, ...AWKWARD, IAM, `${IAM}*`, `${IAM}/`, `${IAM}%`, `${IAM}~`];
    expect(disagreements(all, (s) => /^[A-Za-z0-9+=,.@_-]*$/.test(s), allIamNameChars)).toEqual([]);
  });

  it('isLocalNameShape and isValidLocalName answer as LOCAL_NAME (and not all digits)', () => {
    const local = [
      ...variants(3, 4000, (r) => drawn(r, `${UPPER}${LOWER}${DIGITS}_.-`, 1 + Math.floor(r() * 34))),
      ...variants(4, 500, (r) => drawn(r, DIGITS, 1 + Math.floor(r() * 5))),
      '',
      '-a',
      '.a',
      '_a',
      'a'.repeat(32),
      'a'.repeat(33),
    ];
    expect(disagreements(local, (s) => LOCAL_NAME.test(s), isLocalNameShape)).toEqual([]);
    expect(disagreements(local, (s) => LOCAL_NAME.test(s) && !/^[0-9]+$/.test(s), isValidLocalName)).toEqual(
      [],
    );
  });
});

describe('AWS names', () => {
  it('isRegionName answers as REGION_NAME', () => {
    const partitions = [
      'us',
      'eu',
      'ap',
      'cn',
      'us-gov',
      'us-iso',
      'us-isob',
      'us-isof',
      'eu-isoe',
      'eusc-de',
      'xx',
    ];
    const regions = variants(5, 4000, (r) => {
      const p = partitions[Math.floor(r() * partitions.length)];
      return `${p}-${drawn(r, LOWER, 1 + Math.floor(r() * 9))}-${drawn(r, DIGITS, 1 + Math.floor(r() * 3))}`;
    });
    const edges = [
      'us-east-1',
      'us-gov-west-1',
      'us-isob-east-1',
      'eusc-de-east-1',
      'us--1',
      'us-east-',
      'us-east-123',
    ];
    expect(disagreements([...regions, ...edges], (s) => REGION_NAME.test(s), isRegionName)).toEqual([]);
    expect(regions.filter(isRegionName).length).toBeGreaterThan(500);
  });

  it('isBucketName answers as the patterns did (characters, no "..", no IP address, no reserved ends)', () => {
    const affixes = [
      '',
      'xn--',
      'sthree-',
      'amzn-s3-demo-',
      '-s3alias',
      '--ol-s3',
      '.mrap',
      '--x-s3',
      '--table-s3',
    ];
    const buckets = variants(6, 4000, (r) => {
      const a = affixes[Math.floor(r() * affixes.length)] as string;
      const body =
        r() < 0.2
          ? `${drawn(r, DIGITS, 3)}.1.2.${drawn(r, DIGITS, 2)}`
          : drawn(r, `${LOWER}${DIGITS}.-`, 3 + Math.floor(r() * 62));
      return r() < 0.5 ? `${a}${body}` : `${body}${a}`;
    });
    const byPattern = (s: string) =>
      BUCKET_CHARS.test(s) &&
      !s.includes('..') &&
      !/^\d+\.\d+\.\d+\.\d+$/.test(s) &&
      !BUCKET_RESERVED.test(s);
    expect(disagreements([...buckets, '1.2.3.4', 'a.b', 'abc', 'ab'], byPattern, isBucketName)).toEqual([]);
    expect(buckets.filter(isBucketName).length).toBeGreaterThan(500);
  });
});

describe('key prefix', () => {
  it("normalizePrefix accepts what /^[A-Za-z0-9!_.*'()/-]+$/ accepted, and nothing else", () => {
    const prefixes = variants(7, 3000, (r) =>
      drawn(r, `${LOWER}${DIGITS}!_.*'()/-`, 1 + Math.floor(r() * 20)),
    );
    const byPattern = (s: string) => {
      if (s === '') return true;
      const p = s.endsWith('/') ? s : `${s}/`;
      return (
        !p.startsWith('/') &&
        !p.includes('//') &&
        /^[A-Za-z0-9!_.*'()/-]+$/.test(p) &&
        !p.split('/').some((seg) => seg === '.' || seg === '..')
      );
    };
    const accepts = (s: string) => {
      try {
        normalizePrefix(s);
        return true;
      } catch {
        return false;
      }
    };
    expect(disagreements(prefixes, byPattern, accepts)).toEqual([]);
  });
});

describe('base64', () => {
  it('isPaddedBase64 (atob) answers as /^[A-Za-z0-9+/]+={0,2}$/ with a length that is a multiple of 4', () => {
    const padded = isPaddedBase64;
    const blobs = variants(8, 5000, (r) => {
      const n = 4 * (1 + Math.floor(r() * 20));
      const pad = Math.floor(r() * 3);
      return drawn(r, B64, n - pad) + '='.repeat(pad);
    });
    const edges = [
      '',
      '====',
      'A===',
      'AA==',
      'AAA=',
      'AAAA',
      'AA=A',
      ' AAAA',
      'AA AA',
      'AAA\n',
      'AAAA\f',
      'A\tAA',
    ];
    const byPattern = (s: string) => /^[A-Za-z0-9+/]+={0,2}$/.test(s) && s.length % 4 === 0;
    expect(disagreements([...blobs, ...edges], byPattern, padded)).toEqual([]);
    expect(blobs.filter(padded).length).toBeGreaterThan(1000);
  });

  it('isUnpaddedBase64(s, 43) (atob) answers as /^[A-Za-z0-9+/]{43}$/ (a SHA-256 fingerprint)', () => {
    const unpadded = isUnpaddedBase64;
    const bodies = variants(9, 5000, (r) => drawn(r, B64, 43));
    const edges = [
      '',
      'A'.repeat(42),
      'A'.repeat(44),
      `${'A'.repeat(42)}=`,
      `${'A'.repeat(41)} A`,
      `A\n${'A'.repeat(41)}`,
    ];
    const byPattern = (s: string) => /^[A-Za-z0-9+/]{43}$/.test(s);
    expect(disagreements([...bodies, ...edges], byPattern, (s) => unpadded(s, 43))).toEqual([]);
    expect(bodies.filter((s) => unpadded(s, 43)).length).toBeGreaterThan(1000);
  });
});

describe('expiry-time', () => {
  it('expiryTimeMs accepts what EXPIRY_TIME matched, then checks the calendar as before', () => {
    const two = (r: () => number, max: number) => String(Math.floor(r() * (max + 1))).padStart(2, '0');
    const times = variants(10, 4000, (r) => {
      const date = `20${two(r, 99)}${two(r, 12)}${two(r, 31)}${two(r, 23)}${two(r, 59)}${two(r, 60)}`;
      return `${date}${r() < 0.5 ? 'Z' : ''}`;
    });
    const edges = [
      '20270231000000',
      '20261207235959Z',
      '20261207235960',
      '19691231235959',
      '2026120723595',
      '20261207235959ZZ',
    ];
    const previous = (value: string) => {
      const m = EXPIRY_TIME.exec(value);
      if (!m) return undefined;
      const [y, mo, d, h, mi, s] = m.slice(1).map(Number) as [number, number, number, number, number, number];
      const ms = Date.UTC(y, mo - 1, d, h, mi, s);
      const t = new Date(ms);
      if (
        t.getUTCMonth() !== mo - 1 ||
        t.getUTCDate() !== d ||
        t.getUTCHours() !== h ||
        t.getUTCMinutes() !== mi
      )
        return undefined;
      if (s > 59 || y < 1970) return undefined;
      return ms;
    };
    const differ = [...times, ...edges].filter((v) => previous(v) !== expiryTimeMs(v));
    expect(differ).toEqual([]);
    expect(times.filter((v) => expiryTimeMs(v) !== undefined).length).toBeGreaterThan(200);
  });
});

describe("base64 checks under Bun's own atob (the standalone's runtime)", () => {
  it('answer as the patterns on the same strings', () => {
    const host = RUNTIMES.find((r) => r.cpu === process.arch);
    if (!host) throw new Error(`no Bun runtime for ${process.arch}`);
    const bun = runtimeBinary(host);
    if (!existsSync(bun))
      throw new Error(`${bun} missing: run \`npm ci\` (its postinstall installs the Bun runtimes)`);
    const root = new URL('../../..', import.meta.url).pathname;
    const code = `
      const { isPaddedBase64: padded, isUnpaddedBase64: unpadded } = await import(${JSON.stringify(`${root}contract/charset.ts`)});
      const { variants, drawn, AWKWARD } = await import(${JSON.stringify(`${root}test/helpers/strings.ts`)});
      const B64 = ${JSON.stringify(B64)};
      const blobs = variants(8, 5000, (r) => {
        const n = 4 * (1 + Math.floor(r() * 20));
        const pad = Math.floor(r() * 3);
        return drawn(r, B64, n - pad) + '='.repeat(pad);
      }).concat(AWKWARD.map((c) => 'AAAA'.slice(1) + c), ['AA-_', 'AA\\vA', 'AAA\\u00a0']);
      const bodies = variants(9, 5000, (r) => drawn(r, B64, 43));
      const wrong = [
        ...blobs.filter((s) => padded(s) !== (/^[A-Za-z0-9+/]+={0,2}$/.test(s) && s.length % 4 === 0)),
        ...bodies.filter((s) => unpadded(s, 43) !== /^[A-Za-z0-9+/]{43}$/.test(s)),
      ];
      console.log(JSON.stringify({ bun: typeof Bun, wrong, accepted: blobs.filter(padded).length }));`;
    const r = spawnSync(bun, ['-e', code], { encoding: 'utf8', env: { PATH: '/usr/bin:/bin' } });
    expect(r.stderr).toBe('');
    const out = JSON.parse(r.stdout) as { bun: string; wrong: string[]; accepted: number };
    expect(out).toMatchObject({ bun: 'object', wrong: [] });
    expect(out.accepted).toBeGreaterThan(1000);
  });
});

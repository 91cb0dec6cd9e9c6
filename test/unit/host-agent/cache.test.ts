import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  CRC_SUM,
  cacheFileName,
  decodeEntry,
  encodeEntry,
  entrySum,
  FNV_SUM,
  fileCache,
  freshness,
} from '../../../host-agent/cache.js';
import { drawn, variants } from '../../helpers/strings.js';

const uid = process.getuid?.() ?? 0;
const tmp = () => mkdtempSync(join(tmpdir(), 'iak-cache-'));

describe('freshness', () => {
  const now = 1_000_000_000;
  const cases: [string, number, number, number, string][] = [
    ['just fetched', 0, 30, 100, 'fresh'],
    ['inside ttl', 29_999, 30, 100, 'fresh'],
    ['at ttl', 30_000, 30, 100, 'stale'],
    ['inside maxStale', 100_000, 30, 100, 'stale'],
    ['past maxStale', 100_001, 30, 100, 'expired'],
    ['ttl 0 is never fresh', 0, 0, 100, 'stale'],
    ['slightly in the future (skew)', -59_000, 30, 100, 'fresh'],
    ['far in the future (clock went back)', -61_000, 30, 100, 'expired'],
  ];
  it.each(cases)('%s', (_n, age, ttl, maxStale, expected) => {
    expect(freshness(now - age, now, ttl, maxStale)).toBe(expected);
  });
});

describe('cacheFileName', () => {
  it.each([
    ['users/alice/authorized_keys', 'o-users%2falice%2fauthorized_keys'],
    ['p/groups/A+B=C,D@E/authorized_keys', 'o-p%2fgroups%2fA%2bB%3dC%2cD%40E%2fauthorized_keys'],
    ['index.json', 'o-index.json'],
  ])('%s -> %s', (key, name) => {
    expect(cacheFileName(key)).toBe(name);
  });
  it('hashes very long keys and never yields a path separator or dot-file', () => {
    const n = cacheFileName(`${'x/'.repeat(150)}authorized_keys`);
    expect(n).toMatch(/^h-[0-9a-f]{64}$/);
  });
});

describe('entry encoding', () => {
  const entry = {
    key: 'users/a/authorized_keys',
    found: true,
    etag: '"abc"',
    fetchedAt: 123,
    body: Buffer.from('x\n'),
  };
  it('round-trips', () => {
    expect(decodeEntry(encodeEntry(entry), entry.key)).toEqual(entry);
  });
  it('round-trips a negative entry', () => {
    const neg = { key: 'k', found: false, fetchedAt: 5, body: Buffer.alloc(0) };
    expect(decodeEntry(encodeEntry(neg), 'k')).toEqual(neg);
  });
  const withDerived = { ...entry, derived: { v: 1, lines: [['a', 'ssh-ed25519', 'AAAA', 'SHA256:x', 256]] } };
  it('round-trips derived data', () => {
    expect(decodeEntry(encodeEntry(withDerived), entry.key)).toEqual(withDerived);
  });
  it('keeps the header on the first line, as JSON naming the key', () => {
    const enc = encodeEntry(withDerived);
    expect(JSON.parse(enc.subarray(0, enc.indexOf(0x0a)).toString()).key).toBe(entry.key);
  });
  const enc = encodeEntry(entry);
  const encD = encodeEntry(withDerived);
  /** A file with a correct checksum over whatever follows it. */
  const summed = (rest: string) => {
    const covered = Buffer.from(rest);
    return Buffer.concat([
      Buffer.from(`{"sum":"${entrySum(covered).toString(16).padStart(8, '0')}`),
      covered,
    ]);
  };
  const flip = (b: Buffer, at: number) => {
    const c = Buffer.from(b);
    c[at] = (c[at] as number) ^ 0x04;
    return c;
  };
  const corrupt: [string, Buffer, string, RegExp][] = [
    ['other key', enc, 'users/b/authorized_keys', /does not match the key/],
    ['truncated body', enc.subarray(0, enc.length - 1), entry.key, /checksum/],
    [
      'altered body',
      Buffer.concat([enc.subarray(0, enc.length - 2), Buffer.from('y\n')]),
      entry.key,
      /checksum/,
    ],
    ['no header', Buffer.from('garbage'), entry.key, /no header/],
    ['header not JSON', summed('",nope\nbody'), entry.key, /not JSON/],
    ['empty file', Buffer.alloc(0), entry.key, /no header/],
    ['no checksum', Buffer.from('{"v":2}\nbody'), entry.key, /no checksum/],
    ['an older format', Buffer.from('{"v":1,"key":"k"}\nbody'), entry.key, /older agent/],
    ['altered header', flip(enc, enc.indexOf('fetchedAt') + 12), entry.key, /checksum/],
    ['altered derived data', flip(encD, encD.length - 5), entry.key, /checksum/],
    ['truncated derived data', encD.subarray(0, encD.length - 1), entry.key, /checksum/],
    [
      'sizes that do not add up',
      summed(`","v":2,"key":"k","found":true,"fetchedAt":1,"size":3,"derivedSize":0}\nbody`),
      'k',
      /sizes/,
    ],
    [
      'derived data that is not JSON',
      summed(`","v":2,"key":"k","found":true,"fetchedAt":1,"size":1,"derivedSize":2}\nb{x`),
      'k',
      /derived data is not JSON/,
    ],
    [
      'a negative entry with a body',
      summed(`","v":2,"key":"k","found":false,"fetchedAt":1,"size":1,"derivedSize":0}\nb`),
      'k',
      /negative entry/,
    ],
  ];
  it.each(corrupt)('rejects %s', (_n, buf, key, reason) => {
    expect(decodeEntry(buf, key)).toMatch(reason);
  });

  // node writes entrySum's "sum", the standalone CRC-32's "crc" (native in Bun); either reads both.
  it.each([
    ['sum', FNV_SUM],
    ['crc', CRC_SUM],
  ] as const)('a "%s" entry names its checksum first, and round-trips', (name, kind) => {
    const e = encodeEntry(withDerived, kind);
    expect(e.toString('latin1', 0, 8)).toBe(`{"${name}":"`);
    expect(decodeEntry(e, entry.key)).toEqual(withDerived);
  });
  it('node writes "sum" by default', () => {
    expect(encodeEntry(entry).toString('latin1', 0, 8)).toBe('{"sum":"');
  });
  it.each([
    ['truncated', (b: Buffer) => b.subarray(0, b.length - 1)],
    ['an altered byte', (b: Buffer) => flip(b, b.length - 5)],
    ['the other kind named', (b: Buffer) => Buffer.concat([Buffer.from('{"sum":"'), b.subarray(8)])],
  ])('a "crc" entry %s is refused', (_n, alter) => {
    expect(decodeEntry(alter(encodeEntry(withDerived, CRC_SUM)), entry.key)).toMatch(/checksum/);
  });
  it('an unknown checksum name is no checksum', () => {
    const e = encodeEntry(entry, CRC_SUM);
    expect(decodeEntry(Buffer.concat([Buffer.from('{"xyz":"'), e.subarray(8)]), entry.key)).toMatch(
      /no checksum in the header/,
    );
  });
});

describe('entrySum', () => {
  const base = Buffer.from('0123456789abcdef0123456789abcdef+tail');
  it('is the same for the same bytes at any alignment', () => {
    const unaligned = Buffer.alloc(base.length + 1).fill(0);
    base.copy(unaligned, 1);
    expect(entrySum(unaligned.subarray(1))).toBe(entrySum(base));
  });
  // Each change must show: the same bit in two words (which plain word-wise FNV misses), a tail byte, a length change.
  const changed: [string, Buffer][] = [
    ['top bit of two words', flipBits(base, [3, 7], 0x80)],
    ['one bit', flipBits(base, [10], 0x01)],
    ['a tail byte', flipBits(base, [base.length - 1], 0x01)],
    ['one byte shorter', base.subarray(0, base.length - 1)],
    ['zero-filled', Buffer.alloc(base.length)],
  ];
  it.each(changed)('changes with %s', (_n, b) => {
    expect(entrySum(b)).not.toBe(entrySum(base));
  });
});

function flipBits(b: Buffer, at: number[], mask: number): Buffer {
  const c = Buffer.from(b);
  for (const i of at) c[i] = (c[i] as number) ^ mask;
  return c;
}

describe('fileCache', () => {
  it('stores and reads entries, and reports a corrupt one', () => {
    const d = tmp();
    const c = fileCache(d, uid);
    const e = { key: 'users/a/authorized_keys', found: true, fetchedAt: 1, body: Buffer.from('l\n') };
    c.write(e);
    expect(c.read(e.key)).toEqual(e);
    expect(c.read('users/b/authorized_keys')).toBeUndefined();
    writeFileSync(join(d, cacheFileName(e.key)), 'junk', { mode: 0o600 });
    expect(c.read(e.key)).toMatch(/no header/);
  });
});

describe('cacheFileName without a regular expression', () => {
  it('escapes as key.replace(/[^A-Za-z0-9_.-]/g, ...) did', () => {
    const keys = variants(14, 3000, (r) => drawn(r, 'abcAB019_.-/%+=@ ', 1 + Math.floor(r() * 80)));
    for (const k of keys) {
      const safe = k.replace(/[^A-Za-z0-9_.-]/g, (c) => `%${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
      expect(cacheFileName(k)).toBe(safe.length > 200 ? cacheFileName(k) : `o-${safe}`);
      if (safe.length > 200) expect(cacheFileName(k)).toMatch(/^h-[0-9a-f]{64}$/);
    }
  });
});

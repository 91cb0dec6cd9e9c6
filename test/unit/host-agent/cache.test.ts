import {
  chmodSync,
  chownSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  CacheDirError,
  cacheFileName,
  checkPrivateDir,
  decodeEntry,
  encodeEntry,
  fileCache,
  freshness,
  readPrivateFile,
  writePrivateFile,
} from '../../../host-agent/cache.js';

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
  const enc = encodeEntry(entry);
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
    ['header not JSON', Buffer.from('{nope\nbody'), entry.key, /not JSON/],
    ['empty file', Buffer.alloc(0), entry.key, /no header/],
  ];
  it.each(corrupt)('rejects %s', (_n, buf, key, reason) => {
    expect(decodeEntry(buf, key)).toMatch(reason);
  });
});

describe('checkPrivateDir', () => {
  it('creates a missing dir with mode 0700', () => {
    const d = join(tmp(), 'a', 'b');
    checkPrivateDir(d, uid);
    expect(statSync(d).mode & 0o777).toBe(0o700);
  });
  it.each([0o777, 0o770, 0o722, 0o1777])('refuses mode %s', (mode) => {
    const d = tmp();
    chmodSync(d, mode);
    expect(() => checkPrivateDir(d, uid)).toThrow(/group- or world-writable/);
  });
  it('accepts 0755 (readable is fine, entries are 0600)', () => {
    const d = tmp();
    chmodSync(d, 0o755);
    expect(() => checkPrivateDir(d, uid)).not.toThrow();
  });
  it('refuses a dir owned by someone else', () => {
    expect(() => checkPrivateDir(tmp(), uid + 1)).toThrow(CacheDirError);
  });
  it('refuses a symlink to a dir', () => {
    const d = tmp();
    mkdirSync(join(d, 'real'));
    symlinkSync(join(d, 'real'), join(d, 'link'));
    expect(() => checkPrivateDir(join(d, 'link'), uid)).toThrow(/not a directory/);
  });
});

describe('private files', () => {
  it('writes atomically with mode 0600 and leaves no temp file', () => {
    const d = tmp();
    writePrivateFile(d, 'f', Buffer.from('hello'));
    expect(statSync(join(d, 'f')).mode & 0o777).toBe(0o600);
    expect(readdirSync(d)).toEqual(['f']);
    expect(readPrivateFile(join(d, 'f'), uid, 100)).toEqual(Buffer.from('hello'));
  });
  it('returns undefined for a missing file', () => {
    expect(readPrivateFile(join(tmp(), 'none'), uid, 100)).toBeUndefined();
  });
  it.each([0o644, 0o640, 0o604])('refuses a file with mode %s', (mode) => {
    const d = tmp();
    writeFileSync(join(d, 'f'), 'x');
    chmodSync(join(d, 'f'), mode);
    expect(readPrivateFile(join(d, 'f'), uid, 100)).toMatch(/is not 0600/);
  });
  it('refuses a file owned by someone else', () => {
    const d = tmp();
    writePrivateFile(d, 'f', Buffer.from('x'));
    expect(readPrivateFile(join(d, 'f'), uid + 1, 100)).toMatch(/owned by uid/);
  });
  it.runIf(uid === 0)('refuses a file chowned to another uid', () => {
    const d = tmp();
    writePrivateFile(d, 'f', Buffer.from('x'));
    chownSync(join(d, 'f'), 4242, 4242);
    expect(readPrivateFile(join(d, 'f'), uid, 100)).toMatch(/owned by uid 4242/);
  });
  it('refuses a symlink', () => {
    const d = tmp();
    writePrivateFile(d, 'f', Buffer.from('x'));
    symlinkSync(join(d, 'f'), join(d, 'l'));
    expect(readPrivateFile(join(d, 'l'), uid, 100)).toMatch(/cannot open \(ELOOP\)/);
  });
  it('refuses an oversized file', () => {
    const d = tmp();
    writePrivateFile(d, 'f', Buffer.alloc(101));
    expect(readPrivateFile(join(d, 'f'), uid, 100)).toBe('too large');
  });
});

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

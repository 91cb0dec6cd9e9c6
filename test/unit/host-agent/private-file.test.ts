// The agent user's private directory and files, in real temp directories.
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
  checkPrivateDir,
  readPrivateFile,
  writePrivateFile,
} from '../../../host-agent/private-file.js';

const uid = process.getuid?.() ?? 0;
const tmp = () => mkdtempSync(join(tmpdir(), 'iak-cache-'));

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

import { chmodSync, mkdirSync, mkdtempSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { cliCacheDir, fileCacheStore, readProfiles } from '../../../../cli/credentials/files.js';

let home: string;
beforeEach(() => {
  home = mkdtempSync(join(tmpdir(), 'creds-files-'));
});

describe('readProfiles', () => {
  it('reads ~/.aws/config and ~/.aws/credentials by default; missing files are empty', () => {
    expect(readProfiles({}, home).size).toBe(0);
    mkdirSync(join(home, '.aws'));
    writeFileSync(join(home, '.aws', 'config'), '[profile a]\nregion = r\n');
    writeFileSync(join(home, '.aws', 'credentials'), '[a]\naws_access_key_id = K\n');
    expect(readProfiles({}, home).get('a')).toEqual({ region: 'r', aws_access_key_id: 'K' });
  });
  it('AWS_CONFIG_FILE and AWS_SHARED_CREDENTIALS_FILE, with ~ expanded', () => {
    writeFileSync(join(home, 'c'), '[profile b]\nrole_arn = x\n');
    writeFileSync(join(home, 'k'), '[b]\naws_secret_access_key = S\n');
    const p = readProfiles({ AWS_CONFIG_FILE: '~/c', AWS_SHARED_CREDENTIALS_FILE: join(home, 'k') }, home);
    expect(p.get('b')).toEqual({ role_arn: 'x', aws_secret_access_key: 'S' });
  });
});

describe('fileCacheStore', () => {
  it('writes 0600 files in a 0700 directory it creates, through a rename (no temporary file left)', () => {
    const dir = cliCacheDir(home);
    const store = fileCacheStore(dir);
    store.write('k1', '{"a":1}');
    store.write('k1', '{"a":2}');
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    expect(statSync(join(dir, 'k1.json')).mode & 0o777).toBe(0o600);
    expect(readdirSync(dir)).toEqual(['k1.json']);
    expect(store.read('k1')).toBe('{"a":2}');
    expect(store.read('absent')).toBeUndefined();
  });
  it.each([
    [0o620, undefined],
    [0o602, undefined],
    [0o644, '{}'],
  ])('a file of mode %o is read: %s', (mode, want) => {
    const store = fileCacheStore(home);
    writeFileSync(join(home, 'k.json'), '{}');
    chmodSync(join(home, 'k.json'), mode);
    expect(store.read('k')).toBe(want);
  });
  it('a file owned by someone else is not read', () => {
    writeFileSync(join(home, 'k.json'), '{}');
    const uid = statSync(join(home, 'k.json')).uid;
    expect(fileCacheStore(home, uid + 1).read('k')).toBeUndefined();
    expect(fileCacheStore(home, uid).read('k')).toBe('{}');
  });
  it('a directory in place of a file is not read', () => {
    mkdirSync(join(home, 'd.json'));
    expect(fileCacheStore(home).read('d')).toBeUndefined();
  });
});

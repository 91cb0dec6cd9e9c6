// The config as the admin commands read it: the login's parser plus the
// admin-only sections (syncUsers), with the same one-line errors.
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CONFIG_FILE_KEYS, loadAdminConfig, parseAdminConfig } from '../../../../host-agent/admin/config.js';
import { ADMIN_SECTIONS, ConfigError, parseConfig } from '../../../../host-agent/config.js';

const base = { bucket: 'company-ssh-keys', region: 'eu-west-1' };
const parse = (v: unknown) => parseAdminConfig(JSON.stringify(v), 'test.json');

/** The ConfigError a parser throws for `text`. */
function errorOf(f: (text: string, source: string) => unknown, text: string): Error {
  try {
    f(text, 'test.json');
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return e as Error;
  }
  throw new Error(`no error for ${text}`);
}

describe('parseAdminConfig', () => {
  it('parses syncUsers with defaults', () => {
    const c = parse({ ...base, syncUsers: { sudoGroups: '##ALL##', groupMap: { Admins: 'wheel' } } });
    expect(c.syncUsers).toEqual({
      markerGroup: 'iam-synced-users',
      localGroups: [],
      groupMap: { Admins: 'wheel' },
      sudoGroups: '##ALL##',
      removeHome: false,
      renumber: false,
    });
  });

  it('is the login config when no admin-only section is set', () => {
    const c = parse({ ...base, cache: { ttlSeconds: 5 } });
    expect(c).toEqual(parseConfig(JSON.stringify({ ...base, cache: { ttlSeconds: 5 } }), 'test.json'));
    expect(Object.hasOwn(c, 'syncUsers')).toBe(false);
  });

  const bad: [string, string, RegExp][] = [
    [
      'bad sudoGroups',
      JSON.stringify({ ...base, syncUsers: { sudoGroups: 'all' } }),
      /sudoGroups must be a list/,
    ],
    [
      'bad removeHome',
      JSON.stringify({ ...base, syncUsers: { removeHome: 'yes' } }),
      /removeHome must be true/,
    ],
    [
      'bad renumber',
      JSON.stringify({ ...base, syncUsers: { renumber: 'yes' } }),
      /syncUsers.renumber must be true or false/,
    ],
    [
      'syncUsers not an object',
      JSON.stringify({ ...base, syncUsers: [] }),
      /^test\.json: syncUsers must be an object$/,
    ],
    [
      'syncUsers typo',
      JSON.stringify({ ...base, syncUsers: { markergroup: 'x' } }),
      /^test\.json: syncUsers: unknown setting "markergroup"$/,
    ],
    [
      'bad markerGroup',
      JSON.stringify({ ...base, syncUsers: { markerGroup: 'a b' } }),
      /^test\.json: syncUsers.markerGroup must be a local group name$/,
    ],
    [
      'bad groupMap IAM group',
      JSON.stringify({ ...base, syncUsers: { groupMap: { 'a b': 'wheel' } } }),
      /^test\.json: syncUsers.groupMap: "a b" is not an IAM group name$/,
    ],
    [
      'a mistake in the login part first (it is read first)',
      JSON.stringify({ ...base, cache: { ttl: 3 }, syncUsers: { removeHome: 'yes' } }),
      /^test\.json: cache: unknown setting "ttl"$/,
    ],
  ];
  it.each(bad)('rejects %s with one clear line', (_name, text, message) => {
    const err = errorOf(parseAdminConfig, text);
    expect(err.message).toMatch(/^test\.json: /);
    expect(err.message).toMatch(message);
    expect(err.message).not.toContain('\n');
  });

  it("a mistake outside the admin-only sections: the login parser's own error", () => {
    const text = JSON.stringify({ ...base, deadlineMs: 5, syncUsers: {} });
    expect(errorOf(parseAdminConfig, text).message).toBe(errorOf(parseConfig, text).message);
  });

  it.each(ADMIN_SECTIONS)('%s: its keys are listed and a key it does not know is refused', (name) => {
    expect(Object.hasOwn(CONFIG_FILE_KEYS, name)).toBe(true);
    expect(() => parse({ ...base, [name]: { bogus: 1 } })).toThrow(
      `test.json: ${name}: unknown setting "bogus"`,
    );
  });
});

describe('loadAdminConfig', () => {
  const dir = mkdtempSync(join(tmpdir(), 'iak-admin-config-'));
  const write = (name: string, mode: number, v: unknown) => {
    const p = join(dir, name);
    writeFileSync(p, JSON.stringify(v));
    chmodSync(p, mode);
    return p;
  };

  it('reads the admin-only sections from the file', () => {
    const p = write('ok.json', 0o644, { ...base, syncUsers: { removeHome: true } });
    expect(loadAdminConfig(p).syncUsers?.removeHome).toBe(true);
  });

  it("applies the login's file checks (a world-writable file is refused)", () => {
    const p = write('ww.json', 0o666, { ...base, syncUsers: {} });
    expect(() => loadAdminConfig(p)).toThrow(`${p}: refusing a group- or world-writable config file`);
  });

  it("says which file is bad, and where, in the login's words", () => {
    const p = write('bad.json', 0o644, { ...base, syncUsers: { removeHome: 'yes' } });
    expect(() => loadAdminConfig(p)).toThrow(`${p}: syncUsers.removeHome must be true or false`);
  });
});

import { lstatSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  ADMIN_COMMANDS,
  UsageError as AdminUsageError,
  isAdminCommand,
  parsePrincipalsFrom,
  runAdmin,
  sudoersDeps,
} from '../../../../host-agent/admin/main.js';
import { ADMIN_COMMANDS as LOGIN_ADMIN_COMMANDS } from '../../../../host-agent/args.js';
import { UsageError } from '../../../../host-agent/errors.js';

describe('runAdmin dispatch', () => {
  let stderr: string[] = [];
  afterEach(() => {
    vi.restoreAllMocks();
    stderr = [];
  });
  const capture = () =>
    vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
      stderr.push(String(chunk));
      return true;
    });

  it('knows exactly the admin commands main.ts dispatches', () => {
    expect([...ADMIN_COMMANDS]).toEqual([
      'install',
      'uninstall',
      'doctor',
      'sync-users',
      'refresh-principals',
      'ship-audit',
      'sessions',
    ]);
    expect(isAdminCommand('install')).toBe(true);
    expect(isAdminCommand('alice')).toBe(false);
  });

  it('shares one command list and one UsageError with the login path (instanceof works across both)', () => {
    expect(ADMIN_COMMANDS).toBe(LOGIN_ADMIN_COMMANDS);
    expect(AdminUsageError).toBe(UsageError);
  });

  it('an unknown command is a usage error (exit 2) with one clear line', async () => {
    capture();
    expect(await runAdmin('frobnicate', [])).toBe(2);
    expect(stderr.join('')).toBe(
      'iam-authorized-keys: unknown admin command "frobnicate" (expected one of: install, uninstall, doctor, sync-users, refresh-principals, ship-audit, sessions)\n',
    );
  });

  it.each([
    ['install', ['--bogus']],
    ['sync-users', ['--config']],
    ['refresh-principals', ['--parameter', '/a', '--tag', 'b']],
    ['install', ['--dry-run', '--bin', 'relative/path']],
    ['install', ['--dry-run', '--principals-from', 'parameter:/x']],
    ['install', ['--dry-run', '--local-user', 'ubuntu']],
    ['sessions', ['--grace-seconds', 'soon']],
    ['sessions', ['--dry-run']],
    ['sessions', ['extra']],
  ])('%s %j is a usage error (exit 2)', async (cmd, args) => {
    capture();
    expect(await runAdmin(cmd, args)).toBe(2);
    expect(stderr).toHaveLength(1);
    expect(stderr[0]).toMatch(new RegExp(`^iam-authorized-keys ${cmd}: `));
  });

  // Every command reaches its own handler (the handler table is typed by ADMIN_COMMANDS): none falls
  // through to a "not implemented" exit 1. Each handler parses its options first, strictly.
  it.each([...ADMIN_COMMANDS])('%s has a handler: an unknown option is its own usage error', async (cmd) => {
    capture();
    expect(await runAdmin(cmd, ['--no-such-option'])).toBe(2);
    expect(stderr).toEqual([
      expect.stringMatching(new RegExp(`^iam-authorized-keys ${cmd}: Unknown option '--no-such-option'`)),
    ]);
  });

  it('a runtime failure exits 1 with one line (missing config)', async () => {
    capture();
    expect(await runAdmin('sync-users', ['--dry-run', '--config', '/nonexistent/iak.json'])).toBe(1);
    expect(stderr.join('')).toMatch(
      /^iam-authorized-keys sync-users: \/nonexistent\/iak.json: cannot read config \(ENOENT\)\n$/,
    );
  });

  /** A config whose only mistake is in the admin-only section syncUsers (the login parser does not read it). */
  const badSyncUsers = () => {
    const p = join(mkdtempSync(join(tmpdir(), 'iak-admin-')), 'iak.json');
    writeFileSync(
      p,
      JSON.stringify({ bucket: 'keys', region: 'us-east-1', syncUsers: { removeHome: 'yes' } }),
      {
        mode: 0o644,
      },
    );
    return p;
  };

  it("sync-users refuses a bad syncUsers section: exit 1, the parser's one line", async () => {
    capture();
    const p = badSyncUsers();
    expect(await runAdmin('sync-users', ['--dry-run', '--config', p])).toBe(1);
    expect(stderr.join('')).toBe(
      `iam-authorized-keys sync-users: ${p}: syncUsers.removeHome must be true or false\n`,
    );
  });

  it('doctor fails its config check on a bad syncUsers section, in the same words', async () => {
    capture();
    const out: string[] = [];
    vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      out.push(String(chunk));
      return true;
    });
    const p = badSyncUsers();
    const root = mkdtempSync(join(tmpdir(), 'iak-doctor-'));
    const args = ['--root', root, '--config', p, '--bin', join(root, 'none'), '--sshd', '/bin/false'];
    expect(await runAdmin('doctor', args)).toBe(1);
    expect(out).toContain(`FAIL config: ${p}: syncUsers.removeHome must be true or false\n`);
  });
});

describe('parsePrincipalsFrom (install --principals-from)', () => {
  it.each([
    ['ssm', { kind: 'ssm' }],
    ['ssm:/IAM/web/principals', { kind: 'ssm', name: '/IAM/web/principals' }],
    ['tag:ssh-principals', { kind: 'tag', tag: 'ssh-principals' }],
  ])('%s', (value, expected) => {
    expect(parsePrincipalsFrom(value)).toEqual(expected);
  });
  it.each(['', 'ssm:', 'tag:', 'tag', 'parameter:/x', 'SSM'])('refuses %j', (value) => {
    expect(() => parsePrincipalsFrom(value)).toThrow(UsageError);
  });
});

describe('sudoers temp file (real file system)', () => {
  it('replaces a symlink planted at the temp name instead of writing through it; mode 0440', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'iak-sudoers-'));
    try {
      const victim = join(dir, 'victim');
      writeFileSync(victim, 'precious\n', { mode: 0o644 });
      const tmp = join(dir, 'iam-synced-users.iam-tmp');
      symlinkSync(victim, tmp);
      await sudoersDeps(join(dir, 'iam-synced-users'), 'visudo').writeTemp(tmp, '#1000 ALL=(ALL) ALL\n');
      expect(readFileSync(victim, 'utf8')).toBe('precious\n');
      const st = lstatSync(tmp);
      expect([st.isFile(), st.mode & 0o7777]).toEqual([true, 0o440]);
      expect(readFileSync(tmp, 'utf8')).toBe('#1000 ALL=(ALL) ALL\n');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('an old temp file with a loose mode ends up 0440', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'iak-sudoers-'));
    try {
      const tmp = join(dir, 'iam-synced-users.iam-tmp');
      writeFileSync(tmp, 'old', { mode: 0o666 });
      await sudoersDeps(join(dir, 'iam-synced-users'), 'visudo').writeTemp(tmp, 'new\n');
      expect(lstatSync(tmp).mode & 0o7777).toBe(0o440);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

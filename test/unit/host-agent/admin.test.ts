import { afterEach, describe, expect, it, vi } from 'vitest';
import { ADMIN_COMMANDS, isAdminCommand, runAdmin } from '../../../host-agent/admin.js';

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
    ]);
    expect(isAdminCommand('install')).toBe(true);
    expect(isAdminCommand('alice')).toBe(false);
  });

  it('an unknown command is a usage error (exit 2) with one clear line', async () => {
    capture();
    expect(await runAdmin('frobnicate', [])).toBe(2);
    expect(stderr.join('')).toBe(
      'iam-authorized-keys: unknown admin command "frobnicate" (expected one of: install, uninstall, doctor, sync-users, refresh-principals)\n',
    );
  });

  it.each([
    ['install', ['--bogus']],
    ['sync-users', ['--config']],
    ['refresh-principals', ['--parameter', '/a', '--tag', 'b']],
    ['install', ['--dry-run', '--bin', 'relative/path']],
  ])('%s %j is a usage error (exit 2)', async (cmd, args) => {
    capture();
    expect(await runAdmin(cmd, args)).toBe(2);
    expect(stderr).toHaveLength(1);
    expect(stderr[0]).toMatch(new RegExp(`^iam-authorized-keys ${cmd}: `));
  });

  it('a runtime failure exits 1 with one line (missing config)', async () => {
    capture();
    expect(await runAdmin('sync-users', ['--dry-run', '--config', '/nonexistent/iak.json'])).toBe(1);
    expect(stderr.join('')).toMatch(
      /^iam-authorized-keys sync-users: \/nonexistent\/iak.json: cannot read config \(ENOENT\)\n$/,
    );
  });
});

// Shared by the install tests: the standard paths and options, and an
// in-memory host (files with mode and owner, a log of changes and commands).
import { expect } from 'vitest';
import { install } from '../../../../../host-agent/admin/install/apply.js';
import { defaultPaths, type SysDeps } from '../../../../../host-agent/admin/install/plan.js';
import { agentCommandLine } from '../../../../../host-agent/admin/install/sshd-config.js';
import type { ProcessRunner } from '../../../../../host-agent/admin/sys.js';
import { globToRegExp } from '../../../../../host-agent/secure-path.js';

export const paths = defaultPaths('/');
export const DROP = '/etc/ssh/sshd_config.d/60-iam-authorized-keys.conf';
export const EIC = '/etc/ssh/sshd_config.d/40-ec2-instance-connect.conf';
export const AGENT = Buffer.from('#!/usr/bin/env node\nconsole.log(1)\n');
export const opts = {
  paths,
  agentUser: 'iam-authorized-keys',
  source: AGENT,
  nodePath: '/usr/bin/node',
  nologin: '/usr/sbin/nologin',
};
export const CONFIG = '{"bucket":"bkt","region":"eu-west-1"}';

export const INCLUDE = 'Include /etc/ssh/sshd_config.d/*.conf\n';

/** An in-memory host: files with mode and owner, and a log of every change and command in order. */
export function fakeHost(
  initial: Record<string, { text: string; mode: number; gid?: number }>,
  fail: string[] = [],
  /** sshd has never run: its privilege-separation dir is missing until created. */
  opts2: { privsepMissing?: boolean; users?: readonly string[] } = {},
) {
  const files = new Map(Object.entries(initial).map(([p, f]) => [p, { uid: 0, gid: 0, ...f }]));
  const log: string[] = [];
  const dirs = new Set<string>(opts2.privsepMissing ? [] : ['/run/sshd']);
  // Accounts: install creates the agent user (useradd) unless the test says it exists already.
  const users = new Set<string>(opts2.users ?? []);
  const run: ProcessRunner = async (cmd, args) => {
    const line = [cmd, ...args].join(' ');
    log.push(line);
    if (fail.some((f) => line.startsWith(f))) return { code: 1, stdout: '', stderr: 'failed' };
    if (cmd === 'useradd') users.add(args.at(-1) ?? '');
    if (cmd === 'userdel') users.delete(args.at(-1) ?? '');
    if (cmd === paths.sshdBinary && !dirs.has('/run/sshd'))
      return { code: 255, stdout: '', stderr: 'Missing privilege separation directory: /run/sshd\r\n' };
    // sshd -T: our command is in force while our drop-in exists.
    const effective = files.has(DROP)
      ? `authorizedkeyscommand ${agentCommandLine(paths.binPath, paths.configPath)}\nauthorizedkeyscommanduser iam-authorized-keys\n`
      : '';
    return { code: 0, stdout: args[0] === '-T' ? effective : '', stderr: '' };
  };
  const sys: SysDeps = {
    run,
    out: () => {},
    readText: async (p) => files.get(p)?.text,
    readBytes: async (p) => {
      const f = files.get(p);
      return f ? Buffer.from(f.text, 'latin1') : undefined;
    },
    writeAtomic: async (p, content, mode, owner) => {
      log.push(`write ${p} ${mode.toString(8)} ${owner ? `${owner.uid}:${owner.gid}` : 'root'}`);
      // Kept as latin1 text: every byte survives the round trip (a standalone executable too).
      const text =
        typeof content === 'string' ? Buffer.from(content).toString('latin1') : content.toString('latin1');
      files.set(p, { text, mode, uid: owner?.uid ?? 0, gid: owner?.gid ?? 0 });
    },
    remove: async (p) => {
      log.push(`rm ${p}`);
      files.delete(p);
    },
    mkdirp: async () => {},
    ensurePrivateDir: async () => false,
    createRuntimeDir: async (p) => {
      log.push(`mkdir ${p}`);
      dirs.add(p);
    },
    removeTree: async (p) => {
      log.push(`rm -r ${p}`);
    },
    listMatches: async (pat) => [...files.keys()].filter((f) => globToRegExp(pat).test(f)).sort(),
    userExists: async (u) => users.has(u),
    userUid: async (u) => (u === 'root' ? 0 : users.has(u) ? 999 : undefined),
    dirExists: async () => true,
    stat: (p) => {
      const f = files.get(p);
      if (f)
        return {
          uid: f.uid,
          gid: f.gid,
          mode: 0o100000 | f.mode,
          isDirectory: () => false,
          isFile: () => true,
        };
      return { uid: 0, mode: 0o40755, isDirectory: () => true, isFile: () => false };
    },
  };
  return { files, log, sys, fail, dirs, users };
}

export const EIC_TEXT = 'AuthorizedKeysCommand /opt/aws/bin/eic_run_authorized_keys %u %f\n';

/** A host with a 0600 sshd_config, EC2 Instance Connect's drop-in (0600, gid 42) and the agent config (0640, gid 7). */
export const eicHost = (users: readonly string[] = []) =>
  fakeHost(
    {
      '/etc/ssh/sshd_config': { text: INCLUDE, mode: 0o600 },
      [EIC]: { text: EIC_TEXT, mode: 0o600, gid: 42 },
      [paths.configPath]: { text: CONFIG, mode: 0o640, gid: 7 },
    },
    [],
    { users },
  );

/**
 * eicHost after a successful install; then the commands starting with `fail` fail.
 * `existingUser`: the agent user was there before (--agent-user-shared-ok), so uninstall keeps it.
 */
export async function installedHost(fail: string[] = [], existingUser = false) {
  const h = eicHost(existingUser ? [opts.agentUser] : []);
  expect((await install({ ...opts, agentUserSharedOk: existingUser }, h.sys, false)).code).toBe(0);
  h.fail.push(...fail);
  return h;
}

// A real OpenSSH sshd on a free loopback port, plus what e2e tests need around
// it: a root-owned directory sshd trusts for the AuthorizedKeysCommand, client
// key pairs, throwaway local accounts and the real ssh client.
import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { fingerprintOfBlob } from '../contract/keys.js';
import { realRunner } from '../host-agent/admin/sys.js';
import { type AgentKind, withoutNode } from './agent-kind.js';
import { withDevLog } from './dev-log.js';
import { freePort } from './moto.js';

export const SSHD = process.env.SSHD_PATH ?? '/usr/sbin/sshd';

export class SshdMissingError extends Error {
  override name = 'SshdMissingError';
}

/**
 * Fails (never skips) when sshd is absent or we are not root: end-to-end tests
 * need a real sshd that can switch to local accounts.
 */
export function requireSshd(): void {
  if (!existsSync(SSHD)) {
    throw new SshdMissingError(
      `${SSHD} not found: the end-to-end tests need OpenSSH's sshd (apt-get install openssh-server); refusing to skip${process.env.CI === 'true' ? ' because CI=true' : ''}`,
    );
  }
  if (process.getuid?.() !== 0) {
    throw new SshdMissingError(
      'the end-to-end tests must run as root (sshd has to switch to local test accounts)',
    );
  }
}

/**
 * A fresh directory sshd accepts for AuthorizedKeysCommand: sshd requires the
 * command and every parent to be root-owned and not group/world-writable, so
 * not /tmp (mode 1777). /run is root-owned 0755.
 */
export function makeTrustedDir(tag: string): string {
  const dir = mkdtempSync(`/run/iam-ssh-keys-e2e-${tag}-`);
  chmodSync(dir, 0o755);
  return dir;
}

export interface SshdOptions {
  /** Directory for host key, config, pid file and logs (trusted or not: only the command path must be). */
  readonly dir: string;
  readonly authorizedKeysCommand?: string;
  readonly authorizedKeysCommandUser?: string;
  /** Extra lines appended to sshd_config (e.g. an Include). */
  readonly extra?: readonly string[];
  /** Use this sshd_config instead of writing one (install tests). */
  readonly configPath?: string;
  /** AuthorizedKeysFile (default none: keys only from the command). */
  readonly authorizedKeysFile?: string;
  /** `-o` options on sshd's command line (they win over the config file), e.g. 'UsePAM=no'. */
  readonly options?: readonly string[];
  /** 'standalone': sshd (and the agent it runs) starts where node does not exist. @default AGENT_KIND */
  readonly agentKind?: AgentKind;
  /** sshd logs through syslog(3) to this datagram socket (as /dev/log: dev/dev-log.ts) instead of stderr. */
  readonly syslogSocket?: string;
}

export interface Sshd {
  readonly port: number;
  readonly configPath: string;
  readonly hostKey: string;
  /** Everything sshd (-e) logged so far, the command's stderr included. */
  log(): string;
  /** SIGHUP: sshd re-executes itself and rereads its config. */
  reload(): Promise<void>;
  stop(): Promise<void>;
}

export function writeHostKey(dir: string): string {
  const hostKey = join(dir, 'ssh_host_ed25519_key');
  if (!existsSync(hostKey)) execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', hostKey]);
  return hostKey;
}

/** The sshd_config the e2e tests run with (keys only from the command). */
export function renderSshdConfig(o: {
  port: number;
  hostKey: string;
  pidFile: string;
  authorizedKeysCommand?: string;
  authorizedKeysCommandUser?: string;
  authorizedKeysFile?: string;
  extra?: readonly string[];
}): string {
  return [
    `Port ${o.port}`,
    'ListenAddress 127.0.0.1',
    `HostKey ${o.hostKey}`,
    `PidFile ${o.pidFile}`,
    ...(o.extra ?? []),
    ...(o.authorizedKeysCommand ? [`AuthorizedKeysCommand ${o.authorizedKeysCommand}`] : []),
    ...(o.authorizedKeysCommandUser ? [`AuthorizedKeysCommandUser ${o.authorizedKeysCommandUser}`] : []),
    `AuthorizedKeysFile ${o.authorizedKeysFile ?? 'none'}`,
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    'PubkeyAuthentication yes',
    'UsePAM no',
    'StrictModes no',
    // As the install drop-in sets them: the environment= option of our lines works, nothing else.
    'PermitUserEnvironment SSH_KEY_OWNER',
    'ExposeAuthInfo yes',
    // Parallel-login tests open many unauthenticated connections at once.
    'MaxStartups 100:30:200',
    'MaxAuthTries 3',
    'LogLevel VERBOSE',
    '',
  ].join('\n');
}

function waitPort(port: number, child: ChildProcess, logs: () => string, deadlineMs: number): Promise<void> {
  const until = Date.now() + deadlineMs;
  return new Promise((resolve, reject) => {
    const attempt = () => {
      if (child.exitCode !== null) return reject(new Error(`sshd exited with ${child.exitCode}:\n${logs()}`));
      const s = connect(port, '127.0.0.1');
      s.once('connect', () => {
        s.destroy();
        resolve();
      });
      s.once('error', () => {
        s.destroy();
        if (Date.now() > until) reject(new Error(`sshd not listening on ${port}:\n${logs()}`));
        else setTimeout(attempt, 50);
      });
    };
    attempt();
  });
}

export async function startSshd(o: SshdOptions): Promise<Sshd> {
  requireSshd();
  // Privilege-separation directory; Debian creates it only from its service unit.
  mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
  const hostKey = writeHostKey(o.dir);
  const port = await freePort();
  const pidFile = join(o.dir, 'sshd.pid');
  let configPath = o.configPath;
  if (!configPath) {
    configPath = join(o.dir, 'sshd_config');
    writeFileSync(
      configPath,
      renderSshdConfig({
        port,
        hostKey,
        pidFile,
        ...(o.authorizedKeysCommand ? { authorizedKeysCommand: o.authorizedKeysCommand } : {}),
        ...(o.authorizedKeysCommandUser ? { authorizedKeysCommandUser: o.authorizedKeysCommandUser } : {}),
        ...(o.extra ? { extra: o.extra } : {}),
        ...(o.authorizedKeysFile ? { authorizedKeysFile: o.authorizedKeysFile } : {}),
      }),
    );
  }
  // With a given config the port is passed on the command line (-o wins over the file).
  const args = [
    '-D',
    ...(o.syslogSocket ? [] : ['-e']),
    '-f',
    configPath,
    '-o',
    `Port=${port}`,
    '-o',
    `PidFile=${pidFile}`,
    ...(o.options ?? []).flatMap((x) => ['-o', x]),
  ];
  // With the standalone agent kind, sshd (and so the agent it runs) starts where node does not exist.
  const [inner, innerArgs] = withoutNode(SSHD, args, o.agentKind);
  const [cmd, argv] = o.syslogSocket
    ? withDevLog(o.syslogSocket, inner, innerArgs, o.dir)
    : [inner, innerArgs];
  const child = spawn(cmd, argv, { stdio: ['ignore', 'ignore', 'pipe'] });
  let logText = '';
  child.stderr?.on('data', (d: Buffer) => {
    logText += d.toString();
  });
  await waitPort(port, child, () => logText, 10_000);
  return {
    port,
    configPath,
    hostKey,
    log: () => logText,
    async reload() {
      const before = logText.length;
      child.kill('SIGHUP');
      // sshd re-executes itself; wait until it listens again.
      const until = Date.now() + 10_000;
      while (!logText.slice(before).includes('Server listening') && Date.now() < until) {
        await new Promise((r) => setTimeout(r, 50));
      }
      await waitPort(port, child, () => logText, 10_000);
    },
    stop() {
      return new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
        setTimeout(() => child.kill('SIGKILL'), 3000).unref();
      });
    },
  };
}

export interface ClientKey {
  readonly privateKey: string;
  /** 'type base64' */
  readonly openssh: string;
  readonly type: string;
  readonly blob: string;
  /** sshd's %f form */
  readonly fingerprint: string;
}

export function makeClientKey(dir: string, name: string): ClientKey {
  const privateKey = join(dir, name);
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', name, '-f', privateKey]);
  const [type = '', blob = ''] = readFileSync(`${privateKey}.pub`, 'utf8').trim().split(/\s+/);
  return {
    privateKey,
    openssh: `${type} ${blob}`,
    type,
    blob,
    fingerprint: fingerprintOfBlob(Buffer.from(blob, 'base64')),
  };
}

export interface LoginResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** The real ssh client's argv for one login (no agent, no known_hosts, batch mode). */
export function sshClientArgs(port: number, user: string, key: ClientKey, command: string): string[] {
  return [
    '-F',
    '/dev/null',
    '-i',
    key.privateKey,
    '-o',
    'BatchMode=yes',
    '-o',
    'IdentitiesOnly=yes',
    '-o',
    'StrictHostKeyChecking=no',
    '-o',
    'UserKnownHostsFile=/dev/null',
    '-o',
    'LogLevel=ERROR',
    '-o',
    'ConnectTimeout=20',
    '-p',
    String(port),
    `${user}@127.0.0.1`,
    command,
  ];
}

/** The ssh client's environment: nothing of this shell's but PATH. */
export const sshClientEnv = (): Record<string, string> => ({
  PATH: process.env.PATH ?? '/usr/bin:/bin',
  HOME: '/root',
});

/** One real login with the real ssh client. */
export function sshLogin(port: number, user: string, key: ClientKey, command = 'true'): Promise<LoginResult> {
  return realRunner('ssh', sshClientArgs(port, user, key, command), { env: sshClientEnv() });
}

/**
 * A throwaway local account: shell /bin/sh, password field '*' (locked for
 * passwords, yet sshd with UsePAM no still allows key logins; '!' would not).
 */
export function createLocalUser(name: string): void {
  spawnSync('userdel', ['-r', name], { stdio: 'ignore' });
  execFileSync('useradd', ['-m', '-s', '/bin/sh', '-p', '*', name], { stdio: 'pipe' });
}

/**
 * Removes a throwaway account and first kills what still runs as it: a session's command outlives its ssh client
 * (no pty, so no SIGHUP), and once userdel frees the uid, useradd hands it to the next account with those processes
 * still running under it (usermod then calls that account busy).
 */
export function removeLocalUser(name: string): void {
  const uid = Number(spawnSync('id', ['-u', name], { encoding: 'utf8' }).stdout.trim());
  if (Number.isInteger(uid) && uid > 0 && uid !== process.getuid?.()) {
    spawnSync('pkill', ['-KILL', '-U', String(uid)], { stdio: 'ignore' });
  }
  spawnSync('userdel', ['-r', '-f', name], { stdio: 'ignore' });
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

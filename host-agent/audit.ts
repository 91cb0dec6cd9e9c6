// The trustworthy login audit: which IAM user's key matched for which account.
// SSH_KEY_OWNER cannot serve (a user's ~/.ssh/environment can override it),
// so the agent logs to syslog (authpriv) when sshd asks about one fingerprint.
import type { ChildProcess } from 'node:child_process';

export const LOGGER = '/usr/bin/logger';
export const SYSLOG_TAG = 'iam-authorized-keys';
/** Longest wait for logger before we exit anyway (the keys have been printed). */
const LOGGER_TIMEOUT_MS = 1000;

export interface AuditFields {
  readonly user: string;
  readonly fingerprint: string;
  readonly owner: string;
  readonly principals: readonly string[];
  readonly sources: readonly string[];
  /** sshd's process (our parent): joins this line to sshd's own "Accepted publickey" line. */
  readonly sshdPid?: number;
}

/** Values are validated upstream; anything outside the safe set is still replaced so one message stays one line. */
function clean(s: string): string {
  return s.replace(/[^A-Za-z0-9_.,:/+=@-]/g, '?');
}

/**
 * sshd asks about every offered key (and again to verify the signature), so a
 * line records a key that matched, not a login: anyone holding a public key can
 * offer it. The login is the join with sshd's "Accepted publickey" line by pid.
 */
export function auditMessage(f: AuditFields): string {
  return [
    'key-matched',
    `user=${clean(f.user)}`,
    `fingerprint=${clean(f.fingerprint)}`,
    `owner=${clean(f.owner)}`,
    `principal=${clean(f.principals.join(','))}`,
    `source=${clean(f.sources.join(','))}`,
    ...(f.sshdPid !== undefined ? [`sshd_pid=${f.sshdPid}`] : []),
  ].join(' ');
}

export interface Auditor {
  /** Sends the messages and resolves once logger has exited; rejects when they may not have been logged. */
  finish(messages: readonly string[]): Promise<void>;
}

export type Spawn = (cmd: string, args: string[]) => ChildProcess;

/**
 * Runs logger(1) (node has no unix datagram sockets for /dev/log), feeding the
 * messages on stdin, one per line. child_process is loaded only here (~8 ms).
 */
export function startSyslogAuditor(socket: string, spawnFn?: Spawn): Auditor {
  return {
    async finish(messages) {
      const run: Spawn =
        spawnFn ??
        (await import('./lazy-spawn.js').then(
          (m) => (c: string, a: string[]) => m.spawn(c, a, { stdio: ['pipe', 'ignore', 'pipe'] }),
        ));
      const child = run(LOGGER, [
        '-p',
        'authpriv.info',
        '-t',
        SYSLOG_TAG,
        '-u',
        socket,
        '--socket-errors=on',
      ]);
      let stderr = '';
      child.stderr?.on('data', (d: Buffer) => {
        stderr = (stderr + d.toString()).slice(-500);
      });
      const exited = new Promise<number | string>((resolve) => {
        child.once('error', (e) => resolve(e.message));
        child.once('close', (code, signal) => resolve(code ?? `killed by ${signal}`));
      });
      child.stdin?.on('error', () => {}); // EPIPE when logger died: reported through its exit status
      child.stdin?.end(messages.map((m) => `${m}\n`).join(''));
      const timer = setTimeout(() => child.kill('SIGKILL'), LOGGER_TIMEOUT_MS);
      const status = await exited;
      clearTimeout(timer);
      if (status !== 0) {
        const why = stderr.trim().split('\n').pop() || `exit ${status}`;
        throw new Error(`audit log not written: ${LOGGER}: ${why}`);
      }
    },
  };
}

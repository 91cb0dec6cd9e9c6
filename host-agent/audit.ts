// The trustworthy login audit: which IAM user's key matched for which account.
// SSH_KEY_OWNER cannot serve (a user's ~/.ssh/environment can override it),
// so the agent logs to syslog (authpriv) when sshd asks about one fingerprint.
import type { ChildProcess } from 'node:child_process';
import { statSync } from 'node:fs';

export const LOGGER = '/usr/bin/logger';
export const SYSLOG_TAG = 'iam-authorized-keys';
/** doctor's longest wait for logger. */
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

/** logger(1) could not be started or did not confirm the messages were written. */
export class AuditError extends Error {
  override name = 'AuditError';
}

export interface Auditor {
  /**
   * The login path: hands the messages to logger and resolves once they are
   * in its stdin pipe, without waiting for it to exit (that wait was ~15 ms of
   * every key check). logger, detached and bounded by timeout(1), writes them
   * on its own after we exit. Rejects when logger cannot be started.
   */
  send(messages: readonly string[]): Promise<void>;
  /** doctor: sends and waits for logger's exit status; rejects when the messages may not have been logged. */
  sendChecked(messages: readonly string[]): Promise<void>;
}

export interface SpawnOptions {
  readonly detached: boolean;
  readonly stdio: ['pipe', 'ignore', 'pipe' | 'ignore'];
}
export type Spawn = (cmd: string, args: string[], opts: SpawnOptions) => ChildProcess;

export const TIMEOUT = '/usr/bin/timeout';
/** A detached logger blocked on a stuck syslog daemon is killed after this long, so none pile up. */
export const DETACHED_LOGGER_SECONDS = 5;

export function loggerArgs(socket: string): string[] {
  return ['-p', 'authpriv.info', '-t', SYSLOG_TAG, '-u', socket, '--socket-errors=on'];
}

function isSocket(path: string): boolean {
  try {
    return statSync(path).isSocket();
  } catch {
    return false;
  }
}

const lines = (messages: readonly string[]) => messages.map((m) => `${m}\n`).join('');

/**
 * Runs logger(1) (node has no unix datagram sockets for /dev/log), feeding the
 * messages on stdin, one per line (not argv: other local users can read argv).
 * child_process is loaded only here (~4 ms).
 */
export function startSyslogAuditor(socket: string, spawnFn?: Spawn): Auditor {
  const getSpawn = async (): Promise<Spawn> =>
    spawnFn ?? (await import('./lazy-spawn.js').then((m) => (c, a, o) => m.spawn(c, a, o)));
  return {
    async send(messages) {
      // The one failure we can still see without waiting for logger: no syslog socket at all.
      if (!isSocket(socket)) throw new AuditError(`audit log not written: ${socket} is not a socket`);
      const run = await getSpawn();
      // Its own session: sshd never waits for it, and it outlives us.
      const child = run(
        TIMEOUT,
        ['-s', 'KILL', String(DETACHED_LOGGER_SECONDS), LOGGER, ...loggerArgs(socket)],
        { detached: true, stdio: ['pipe', 'ignore', 'ignore'] },
      );
      await new Promise<void>((resolve, reject) => {
        const failed = (e: Error) =>
          reject(new AuditError(`audit log not written: ${TIMEOUT} ${LOGGER}: ${e.message}`, { cause: e }));
        child.once('error', failed);
        if (!child.stdin) {
          reject(new AuditError('audit log not written: no pipe to logger'));
          return;
        }
        child.stdin.once('error', failed);
        // The callback runs once the bytes are in the pipe: logger reads them even after we exit.
        child.stdin.end(lines(messages), () => resolve());
      });
      child.unref();
    },
    async sendChecked(messages) {
      const run = await getSpawn();
      const child = run(LOGGER, loggerArgs(socket), { detached: false, stdio: ['pipe', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr?.on('data', (d: Buffer) => {
        stderr = (stderr + d.toString()).slice(-500);
      });
      const exited = new Promise<number | string>((resolve) => {
        child.once('error', (e) => resolve(e.message));
        child.once('close', (code, signal) => resolve(code ?? `killed by ${signal}`));
      });
      child.stdin?.on('error', () => {}); // EPIPE when logger died: reported through its exit status
      child.stdin?.end(lines(messages));
      const timer = setTimeout(() => child.kill('SIGKILL'), LOGGER_TIMEOUT_MS);
      const status = await exited;
      clearTimeout(timer);
      if (status !== 0) {
        const why = stderr.trim().split('\n').pop() || `exit ${status}`;
        throw new AuditError(`audit log not written: ${LOGGER}: ${why}`);
      }
    },
  };
}

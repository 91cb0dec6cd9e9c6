// The trustworthy login audit: which IAM user's key matched for which account.
// SSH_KEY_OWNER cannot serve (a user's ~/.ssh/environment can override it),
// so the agent logs to syslog (authpriv) when sshd asks about one fingerprint.
import type { ChildProcess } from 'node:child_process';
import { accessSync, constants, statSync } from 'node:fs';
import { CLASS, replaceOutside } from '../contract/charset.js';
import { errorMessage } from '../contract/errors.js';

export const LOGGER = '/usr/bin/logger';
export const SYSLOG_TAG = 'iam-authorized-keys';
/** doctor's longest wait (timeout(1) kills logger first). */
const LOGGER_TIMEOUT_MS = 5000;

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
  return replaceOutside(s, CLASS.auditSafe, () => '?');
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
   * in its stdin pipe, without waiting for it to exit. logger, detached and
   * bounded by timeout(1), writes them on its own after we exit. Rejects when
   * the socket, timeout or logger is missing, logger cannot be started, or the
   * pipe write fails.
   */
  send(messages: readonly string[]): Promise<void>;
  /** doctor: the same command and checks, but waits for its exit status; rejects when the messages may not have been logged. */
  sendChecked(messages: readonly string[]): Promise<void>;
}

export interface SpawnOptions {
  readonly detached: boolean;
  readonly stdio: ['pipe', 'ignore', 'pipe' | 'ignore'];
}
export type Spawn = (cmd: string, args: string[], opts: SpawnOptions) => ChildProcess;

export const TIMEOUT = '/usr/bin/timeout';
/**
 * A logger blocked on a stuck syslog daemon is killed after this long. Detached
 * loggers are not bounded by sshd's MaxStartups, so keep it short: at most
 * (key checks per second x this) of them exist at once.
 */
export const DETACHED_LOGGER_SECONDS = 2;

export function loggerArgs(socket: string): string[] {
  return ['-p', 'authpriv.info', '-t', SYSLOG_TAG, '-u', socket, '--socket-errors=on'];
}

/** The command both paths run: logger under timeout(1). */
export function auditCommand(socket: string): [string, string[]] {
  return [TIMEOUT, ['-s', 'KILL', String(DETACHED_LOGGER_SECONDS), LOGGER, ...loggerArgs(socket)]];
}

/**
 * The failures we can still see without waiting for logger: no socket, no
 * timeout or logger program. Returns why, or undefined.
 */
export function preflightProblem(
  socket: string,
  programs: readonly string[] = [TIMEOUT, LOGGER],
): string | undefined {
  try {
    if (!statSync(socket).isSocket()) return `${socket} is not a socket`;
  } catch (e) {
    return `${socket}: ${(e as NodeJS.ErrnoException).code ?? errorMessage(e)}`;
  }
  for (const program of programs) {
    try {
      accessSync(program, constants.X_OK);
    } catch (e) {
      return `${program}: ${(e as NodeJS.ErrnoException).code ?? errorMessage(e)}`;
    }
  }
  return undefined;
}

const lines = (messages: readonly string[]) => messages.map((m) => `${m}\n`).join('');

/** The part of Bun's spawn the audit uses (the standalone agent runs on Bun). */
export interface BunSpawn {
  spawn(
    argv: string[],
    opts: { stdin: 'pipe'; stdout: 'ignore'; stderr: 'ignore'; detached: true },
  ): { readonly stdin: { write(d: string): unknown; end(): unknown }; unref(): void };
}

/** Bun's own spawn when running on Bun, else undefined (node). */
export function bunRuntime(): BunSpawn | undefined {
  return (globalThis as { Bun?: BunSpawn }).Bun;
}

/**
 * send() on Bun: Bun.spawn, detached (own session) with stdout/stderr on
 * /dev/null, the messages written to its stdin pipe and the pipe closed before
 * it resolves. node:child_process under Bun loads Node's stream machinery
 * (~2 ms and ~3 MiB of every login that audits, docs/benchmarks.md).
 */
async function sendWithBun(bun: BunSpawn, argv: string[], messages: readonly string[]): Promise<void> {
  try {
    const child = bun.spawn(argv, { stdin: 'pipe', stdout: 'ignore', stderr: 'ignore', detached: true });
    child.stdin.write(lines(messages));
    // A number once flushed, or a promise of it when the pipe was full.
    await child.stdin.end();
    child.unref();
  } catch (e) {
    throw new AuditError(`audit log not written: ${LOGGER}: ${errorMessage(e)}`, { cause: e });
  }
}

/**
 * Runs logger(1) (node has no unix datagram sockets for /dev/log), feeding the
 * messages on stdin, one per line (not argv: other local users can read argv).
 * child_process is loaded only here (~3 ms); on Bun, send() uses Bun.spawn instead.
 */
export function startSyslogAuditor(socket: string, spawnFn?: Spawn, bun = bunRuntime()): Auditor {
  const getSpawn = async (): Promise<Spawn> =>
    spawnFn ?? (await import('./lazy-spawn.js').then((m) => (c, a, o) => m.spawn(c, a, o)));
  const preflight = () => {
    const problem = preflightProblem(socket);
    if (problem) throw new AuditError(`audit log not written: ${problem}`);
  };
  const [cmd, args] = auditCommand(socket);
  return {
    async send(messages) {
      preflight();
      if (!spawnFn && bun) return sendWithBun(bun, [cmd, ...args], messages);
      const run = await getSpawn();
      // stdout/stderr are /dev/null, so sshd (reading our stdout) never waits for it;
      // its own session keeps it out of our process group.
      const child = run(cmd, args, { detached: true, stdio: ['pipe', 'ignore', 'ignore'] });
      await new Promise<void>((resolve, reject) => {
        const failed = (e: Error) =>
          reject(new AuditError(`audit log not written: ${LOGGER}: ${e.message}`, { cause: e }));
        child.once('error', failed);
        if (!child.stdin) {
          reject(new AuditError('audit log not written: no pipe to logger'));
          return;
        }
        child.stdin.once('error', failed);
        // Called once the bytes are in the pipe (logger reads them even after we exit), or with the write's error.
        child.stdin.end(lines(messages), (e?: Error | null) => (e ? failed(e) : resolve()));
      });
      child.unref();
    },
    async sendChecked(messages) {
      preflight();
      const run = await getSpawn();
      const child = run(cmd, args, { detached: false, stdio: ['pipe', 'ignore', 'pipe'] });
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

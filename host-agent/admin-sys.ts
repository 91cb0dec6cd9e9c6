// System edges shared by the admin commands: a process runner and atomic file
// writes. Logic modules take these as parameters so tests can swap them.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, chown, open, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

export interface RunResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export interface RunOptions {
  readonly input?: string;
  readonly env?: NodeJS.ProcessEnv;
}

/** Runs a program without a shell; resolves with its exit code (127 when it cannot be started). */
export type ProcessRunner = (cmd: string, args: readonly string[], opts?: RunOptions) => Promise<RunResult>;

export class CommandFailedError extends Error {
  override name = 'CommandFailedError';
  constructor(
    readonly command: string,
    readonly result: RunResult,
  ) {
    const why = result.stderr.trim().split('\n').slice(-3).join(' / ') || `exit code ${result.code}`;
    super(`${command} failed: ${why}`);
  }
}

export const realRunner: ProcessRunner = (cmd, args, opts = {}) =>
  new Promise((resolve) => {
    const child = spawn(cmd, [...args], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: opts.env ?? process.env,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    child.on('error', (e) => resolve({ code: 127, stdout, stderr: `${stderr}${e.message}\n` }));
    child.on('close', (code, signal) => resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr }));
    child.stdin.on('error', () => {}); // the child may exit before reading its input
    child.stdin.end(opts.input ?? '');
  });

/** Runs and throws CommandFailedError unless the exit code is 0. */
export async function runChecked(
  run: ProcessRunner,
  cmd: string,
  args: readonly string[],
  opts?: RunOptions,
): Promise<RunResult> {
  const r = await run(cmd, args, opts);
  if (r.code !== 0) throw new CommandFailedError([cmd, ...args].join(' '), r);
  return r;
}

export interface AtomicWriteOptions {
  readonly mode: number;
  readonly uid?: number;
  readonly gid?: number;
}

/**
 * Writes via a temp file in the same directory, fsync, then rename: readers
 * (sshd, the agent) see the old or the new file, never a partial one. The
 * temp file is created with the final mode so the content is never exposed
 * more widely than intended.
 */
export async function writeFileAtomic(
  path: string,
  data: string | Buffer,
  opts: AtomicWriteOptions,
): Promise<void> {
  const tmp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  const fh = await open(tmp, 'wx', opts.mode);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
  try {
    // open() honours the umask; set the exact mode (and owner) explicitly.
    await chmod(tmp, opts.mode);
    if (opts.uid !== undefined || opts.gid !== undefined) await chown(tmp, opts.uid ?? -1, opts.gid ?? -1);
    await rename(tmp, path);
  } catch (e) {
    await unlink(tmp).catch(() => {});
    throw e;
  }
}

/** Splits `cmd arg1 arg2` on blanks (no quoting: admin-supplied commands only). */
export function splitCommand(text: string): string[] {
  return text.trim().split(/\s+/).filter(Boolean);
}

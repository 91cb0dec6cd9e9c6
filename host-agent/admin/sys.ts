// System edges shared by the admin commands: a process runner and atomic file
// writes. Logic modules take these as parameters so tests can swap them.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { constants, realpathSync, statSync } from 'node:fs';
import {
  type FileHandle,
  lstat,
  mkdir,
  open,
  readdir,
  readFile,
  readlink,
  realpath,
  rename,
  rm,
  unlink,
} from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, relative } from 'node:path';
import { parsePasswd } from '../passwd.js';
import {
  cacheDirPathProblem,
  globToRegExp,
  type StatLike,
  securePathProblems,
  trustedDirProblems,
} from '../secure-path.js';

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
  // Someone else who can write the directory could swap the temp name for a symlink before the rename.
  const dir = await trustedRealDir(dirname(path), `not writing ${path}`);
  const tmp = join(dir, `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  const fh = await open(tmp, 'wx', opts.mode);
  try {
    try {
      await fh.writeFile(data);
      // open() honours the umask: the exact mode (and owner), on the file itself, never by path.
      await fh.chmod(opts.mode);
      if (opts.uid !== undefined || opts.gid !== undefined) await fh.chown(opts.uid ?? -1, opts.gid ?? -1);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, join(dir, basename(path)));
  } catch (e) {
    await unlink(tmp).catch(() => {});
    throw e;
  }
}

const statOrUndefined = (p: string): StatLike | undefined => {
  try {
    return statSync(p);
  } catch {
    return undefined;
  }
};

/**
 * The real path of an existing directory that only root can change
 * (trustedDirProblems), or UnsafePathError: root then writes and chowns
 * below it without following a name someone else swapped in.
 */
export async function trustedRealDir(dir: string, doing: string): Promise<string> {
  const real = await realpath(dir);
  const problems = trustedDirProblems(real, statOrUndefined);
  if (problems.length > 0) throw new UnsafePathError(`${doing}: ${problems.join('; ')}`);
  return real;
}

const O_DIR_NOFOLLOW = constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW;

/**
 * Opens a directory without following a symlink at its last component (ELOOP),
 * for fchown/fchmod on what was opened rather than on whatever the path names later.
 */
export async function openDirNoFollow(path: string): Promise<FileHandle> {
  try {
    return await open(path, O_DIR_NOFOLLOW);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ELOOP' || code === 'ENOTDIR') {
      throw new UnsafePathError(`${path} exists and is not a directory (a symlink?)`, { cause: e });
    }
    throw e;
  }
}

/** Splits `cmd arg1 arg2` on blanks (no quoting: admin-supplied commands only). */
export function splitCommand(text: string): string[] {
  return text.trim().split(/\s+/).filter(Boolean);
}

export interface FileOwner {
  readonly uid: number;
  readonly gid: number;
}

export interface SystemFs {
  readText(path: string): Promise<string | undefined>;
  readBytes(path: string): Promise<Buffer | undefined>;
  /** Owner root unless given. */
  writeAtomic(path: string, content: string | Buffer, mode: number, owner?: FileOwner): Promise<void>;
  remove(path: string): Promise<void>;
  mkdirp(path: string, mode: number): Promise<void>;
  ensurePrivateDir(path: string, owner: string): Promise<boolean>;
  removeTree(path: string): Promise<void>;
  listMatches(pattern: string): Promise<string[]>;
  userExists(user: string): Promise<boolean>;
  userUid(user: string): Promise<number | undefined>;
  dirExists(path: string): Promise<boolean>;
  stat(path: string): StatLike | undefined;
  /** Where a path really leads (symlinks resolved), or undefined when it does not exist. */
  realpath(path: string): string | undefined;
  /** One directory, root-owned, mode 0755, under a parent only root can write (sshd's privsep dir). */
  createRuntimeDir(path: string): Promise<void>;
}

export class UnsafePathError extends Error {
  override name = 'UnsafePathError';
}

/** Looks up a user's uid and primary gid (getent, so NSS users count). */
export async function lookupUser(
  run: ProcessRunner,
  user: string,
): Promise<{ uid: number; gid: number } | undefined> {
  const r = await run('getent', ['passwd', user]);
  if (r.code !== 0) return undefined;
  // getent prints the one account asked for (by name, or by uid when `user` is a number).
  const entry = parsePasswd(r.stdout)[0];
  return entry ? { uid: entry.uid, gid: entry.gid } : undefined;
}

async function readBytesOrUndefined(path: string): Promise<Buffer | undefined> {
  try {
    return await readFile(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

/** The real file system, for the admin commands (run as root). */
export function realSystemFs(run: ProcessRunner): SystemFs {
  return {
    // Plain functions, no `this`: callers pass single methods around.
    readText: async (path) => (await readBytesOrUndefined(path))?.toString('utf8'),
    readBytes: readBytesOrUndefined,
    writeAtomic: (path, content, mode, owner) =>
      writeFileAtomic(path, content, { mode, uid: owner?.uid ?? 0, gid: owner?.gid ?? 0 }),
    async remove(path) {
      await rm(path, { force: true });
    },
    async mkdirp(path, mode) {
      await mkdir(path, { recursive: true, mode });
    },
    async ensurePrivateDir(path, owner) {
      const ids = await lookupUser(run, owner);
      if (!ids) throw new UnsafePathError(`user ${owner} does not exist`);
      return ensurePrivateDirAs(path, owner, ids);
    },
    async removeTree(path) {
      await rm(path, { recursive: true, force: true });
    },
    async listMatches(pattern) {
      const dir = dirname(pattern);
      const re = globToRegExp(basename(pattern));
      try {
        return (await readdir(dir))
          .filter((n) => re.test(n))
          .map((n) => join(dir, n))
          .sort();
      } catch {
        return [];
      }
    },
    async userExists(user) {
      return (await lookupUser(run, user)) !== undefined;
    },
    userUid: async (user) => (await lookupUser(run, user))?.uid,
    async dirExists(path) {
      try {
        return (await lstat(path)).isDirectory();
      } catch {
        return false;
      }
    },
    stat(path) {
      try {
        return statSync(path);
      } catch {
        return undefined;
      }
    },
    realpath(path) {
      try {
        return realpathSync(path);
      } catch {
        return undefined;
      }
    },
    async createRuntimeDir(path) {
      if (!isAbsolute(path)) throw new UnsafePathError(`${path} is not an absolute path`);
      const unsafe = securePathProblems(dirname(path), statOrUndefined);
      if (unsafe.length > 0) throw new UnsafePathError(`not creating ${path}: ${unsafe.join('; ')}`);
      await mkdir(path, { mode: 0o755 });
      // mkdir honours the umask: set the exact mode and owner, on what mkdir made.
      const fh = await openDirNoFollow(path);
      try {
        await fh.chown(0, 0);
        await fh.chmod(0o755);
      } finally {
        await fh.close();
      }
    },
  };
}

/** The deepest existing directory at or above `dir`, and the missing part below it. */
async function existingAncestor(dir: string): Promise<{ base: string; rest: string }> {
  let base = dir;
  for (;;) {
    try {
      await lstat(base);
      return { base, rest: relative(base, dir) };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT' || dirname(base) === base) throw e;
      base = dirname(base);
    }
  }
}

/**
 * The agent's cache dir, made or fixed: owner `ids`, mode 0700; returns whether
 * it was created. Its parent (symlinks resolved once) must be one only root can
 * change (trustedDirProblems), so the name cannot be swapped after the checks;
 * the chown and chmod go to the opened directory (O_NOFOLLOW), never by path.
 */
export async function ensurePrivateDirAs(
  path: string,
  owner: string,
  ids: { readonly uid: number; readonly gid: number },
): Promise<boolean> {
  const refuse = (why: string) => new UnsafePathError(`cache dir ${path}: ${why}`);
  const pathProblem = cacheDirPathProblem(path);
  if (pathProblem) throw refuse(pathProblem);
  const { base, rest } = await existingAncestor(dirname(path));
  const realBase = await trustedRealDir(base, `cache dir ${path}: not creating or chowning it`);
  const parent = join(realBase, rest);
  const real = join(parent, basename(path));
  // A parent symlink could lead into a system directory.
  const realProblem = real === path ? undefined : cacheDirPathProblem(real);
  if (realProblem) throw refuse(`resolves to ${real}, which ${realProblem}`);
  // Missing parents are made by root, 0755: still a directory only root can change.
  if (rest) await mkdir(parent, { recursive: true, mode: 0o755 });
  let created = false;
  try {
    await mkdir(real, { mode: 0o700 });
    created = true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
  }
  let fh: FileHandle;
  try {
    fh = await openDirNoFollow(real);
  } catch (e) {
    throw e instanceof UnsafePathError ? refuse('exists and is not a directory') : e;
  }
  try {
    const st = await fh.stat();
    // Someone else's directory with content in it is not ours to chown (a typo like "/var/cache").
    if (!created && st.uid !== ids.uid && (await readdir(real)).length > 0) {
      throw refuse(`exists, is not empty and is not owned by ${owner}: refusing to take it over`);
    }
    await fh.chown(ids.uid, ids.gid);
    await fh.chmod(0o700);
  } finally {
    await fh.close();
  }
  return created;
}

/** Processes whose real or effective uid is `uid`, from /proc (exe resolved by the kernel, argv from cmdline). */
export async function processesOf(
  uid: number,
  proc = '/proc',
): Promise<{ pid: number; exe: string | undefined; argv: string[] }[]> {
  const out: { pid: number; exe: string | undefined; argv: string[] }[] = [];
  for (const entry of await readdir(proc)) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const status = await readFile(join(proc, entry, 'status'), 'utf8');
      const m = /^Uid:\s+(\d+)\s+(\d+)/m.exec(status);
      if (!m || (Number(m[1]) !== uid && Number(m[2]) !== uid)) continue;
      // A zombie (its parent has not reaped it yet) runs nothing and can write nothing.
      if (/^State:\s+[ZX]/m.test(status)) continue;
      const argv = (await readFile(join(proc, entry, 'cmdline'), 'utf8')).split('\0').filter(Boolean);
      const exe = await readlink(join(proc, entry, 'exe')).catch(() => undefined);
      out.push({ pid: Number(entry), exe, argv });
    } catch {
      // The process ended while we read it.
    }
  }
  return out;
}

/** Where services keep their state: searched (4 levels, one file system each) for the agent user's files. */
const OWNED_FILE_ROOTS = ['/etc', '/home', '/opt', '/run', '/srv', '/tmp', '/var', '/dev/shm'];

/**
 * One file or directory `uid` owns under OWNED_FILE_ROOTS, outside `exclude`
 * (the cache dir, its home), or undefined. Bounded (depth 4, no other file
 * systems): a sign of a shared account, not a full inventory.
 */
export async function findOwnedFile(
  run: ProcessRunner,
  uid: number,
  exclude: readonly string[],
  roots: readonly string[] = OWNED_FILE_ROOTS,
): Promise<string | undefined> {
  const prune = exclude.flatMap((p, i) => [...(i > 0 ? ['-o'] : []), '-path', p]);
  const existing = roots.filter((r) => statOrUndefined(r)?.isDirectory());
  if (existing.length === 0) return undefined;
  const r = await run('find', [
    ...existing,
    '-xdev',
    '-maxdepth',
    '4',
    ...(prune.length > 0 ? ['(', ...prune, ')', '-prune', '-o'] : []),
    '-user',
    String(uid),
    '-print',
    '-quit',
  ]);
  return r.stdout.split('\n')[0] || undefined;
}

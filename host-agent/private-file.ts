// Private files of the agent's user: a directory only it can write, files it
// reads only when they are its own (0600, regular, no symlink) and writes
// atomically. The object cache (cache.ts) and the role credentials cache
// (credentials.ts) keep their files this way.
import { randomBytes } from 'node:crypto';
import {
  closeSync,
  constants,
  fchmodSync,
  fstatSync,
  lstatSync,
  mkdirSync,
  openSync,
  readSync,
  renameSync,
  type Stats,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { childPath, privateDirProblem } from './private-dir.js';

export class CacheDirError extends Error {
  override name = 'CacheDirError';
}

/**
 * Makes sure `dir` exists (creating it 0700) and is a real directory owned by
 * `uid` that nobody else can write. Throws CacheDirError with the reason.
 */
export function checkPrivateDir(dir: string, uid: number): void {
  // lstat: a symlink is "not a directory". Created when absent only: a cache hit skips mkdir's code.
  const st = lstatOrAbsent(dir) ?? createPrivateDir(dir);
  const problem = privateDirProblem(dir, st, uid, { allowReadable: true });
  if (problem) throw new CacheDirError(`cache dir ${problem}`);
}

function lstatOrAbsent(path: string): Stats | undefined {
  try {
    return lstatSync(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new CacheDirError(
      `cache dir ${path}: cannot stat (${(e as NodeJS.ErrnoException).code ?? 'error'})`,
      {
        cause: e,
      },
    );
  }
}

/** Creates `dir` (0700, parents as needed) and returns its lstat. */
function createPrivateDir(dir: string): Stats {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  } catch (cause) {
    throw new CacheDirError(
      `cache dir ${dir}: cannot create (${(cause as NodeJS.ErrnoException).code ?? 'error'})`,
      {
        cause,
      },
    );
  }
  return lstatSync(dir);
}

/**
 * Reads a file only if it is a regular file (no symlink), owned by `uid`,
 * mode 0600 or tighter and at most `maxBytes`. Returns undefined when absent,
 * a reason string when present but unacceptable.
 */
export function readPrivateFile(path: string, uid: number, maxBytes: number): Buffer | string | undefined {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    return `cannot open (${code ?? 'error'})`;
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) return 'not a regular file';
    if (st.uid !== uid) return `owned by uid ${st.uid}`;
    if (st.mode & 0o077) return `mode ${(st.mode & 0o777).toString(8)} is not 0600`;
    if (st.size > maxBytes) return 'too large';
    const buf = Buffer.allocUnsafe(st.size);
    let off = 0;
    while (off < st.size) {
      const n = readSync(fd, buf, off, st.size - off, off);
      if (n === 0) break;
      off += n;
    }
    return off === st.size ? buf : 'changed while reading';
  } finally {
    closeSync(fd);
  }
}

/** Writes via a temp file in the same directory and rename, mode 0600: readers see old or new, never half. */
export function writePrivateFile(dir: string, name: string, data: Buffer): void {
  const tmp = childPath(dir, `.${name}.${process.pid}.${randomBytes(6).toString('hex')}`);
  const fd = openSync(
    tmp,
    constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
    0o600,
  );
  try {
    fchmodSync(fd, 0o600); // umask can only tighten, but be explicit
    let off = 0;
    while (off < data.length) off += writeSync(fd, data, off, data.length - off);
  } catch (e) {
    closeSync(fd);
    unlinkSync(tmp);
    throw e;
  }
  closeSync(fd);
  try {
    renameSync(tmp, childPath(dir, name));
  } catch (e) {
    unlinkSync(tmp);
    throw e;
  }
}

// The agent's on-disk cache: one file per object, written atomically with mode
// 0600 in a directory only the agent's user can write. Anything that does not
// look exactly right (mode, owner, checksum, key) is treated as absent.
import { createHash, randomBytes } from 'node:crypto';
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
  unlinkSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';

/** Largest object the agent accepts from S3 or from its cache. */
export const MAX_OBJECT_BYTES = 8 * 1024 * 1024;
const MAX_HEADER_BYTES = 4096;
/** Tolerated clock skew for entries that claim to come from the future. */
const FUTURE_SLACK_MS = 60_000;

export interface CacheEntry {
  readonly key: string;
  /** false: S3 said 404 (unknown principal), cached like any answer. */
  readonly found: boolean;
  readonly etag?: string;
  /** When S3 last confirmed this content (ms since epoch). */
  readonly fetchedAt: number;
  readonly body: Buffer;
}

export type Freshness = 'fresh' | 'stale' | 'expired';

/**
 * fresh: younger than ttl; stale: usable only when S3 fails, up to maxStale;
 * expired: never used. An entry from the future (clock moved back) is expired.
 */
export function freshness(
  fetchedAt: number,
  now: number,
  ttlSeconds: number,
  maxStaleSeconds: number,
): Freshness {
  const age = now - fetchedAt;
  if (age < -FUTURE_SLACK_MS) return 'expired';
  if (age < ttlSeconds * 1000) return 'fresh';
  if (age <= maxStaleSeconds * 1000) return 'stale';
  return 'expired';
}

/** Object key -> file name: readable, no '/', never '.', '..' or a dot-file (temp files are dot-files). */
export function cacheFileName(key: string): string {
  const safe = key.replace(/[^A-Za-z0-9_.-]/g, (c) => `%${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
  if (safe.length > 200) return `h-${createHash('sha256').update(key).digest('hex')}`;
  return `o-${safe}`;
}

export function encodeEntry(e: CacheEntry): Buffer {
  const header = JSON.stringify({
    v: 1,
    key: e.key,
    found: e.found,
    etag: e.etag,
    fetchedAt: e.fetchedAt,
    size: e.body.length,
    sha256: createHash('sha256').update(e.body).digest('hex'),
  });
  return Buffer.concat([Buffer.from(`${header}\n`), e.body]);
}

/** Returns the entry, or a reason why the bytes are not a valid entry for this key. */
export function decodeEntry(buf: Buffer, key: string): CacheEntry | string {
  const nl = buf.indexOf(0x0a);
  if (nl < 0 || nl > MAX_HEADER_BYTES) return 'no header';
  let h: Record<string, unknown>;
  try {
    h = JSON.parse(buf.subarray(0, nl).toString('utf8'));
  } catch {
    return 'header is not JSON';
  }
  const body = buf.subarray(nl + 1);
  if (h.v !== 1 || h.key !== key) return 'header does not match the key';
  if (typeof h.found !== 'boolean' || typeof h.fetchedAt !== 'number' || !Number.isFinite(h.fetchedAt)) {
    return 'malformed header';
  }
  if (h.etag !== undefined && typeof h.etag !== 'string') return 'malformed etag';
  if (h.size !== body.length || h.sha256 !== createHash('sha256').update(body).digest('hex')) {
    return 'checksum mismatch (truncated or altered)';
  }
  if (!h.found && body.length > 0) return 'negative entry with a body';
  return {
    key,
    found: h.found,
    fetchedAt: h.fetchedAt,
    body,
    ...(typeof h.etag === 'string' ? { etag: h.etag } : {}),
  };
}

export class CacheDirError extends Error {
  override name = 'CacheDirError';
}

/**
 * Makes sure `dir` exists (creating it 0700) and is a real directory owned by
 * `uid` that nobody else can write. Throws CacheDirError with the reason.
 */
export function checkPrivateDir(dir: string, uid: number): void {
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
  const st = lstatSync(dir);
  if (!st.isDirectory()) throw new CacheDirError(`cache dir ${dir}: not a directory (a symlink?)`);
  if (st.uid !== uid) throw new CacheDirError(`cache dir ${dir}: owned by uid ${st.uid}, not ${uid}`);
  if (st.mode & 0o022) throw new CacheDirError(`cache dir ${dir}: group- or world-writable`);
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
  const tmp = join(dir, `.${name}.${process.pid}.${randomBytes(6).toString('hex')}`);
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
    renameSync(tmp, join(dir, name));
  } catch (e) {
    unlinkSync(tmp);
    throw e;
  }
}

export interface ObjectCache {
  /** undefined when absent; a string reason when present but unusable. */
  read(key: string): CacheEntry | string | undefined;
  write(entry: CacheEntry): void;
}

/** File-backed object cache in a directory already checked by checkPrivateDir. */
export function fileCache(dir: string, uid: number): ObjectCache {
  return {
    read(key) {
      const buf = readPrivateFile(join(dir, cacheFileName(key)), uid, MAX_OBJECT_BYTES + MAX_HEADER_BYTES);
      if (buf === undefined || typeof buf === 'string') return buf;
      return decodeEntry(buf, key);
    },
    write(entry) {
      writePrivateFile(dir, cacheFileName(entry.key), encodeEntry(entry));
    },
  };
}

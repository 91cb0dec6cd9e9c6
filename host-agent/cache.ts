// The agent's object cache: one file per object, written atomically with mode
// 0600 in a directory only the agent's user can write (private-file.ts).
// Anything that does not look exactly right (mode, owner, checksum, key) is
// treated as absent. Single flight's lock files live next to the entries
// (fetch-lock.ts); the store wires the two together.
import { createHash } from 'node:crypto';
import { lstatSync } from 'node:fs';
import { allIn, CLASS, replaceOutside } from '../contract/charset.js';
import { MAX_HOST_OBJECT_BYTES } from '../contract/directory.js';
import { CRC32_NATIVE, crc32 } from './crc32.js';
import { childPath } from './private-dir.js';
import { readPrivateFile, writePrivateFile } from './private-file.js';

/** Largest object the agent accepts from S3 or from its cache: the publisher refuses to write bigger ones. */
export const MAX_OBJECT_BYTES = MAX_HOST_OBJECT_BYTES;
const MAX_HEADER_BYTES = 4096;
/** A cache file: header, body and the derived lines (JSON, at most about twice the body). */
const MAX_ENTRY_BYTES = MAX_HEADER_BYTES + 3 * MAX_OBJECT_BYTES;
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
  /**
   * JSON data derived from the body when it arrived (the validated key lines
   * with their fingerprints), so that a hit does not redo that work.
   */
  readonly derived?: unknown;
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
  const safe = replaceOutside(
    key,
    CLASS.fileName,
    (c) => `%${c.charCodeAt(0).toString(16).padStart(2, '0')}`,
  );
  if (safe.length > 200) return `h-${createHash('sha256').update(key).digest('hex')}`;
  return `o-${safe}`;
}

/**
 * 32-bit checksum of an entry (FNV-1a over 32-bit words in host byte order,
 * with a rotation so that differences also move to low bits, and a final
 * mix). It only has to catch truncation and corruption: whoever can write the
 * cache dir could write a matching SHA-256 just as well. Plain JS over words
 * keeps node:crypto (~4 ms to load) off the hit path and costs ~0.2 ms for a
 * 50-key object, where a byte-wise CRC-32 costs ~1 ms in a cold process.
 */
export function entrySum(buf: Uint8Array): number {
  // Int32Array needs an aligned offset; Buffer's pool and fresh buffers are 8-aligned, so this copy is rare.
  const b = buf.byteOffset % 4 === 0 ? buf : new Uint8Array(buf); // a copy (Buffer#slice would not copy)
  const n = b.length >>> 2;
  const w = new Int32Array(b.buffer, b.byteOffset, n);
  let h = 0x811c9dc5 ^ b.length;
  for (let i = 0; i < n; i++) {
    h = Math.imul(h ^ (w[i] as number), 0x01000193);
    h = (h << 13) | (h >>> 19);
  }
  for (let i = n * 4; i < b.length; i++) h = Math.imul(h ^ (b[i] as number), 0x01000193);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

const ENTRY_VERSION = 2;

/**
 * A checksum kind: the header's first 8 bytes name it, its 8 hex digits follow.
 * It covers every byte after them (the rest of the header, the body, the
 * derived JSON), from offset 16, which keeps the words aligned.
 * - `sum` (entrySum) is what node writes: V8 compiles its loop, and CRC-32
 *   would need node:zlib (~2 ms to load) or a byte-wise loop (~1 ms).
 * - `crc` (CRC-32) is what the standalone writes: native in Bun, where entrySum
 *   runs in JavaScriptCore's interpreter on a hit (1.5M instructions, 11% of a
 *   50-key hit).
 * Either agent reads both, so a host that changes agent kind keeps its cache.
 */
export interface SumKind {
  readonly head: '{"sum":"' | '{"crc":"';
  readonly sum: (b: Uint8Array) => number;
}
export const FNV_SUM: SumKind = { head: '{"sum":"', sum: entrySum };
export const CRC_SUM: SumKind = { head: '{"crc":"', sum: crc32 };
const WRITTEN_SUM = CRC32_NATIVE ? CRC_SUM : FNV_SUM;
const SUM_END = 16;

/**
 * One header line of JSON (checksum first, then key, found, etag, fetchedAt and
 * sizes), then the body, then the derived JSON (if any).
 */
export function encodeEntry(e: CacheEntry, kind: SumKind = WRITTEN_SUM): Buffer {
  const derived = e.derived === undefined ? Buffer.alloc(0) : Buffer.from(JSON.stringify(e.derived));
  const head = JSON.stringify({
    v: ENTRY_VERSION,
    key: e.key,
    found: e.found,
    etag: e.etag,
    fetchedAt: e.fetchedAt,
    size: e.body.length,
    derivedSize: derived.length,
  });
  const covered = Buffer.concat([Buffer.from(`",${head.slice(1)}\n`), e.body, derived]);
  const sum = kind.sum(covered).toString(16).padStart(8, '0');
  return Buffer.concat([Buffer.from(`${kind.head}${sum}`), covered]);
}

/** Returns the entry, or a reason why the bytes are not a valid entry for this key. */
export function decodeEntry(buf: Buffer, key: string): CacheEntry | string {
  const nl = buf.indexOf(0x0a);
  if (nl < 0 || nl > MAX_HEADER_BYTES) return 'no header';
  const head = buf.toString('latin1', 0, 8);
  const kind = head === CRC_SUM.head ? CRC_SUM : head === FNV_SUM.head ? FNV_SUM : undefined;
  if (!kind) {
    return buf.toString('latin1', 0, 7) === '{"v":1,'
      ? 'written by an older agent (format 1)'
      : 'no checksum in the header';
  }
  const sum = buf.toString('latin1', 8, SUM_END);
  if (
    sum.length !== 8 ||
    !allIn(sum, CLASS.hex) ||
    kind.sum(buf.subarray(SUM_END)) !== Number.parseInt(sum, 16)
  ) {
    return 'checksum mismatch (truncated or altered)';
  }
  let h: Record<string, unknown>;
  try {
    h = JSON.parse(buf.toString('utf8', 0, nl));
  } catch {
    return 'header is not JSON';
  }
  if (h.v !== ENTRY_VERSION || h.key !== key) return 'header does not match the key';
  if (typeof h.found !== 'boolean' || typeof h.fetchedAt !== 'number' || !Number.isFinite(h.fetchedAt)) {
    return 'malformed header';
  }
  if (h.etag !== undefined && typeof h.etag !== 'string') return 'malformed etag';
  const size = h.size;
  const derivedSize = h.derivedSize;
  if (
    typeof size !== 'number' ||
    typeof derivedSize !== 'number' ||
    size < 0 ||
    derivedSize < 0 ||
    nl + 1 + size + derivedSize !== buf.length
  ) {
    return 'sizes do not match the file';
  }
  const body = buf.subarray(nl + 1, nl + 1 + size);
  if (!h.found && body.length > 0) return 'negative entry with a body';
  let derived: unknown;
  if (derivedSize > 0) {
    try {
      derived = JSON.parse(buf.toString('utf8', nl + 1 + size));
    } catch {
      return 'derived data is not JSON';
    }
  }
  return {
    key,
    found: h.found,
    fetchedAt: h.fetchedAt,
    body,
    ...(typeof h.etag === 'string' ? { etag: h.etag } : {}),
    ...(derived !== undefined ? { derived } : {}),
  };
}

export interface ObjectCache {
  /** undefined when absent; a string reason when present but unusable. */
  read(key: string): CacheEntry | string | undefined;
  write(entry: CacheEntry): void;
  /** Identity of the entry's file (inode, mtime, size), undefined when absent: changes with every write. */
  stamp?(key: string): string | undefined;
}

/** File-backed object cache in a directory already checked by checkPrivateDir. */
export function fileCache(dir: string, uid: number): ObjectCache {
  return {
    read(key) {
      const buf = readPrivateFile(childPath(dir, cacheFileName(key)), uid, MAX_ENTRY_BYTES);
      if (buf === undefined || typeof buf === 'string') return buf;
      return decodeEntry(buf, key);
    },
    write(entry) {
      writePrivateFile(dir, cacheFileName(entry.key), encodeEntry(entry));
    },
    stamp(key) {
      try {
        const st = lstatSync(childPath(dir, cacheFileName(key)));
        return `${st.ino}:${st.mtimeMs}:${st.size}`;
      } catch {
        return undefined;
      }
    },
  };
}

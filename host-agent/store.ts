// Object store = cache + S3 with the staleness rules of docs/architecture.md "Host agent":
// fresh cache -> no network; otherwise fetch (revalidating with the ETag); when
// S3 fails, a stale entry within maxStaleSeconds answers; beyond that, fail closed.
// A miss goes through single flight (fetch-lock.ts): concurrent invocations
// fetch an object once, the others read the entry its fetcher writes.
import {
  type CacheEntry,
  cacheFileName,
  checkPrivateDir,
  fileCache,
  freshness,
  type ObjectCache,
} from './cache.js';
import type { AgentConfig } from './config.js';
import { errorMessage, ObjectTooLargeError, StoreUnavailableError } from './errors.js';
import {
  type FlightDeps,
  type HeldLock,
  holderPatienceMs,
  type ObjectLocks,
  pidAlive,
  singleFlight,
} from './fetch-lock.js';
import type { Fetcher, FetchResult } from './fetcher.js';

export type ReadResult =
  | {
      found: true;
      body: Buffer;
      source: 's3' | 'cache' | 'stale';
      fetchedAt: number;
      /** What deps.derive made of the body when it arrived (absent without derive). */
      derived?: unknown;
    }
  | { found: false; source: 's3' | 'cache' | 'stale' };

export interface ReadOptions {
  signal?: AbortSignal;
}

export interface Store {
  /** Throws StoreUnavailableError when neither S3 nor an acceptable cache entry can answer, ObjectTooLargeError for an oversized object. */
  read(key: string, opts?: ReadOptions): Promise<ReadResult>;
}

export interface StoreDeps {
  now(): number;
  /** Lazily created on the first cache miss, so a cache hit loads no signing or network code. */
  fetcher: () => Promise<Fetcher>;
  /** Replaces the file cache (tests); undefined with ttlSeconds 0. */
  cache: ObjectCache;
  /** One-line diagnostics (stderr). */
  warn(message: string): void;
  uid: number;
  env: NodeJS.ProcessEnv;
  /**
   * Work on a body done once, when it comes from S3, and kept in the cache
   * entry (JSON): a cache hit then returns it instead of redoing it.
   */
  derive?: (key: string, body: Buffer) => unknown;
  /** When this invocation's deadline ends (ms since epoch): bounds waiting for another invocation's fetch. */
  deadlineAt: number;
  /** Single flight's waiting (tests). */
  sleep: (ms: number) => Promise<void>;
  pidAlive: (pid: number) => boolean;
}

/**
 * ttlSeconds 0 disables the cache entirely: nothing is read or written, every
 * read goes to S3 and an outage fails closed (no stale copy exists to serve).
 */
export function createStore(config: AgentConfig, deps: Partial<StoreDeps> = {}): Store {
  const now = deps.now ?? Date.now;
  const warn = deps.warn ?? ((m: string) => process.stderr.write(`iam-authorized-keys: ${m}\n`));
  const env = deps.env ?? process.env;
  const { ttlSeconds, maxStaleSeconds } = config.cache;
  const cachingOn = ttlSeconds > 0;

  let cache: ObjectCache | undefined | null = cachingOn ? deps.cache : null;
  const getCache = (): ObjectCache | null => {
    if (cache !== undefined) return cache;
    const uid = deps.uid ?? process.getuid?.() ?? 0;
    try {
      checkPrivateDir(config.cache.dir, uid);
      cache = fileCache(config.cache.dir, uid);
    } catch (e) {
      warn(`${errorMessage(e)}: running without a cache`);
      cache = null;
    }
    return cache;
  };

  let fetcherP: Promise<Fetcher> | undefined;
  const fetcher = (): Promise<Fetcher> => {
    fetcherP ??= deps.fetcher
      ? deps.fetcher()
      : import('./s3-fetch.js').then((m) => m.createS3Fetcher(config, { env, warn, now }));
    return fetcherP;
  };

  const save = (c: ObjectCache | null, entry: CacheEntry): boolean => {
    if (!c) return false;
    try {
      c.write(entry);
      return true;
    } catch (e) {
      warn(`cannot write cache entry for ${entry.key}: ${errorMessage(e)}`);
      return false;
    }
  };

  /**
   * No answer from S3 in time: the stale copy within maxStaleSeconds (saying
   * `why.stale` on stderr), else fail closed with `why.fail`.
   */
  const unanswered = (
    key: string,
    entry: CacheEntry | undefined,
    why: { stale: string; fail: string; cause?: unknown },
  ): ReadResult => {
    if (entry && freshness(entry.fetchedAt, now(), ttlSeconds, maxStaleSeconds) === 'stale') {
      const ageS = Math.round((now() - entry.fetchedAt) / 1000);
      warn(`${why.stale}: serving the cached copy from ${ageS}s ago`);
      return fromEntry(entry, 'stale');
    }
    throw new StoreUnavailableError(
      `cannot read ${key}: ${why.fail}${entry ? ' (cached copy is past maxStaleSeconds)' : ''}`,
      why.cause === undefined ? undefined : { cause: why.cause },
    );
  };

  const since = now();
  const deadlineAt = deps.deadlineAt ?? since + config.deadlineMs;
  const flightDeps = (c: ObjectCache, locks: ObjectLocks, key: string): FlightDeps => ({
    locks,
    ...(c.stamp ? { entryStamp: () => c.stamp?.(key) } : {}),
    now,
    sleep: deps.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms))),
    alive: deps.pidAlive ?? pidAlive,
    self: { pid: process.pid, since },
    patienceMs: holderPatienceMs(config.deadlineMs),
    deadlineAt,
  });

  /** S3 for an entry that is not fresh (or absent); writes what S3 says. `saved`: the cache now holds the answer. */
  const fetchAndSave = async (
    c: ObjectCache | null,
    key: string,
    entry: CacheEntry | undefined,
    opts: ReadOptions,
    freshNow: () => CacheEntry | undefined,
  ): Promise<{ result: ReadResult; saved: boolean }> => {
    const etag = entry?.found ? entry.etag : undefined;
    let res: FetchResult;
    try {
      const f = await fetcher();
      res = await f.get(key, {
        ...(etag ? { etag } : {}),
        ...(opts.signal ? { signal: opts.signal } : {}),
      });
    } catch (e) {
      if (e instanceof ObjectTooLargeError) throw e;
      // A stuck fetch whose lock was taken over: the taker may have written the answer meanwhile.
      const written = freshNow();
      if (written) return { result: fromEntry(written, 'cache'), saved: true };
      const msg = errorMessage(e);
      const why = { stale: `S3 unavailable for ${key} (${msg})`, fail: msg, cause: e };
      return { result: unanswered(key, entry, why), saved: false };
    }
    const t = now();
    if (res.status === 200) {
      const derived = deps.derive?.(key, res.body);
      const fresh: CacheEntry = {
        key,
        found: true,
        fetchedAt: t,
        body: res.body,
        ...(res.etag ? { etag: res.etag } : {}),
        ...(derived !== undefined ? { derived } : {}),
      };
      return { result: fromEntry(fresh, 's3'), saved: save(c, fresh) };
    }
    if (res.status === 404) {
      const saved = save(c, { key, found: false, fetchedAt: t, body: Buffer.alloc(0) });
      return { result: { found: false, source: 's3' }, saved };
    }
    // 304: S3 confirmed our copy; only possible when we sent an ETag.
    if (!entry) throw new StoreUnavailableError(`cannot read ${key}: S3 answered 304 without a cached copy`);
    const derived = entry.found && entry.derived === undefined ? deps.derive?.(key, entry.body) : undefined;
    const refreshed: CacheEntry = { ...entry, fetchedAt: t, ...(derived !== undefined ? { derived } : {}) };
    return { result: fromEntry(refreshed, 's3'), saved: save(c, refreshed) };
  };

  return {
    async read(key, opts = {}) {
      const c = getCache();
      const readEntry = (quiet: boolean): CacheEntry | undefined => {
        const got = c?.read(key);
        if (typeof got !== 'string') return got;
        if (!quiet) warn(`ignoring cache entry for ${key}: ${got}`);
        return undefined;
      };
      const isFresh = (e: CacheEntry) =>
        freshness(e.fetchedAt, now(), ttlSeconds, maxStaleSeconds) === 'fresh';
      let entry = readEntry(false);
      // The hit path: one read, no lock.
      if (entry && isFresh(entry)) return fromEntry(entry, 'cache');

      // Single flight: fetch under the object's lock, or wait for the invocation that holds it.
      const freshNow = () => {
        const e = readEntry(true);
        if (e) entry = e; // the newest copy: its ETag, or the stale fallback
        return e && isFresh(e) ? e : undefined;
      };
      let lock: HeldLock | undefined;
      if (c?.locks) {
        const flight = await singleFlight(cacheFileName(key), freshNow, flightDeps(c, c.locks, key));
        if ('fresh' in flight) return fromEntry(flight.fresh, 'cache');
        if ('timedOut' in flight) {
          return unanswered(key, entry, { stale: `${key}: ${flight.timedOut}`, fail: flight.timedOut });
        }
        if (flight.note) warn(`${key}: ${flight.note}: fetching it here`);
        lock = flight.lock;
      }
      let saved = false;
      try {
        const r = await fetchAndSave(c, key, entry, opts, freshNow);
        saved = r.saved;
        return r.result;
      } finally {
        // After the entry is written: waiters read it as soon as they see the lock end.
        lock?.release(saved ? 'done' : 'failed');
      }
    },
  };
}

function fromEntry(e: CacheEntry, source: 's3' | 'cache' | 'stale'): ReadResult {
  if (!e.found) return { found: false, source };
  return {
    found: true,
    body: e.body,
    source,
    fetchedAt: e.fetchedAt,
    ...(e.derived !== undefined ? { derived: e.derived } : {}),
  };
}

// Object store = cache + S3 with the staleness rules of DESIGN.md "Host agent":
// fresh cache -> no network; otherwise fetch (revalidating with the ETag); when
// S3 fails, a stale entry within maxStaleSeconds answers; beyond that, fail closed.
import { type CacheEntry, checkPrivateDir, fileCache, freshness, type ObjectCache } from './cache.js';
import type { AgentConfig } from './config.js';
import { errorMessage, ObjectTooLargeError, StoreUnavailableError } from './errors.js';
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

  const save = (c: ObjectCache | null, entry: CacheEntry): void => {
    if (!c) return;
    try {
      c.write(entry);
    } catch (e) {
      warn(`cannot write cache entry for ${entry.key}: ${errorMessage(e)}`);
    }
  };

  return {
    async read(key, opts = {}) {
      const c = getCache();
      let entry: CacheEntry | undefined;
      if (c) {
        const got = c.read(key);
        if (typeof got === 'string') warn(`ignoring cache entry for ${key}: ${got}`);
        else entry = got;
      }
      const state = entry ? freshness(entry.fetchedAt, now(), ttlSeconds, maxStaleSeconds) : 'expired';
      if (entry && state === 'fresh') return fromEntry(entry, 'cache');

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
        if (entry && state === 'stale') {
          const ageS = Math.round((now() - entry.fetchedAt) / 1000);
          warn(`S3 unavailable for ${key} (${errorMessage(e)}): serving the cached copy from ${ageS}s ago`);
          return fromEntry(entry, 'stale');
        }
        throw new StoreUnavailableError(
          `cannot read ${key}: ${errorMessage(e)}${entry ? ' (cached copy is past maxStaleSeconds)' : ''}`,
          { cause: e },
        );
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
        save(c, fresh);
        return fromEntry(fresh, 's3');
      }
      if (res.status === 404) {
        save(c, { key, found: false, fetchedAt: t, body: Buffer.alloc(0) });
        return { found: false, source: 's3' };
      }
      // 304: S3 confirmed our copy; only possible when we sent an ETag.
      if (!entry)
        throw new StoreUnavailableError(`cannot read ${key}: S3 answered 304 without a cached copy`);
      const derived = entry.found && entry.derived === undefined ? deps.derive?.(key, entry.body) : undefined;
      const refreshed: CacheEntry = { ...entry, fetchedAt: t, ...(derived !== undefined ? { derived } : {}) };
      save(c, refreshed);
      return fromEntry(refreshed, 's3');
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

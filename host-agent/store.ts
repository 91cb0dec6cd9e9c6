// Object store = cache + S3 with the staleness rules of docs/architecture.md "Host agent":
// fresh cache -> no network; otherwise fetch (revalidating with the ETag); when
// S3 fails, a stale entry within maxStaleSeconds answers; beyond that, fail closed.
// A miss goes through single flight (fetch-lock.ts): concurrent invocations
// fetch an object once, the others read the entry its fetcher writes.
import { type CacheEntry, cacheFileName, fileCache, freshness, type ObjectCache } from './cache.js';
import type { AgentConfig } from './config.js';
import { errorMessage, ObjectTooLargeError, StoreUnavailableError } from './errors.js';
import {
  type FlightDeps,
  fileLocks,
  type HeldLock,
  holderPatienceMs,
  type ObjectLocks,
  pidAlive,
  singleFlight,
} from './fetch-lock.js';
import type { Fetcher, FetchResult } from './fetcher.js';
import { checkPrivateDir } from './private-file.js';

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
  /** Replaces the file cache (tests), without lock files; unused with ttlSeconds 0. */
  cache: ObjectCache;
  /** One-line diagnostics (stderr). */
  warn(message: string): void;
  /** The agent's user: the cache dir and its files must be its own. */
  uid: number;
  /** This process: written into the lock files it takes. */
  pid: number;
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

/** The process's identity (uid, pid) comes from the caller: the store reads no process state of its own. */
export type StoreOptions = Partial<StoreDeps> & Pick<StoreDeps, 'uid' | 'pid'>;

/** The cache with its lock files, opened on the first read. */
interface OpenCache {
  readonly cache: ObjectCache;
  /** Single flight's lock files; absent: every miss fetches. */
  readonly locks?: ObjectLocks;
}

/** What the parts of a read share: the clock, the staleness rules, the fetcher and single flight's settings. */
interface StoreContext {
  readonly now: () => number;
  readonly warn: (message: string) => void;
  readonly derive: StoreDeps['derive'];
  readonly ttlSeconds: number;
  readonly maxStaleSeconds: number;
  readonly fetcher: () => Promise<Fetcher>;
  readonly flight: (c: OpenCache, locks: ObjectLocks, key: string) => FlightDeps;
}

/**
 * ttlSeconds 0 disables the cache entirely: nothing is read or written, every
 * read goes to S3 and an outage fails closed (no stale copy exists to serve).
 */
export function createStore(config: AgentConfig, deps: StoreOptions): Store {
  const now = deps.now ?? Date.now;
  const warn = deps.warn ?? ((m: string) => process.stderr.write(`iam-authorized-keys: ${m}\n`));
  const env = deps.env ?? process.env;
  let fetcherP: Promise<Fetcher> | undefined;
  const ctx: StoreContext = {
    now,
    warn,
    derive: deps.derive,
    ttlSeconds: config.cache.ttlSeconds,
    maxStaleSeconds: config.cache.maxStaleSeconds,
    fetcher: () => {
      fetcherP ??= deps.fetcher
        ? deps.fetcher()
        : import('./s3-fetch.js').then((m) => m.createS3Fetcher(config, { env, warn, now }));
      return fetcherP;
    },
    flight: flightSettings(config, deps, now),
  };
  const openCache = cacheOpener(config, deps, warn);
  return {
    read: (key, opts = {}) => readKey(ctx, openCache(), key, opts),
  };
}

/** Opens the cache dir on first use; null when caching is off (ttlSeconds 0) or the dir is unusable. */
function cacheOpener(
  config: AgentConfig,
  deps: StoreOptions,
  warn: (message: string) => void,
): () => OpenCache | null {
  const { dir, ttlSeconds } = config.cache;
  let opened: OpenCache | null | undefined = ttlSeconds > 0 ? deps.cache && { cache: deps.cache } : null;
  return () => {
    if (opened !== undefined) return opened;
    try {
      checkPrivateDir(dir, deps.uid);
      opened = { cache: fileCache(dir, deps.uid), locks: fileLocks(dir, deps.uid, deps.pid) };
    } catch (e) {
      warn(`${errorMessage(e)}: running without a cache`);
      opened = null;
    }
    return opened;
  };
}

/** Single flight's settings for one key: this process, its deadline, the holder's patience. */
function flightSettings(config: AgentConfig, deps: StoreOptions, now: () => number): StoreContext['flight'] {
  const since = now();
  const deadlineAt = deps.deadlineAt ?? since + config.deadlineMs;
  return (c, locks, key) => ({
    locks,
    ...(c.cache.stamp ? { entryStamp: () => c.cache.stamp?.(key) } : {}),
    now,
    sleep: deps.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms))),
    alive: deps.pidAlive ?? pidAlive,
    self: { pid: deps.pid, since },
    patienceMs: holderPatienceMs(config.deadlineMs),
    deadlineAt,
  });
}

function isFresh(ctx: StoreContext, e: CacheEntry): boolean {
  return freshness(e.fetchedAt, ctx.now(), ctx.ttlSeconds, ctx.maxStaleSeconds) === 'fresh';
}

/** One key's cache entry: `entry` is the newest copy read (its ETag, or the stale fallback). */
interface Lookup {
  entry: CacheEntry | undefined;
  /** Reads the entry again (quietly): returns it when fresh. */
  readonly freshNow: () => CacheEntry | undefined;
}

function lookup(ctx: StoreContext, cache: ObjectCache | undefined, key: string): Lookup {
  const readEntry = (quiet: boolean): CacheEntry | undefined => {
    const got = cache?.read(key);
    if (typeof got !== 'string') return got;
    if (!quiet) ctx.warn(`ignoring cache entry for ${key}: ${got}`);
    return undefined;
  };
  const look: Lookup = {
    entry: readEntry(false),
    freshNow: () => {
      const e = readEntry(true);
      if (e) look.entry = e;
      return e && isFresh(ctx, e) ? e : undefined;
    },
  };
  return look;
}

async function readKey(
  ctx: StoreContext,
  c: OpenCache | null,
  key: string,
  opts: ReadOptions,
): Promise<ReadResult> {
  const look = lookup(ctx, c?.cache, key);
  // The hit path: one read, no lock.
  if (look.entry && isFresh(ctx, look.entry)) return fromEntry(look.entry, 'cache');

  // Single flight: fetch under the object's lock, or wait for the invocation that holds it.
  let lock: HeldLock | undefined;
  if (c?.locks) {
    const flight = await singleFlight(cacheFileName(key), look.freshNow, ctx.flight(c, c.locks, key));
    if ('fresh' in flight) return fromEntry(flight.fresh, 'cache');
    if ('timedOut' in flight) {
      return unanswered(ctx, key, look.entry, { stale: `${key}: ${flight.timedOut}`, fail: flight.timedOut });
    }
    if (flight.note) ctx.warn(`${key}: ${flight.note}: fetching it here`);
    lock = flight.lock;
  }
  let saved = false;
  try {
    const r = await fetchAndSave(ctx, c?.cache ?? null, key, look.entry, opts, look.freshNow);
    saved = r.saved;
    return r.result;
  } finally {
    // After the entry is written: waiters read it as soon as they see the lock end.
    lock?.release(saved ? 'done' : 'failed');
  }
}

/**
 * No answer from S3 in time: the stale copy within maxStaleSeconds (saying
 * `why.stale` on stderr), else fail closed with `why.fail`.
 */
function unanswered(
  ctx: StoreContext,
  key: string,
  entry: CacheEntry | undefined,
  why: { stale: string; fail: string; cause?: unknown },
): ReadResult {
  if (entry && freshness(entry.fetchedAt, ctx.now(), ctx.ttlSeconds, ctx.maxStaleSeconds) === 'stale') {
    const ageS = Math.round((ctx.now() - entry.fetchedAt) / 1000);
    ctx.warn(`${why.stale}: serving the cached copy from ${ageS}s ago`);
    return fromEntry(entry, 'stale');
  }
  throw new StoreUnavailableError(
    `cannot read ${key}: ${why.fail}${entry ? ' (cached copy is past maxStaleSeconds)' : ''}`,
    why.cause === undefined ? undefined : { cause: why.cause },
  );
}

interface Saved {
  readonly result: ReadResult;
  /** The cache now holds the answer. */
  readonly saved: boolean;
}

/** S3 for an entry that is not fresh (or absent); writes what S3 says. */
async function fetchAndSave(
  ctx: StoreContext,
  c: ObjectCache | null,
  key: string,
  entry: CacheEntry | undefined,
  opts: ReadOptions,
  freshNow: () => CacheEntry | undefined,
): Promise<Saved> {
  const etag = entry?.found ? entry.etag : undefined;
  let res: FetchResult;
  try {
    const f = await ctx.fetcher();
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
    return { result: unanswered(ctx, key, entry, why), saved: false };
  }
  return saveAnswer(ctx, c, key, entry, res);
}

/** What S3 said (200, 404 or 304 for our ETag), as the answer and the cache entry. */
function saveAnswer(
  ctx: StoreContext,
  c: ObjectCache | null,
  key: string,
  entry: CacheEntry | undefined,
  res: FetchResult,
): Saved {
  const t = ctx.now();
  if (res.status === 200) {
    const derived = ctx.derive?.(key, res.body);
    const fresh: CacheEntry = {
      key,
      found: true,
      fetchedAt: t,
      body: res.body,
      ...(res.etag ? { etag: res.etag } : {}),
      ...(derived !== undefined ? { derived } : {}),
    };
    return { result: fromEntry(fresh, 's3'), saved: save(ctx, c, fresh) };
  }
  if (res.status === 404) {
    const saved = save(ctx, c, { key, found: false, fetchedAt: t, body: Buffer.alloc(0) });
    return { result: { found: false, source: 's3' }, saved };
  }
  // 304: S3 confirmed our copy; only possible when we sent an ETag.
  if (!entry) throw new StoreUnavailableError(`cannot read ${key}: S3 answered 304 without a cached copy`);
  const derived = entry.found && entry.derived === undefined ? ctx.derive?.(key, entry.body) : undefined;
  const refreshed: CacheEntry = { ...entry, fetchedAt: t, ...(derived !== undefined ? { derived } : {}) };
  return { result: fromEntry(refreshed, 's3'), saved: save(ctx, c, refreshed) };
}

function save(ctx: StoreContext, c: ObjectCache | null, entry: CacheEntry): boolean {
  if (!c) return false;
  try {
    c.write(entry);
    return true;
  } catch (e) {
    ctx.warn(`cannot write cache entry for ${entry.key}: ${errorMessage(e)}`);
    return false;
  }
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

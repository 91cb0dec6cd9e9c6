// Store states with a scripted fetcher (the S3 side is exercised for real in
// test/integration/host-agent) and a real cache directory.
import {
  appendFileSync,
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  statSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { type CacheEntry, cacheFileName, fileCache } from '../../../host-agent/cache.js';
import { type AgentConfig, parseConfig } from '../../../host-agent/config.js';
import { FetchError, ObjectTooLargeError, StoreUnavailableError } from '../../../host-agent/errors.js';
import { lockFileName } from '../../../host-agent/fetch-lock.js';
import type { Fetcher, FetchResult } from '../../../host-agent/fetcher.js';
import { createStore } from '../../../host-agent/store.js';

const KEY = 'users/alice/authorized_keys';

function setup(
  opts: {
    ttl?: number;
    maxStale?: number;
    derive?: (key: string, body: Buffer) => unknown;
    deadlineMs?: number;
    /** Single flight: what happens while a waiter sleeps (the clock advances by the sleep). */
    onSleep?: (ms: number) => void;
    alive?: (pid: number) => boolean;
  } = {},
) {
  const dir = join(mkdtempSync(join(tmpdir(), 'iak-store-')), 'cache');
  const config: AgentConfig = parseConfig(
    JSON.stringify({
      bucket: 'bkt',
      region: 'us-east-1',
      cache: { dir, ttlSeconds: opts.ttl ?? 30, maxStaleSeconds: opts.maxStale ?? 3600 },
      ...(opts.deadlineMs ? { deadlineMs: opts.deadlineMs } : {}),
    }),
    'test',
  );
  let clock = 1_700_000_000_000;
  const calls: { key: string; etag?: string }[] = [];
  const answers: (FetchResult | Error)[] = [];
  const warnings: string[] = [];
  const sleeps: number[] = [];
  const during: (() => void)[] = [];
  const fetcher: Fetcher = {
    async get(key, o) {
      calls.push({ key, ...(o.etag ? { etag: o.etag } : {}) });
      for (const f of during.splice(0)) f();
      const a = answers.shift();
      if (!a) throw new Error('unexpected fetch');
      if (a instanceof Error) throw a;
      return a;
    },
  };
  const store = createStore(config, {
    uid: process.getuid?.() ?? 0,
    pid: process.pid,
    now: () => clock,
    fetcher: async () => fetcher,
    warn: (m) => warnings.push(m),
    ...(opts.derive ? { derive: opts.derive } : {}),
    sleep: async (ms) => {
      sleeps.push(ms);
      clock += ms;
      opts.onSleep?.(ms);
    },
    pidAlive: opts.alive ?? (() => true),
  });
  return {
    dir,
    store,
    calls,
    answers,
    warnings,
    sleeps,
    /** Run once inside the next fetch (to look at the lock while it is held). */
    during,
    now: () => clock,
    advance: (s: number) => {
      clock += s * 1000;
    },
  };
}

const body = (s: string) => Buffer.from(s);

describe('createStore', () => {
  it('derives once from a fetched body and serves the derived data from the cache', async () => {
    const derived: string[] = [];
    const t = setup({
      derive: (key, b) => {
        derived.push(key);
        return { n: b.length };
      },
    });
    t.answers.push({ status: 200, body: body('one\n'), etag: '"e1"' }, { status: 304 });
    expect(await t.store.read(KEY)).toMatchObject({ source: 's3', derived: { n: 4 } });
    expect(await t.store.read(KEY)).toMatchObject({ source: 'cache', derived: { n: 4 } });
    t.advance(31);
    expect(await t.store.read(KEY)).toMatchObject({ source: 's3', derived: { n: 4 } }); // 304 keeps it
    expect(derived).toEqual([KEY]);
  });

  it('fetches on a miss, then serves the fresh copy without fetching', async () => {
    const t = setup();
    t.answers.push({ status: 200, body: body('one\n'), etag: '"e1"' });
    expect(await t.store.read(KEY)).toMatchObject({ found: true, source: 's3', body: body('one\n') });
    t.advance(29);
    expect(await t.store.read(KEY)).toMatchObject({ found: true, source: 'cache', body: body('one\n') });
    expect(t.calls).toHaveLength(1);
  });

  it('revalidates a stale copy with its ETag; 304 refreshes the timestamp', async () => {
    const t = setup();
    t.answers.push({ status: 200, body: body('one\n'), etag: '"e1"' }, { status: 304 });
    await t.store.read(KEY);
    t.advance(31);
    expect(await t.store.read(KEY)).toMatchObject({ found: true, source: 's3', body: body('one\n') });
    expect(t.calls[1]).toEqual({ key: KEY, etag: '"e1"' });
    t.advance(29); // fresh again thanks to the 304
    expect(await t.store.read(KEY)).toMatchObject({ source: 'cache' });
    expect(t.calls).toHaveLength(2);
  });

  it('replaces a changed object', async () => {
    const t = setup();
    t.answers.push({ status: 200, body: body('one\n'), etag: '"e1"' }, { status: 200, body: body('two\n') });
    await t.store.read(KEY);
    t.advance(31);
    expect(await t.store.read(KEY)).toMatchObject({ source: 's3', body: body('two\n') });
    t.advance(1);
    expect(await t.store.read(KEY)).toMatchObject({ source: 'cache', body: body('two\n') });
  });

  it('caches a 404 (unknown principal) like any answer', async () => {
    const t = setup();
    t.answers.push({ status: 404 });
    expect(await t.store.read(KEY)).toEqual({ found: false, source: 's3' });
    expect(await t.store.read(KEY)).toEqual({ found: false, source: 'cache' });
    expect(t.calls).toHaveLength(1);
  });

  it('serves a stale copy when S3 fails within maxStaleSeconds, and says so', async () => {
    const t = setup({ ttl: 30, maxStale: 3600 });
    t.answers.push(
      { status: 200, body: body('one\n'), etag: '"e1"' },
      new FetchError('connect ECONNREFUSED'),
    );
    await t.store.read(KEY);
    t.advance(3600);
    expect(await t.store.read(KEY)).toMatchObject({ found: true, source: 'stale', body: body('one\n') });
    expect(t.warnings.join('\n')).toMatch(
      /S3 unavailable .*ECONNREFUSED.*serving the cached copy from 3600s ago/,
    );
  });

  it('fails closed when S3 fails past maxStaleSeconds', async () => {
    const t = setup({ ttl: 30, maxStale: 3600 });
    t.answers.push({ status: 200, body: body('one\n') }, new FetchError('timeout'));
    await t.store.read(KEY);
    t.advance(3601);
    await expect(t.store.read(KEY)).rejects.toThrow(StoreUnavailableError);
  });

  it('fails closed when S3 fails and nothing is cached', async () => {
    const t = setup();
    t.answers.push(new FetchError('403 AccessDenied'));
    await expect(t.store.read(KEY)).rejects.toThrow(
      /cannot read users\/alice\/authorized_keys: 403 AccessDenied/,
    );
  });

  it('does not serve a stale copy for an oversized object', async () => {
    const t = setup();
    t.answers.push({ status: 200, body: body('one\n') }, new ObjectTooLargeError('too big'));
    await t.store.read(KEY);
    t.advance(31);
    await expect(t.store.read(KEY)).rejects.toThrow(ObjectTooLargeError);
  });

  it('ignores a corrupt cache entry (refetches, with a warning)', async () => {
    const t = setup();
    t.answers.push({ status: 200, body: body('one\n') }, { status: 200, body: body('two\n') });
    await t.store.read(KEY);
    writeFileSync(join(t.dir, cacheFileName(KEY)), 'garbage', { mode: 0o600 });
    expect(await t.store.read(KEY)).toMatchObject({ source: 's3', body: body('two\n') });
    expect(t.warnings.join('\n')).toMatch(/ignoring cache entry .*no header/);
  });

  it('ignores a cache entry with a loose mode', async () => {
    const t = setup();
    t.answers.push({ status: 200, body: body('one\n') }, new FetchError('down'));
    await t.store.read(KEY);
    chmodSync(join(t.dir, cacheFileName(KEY)), 0o644);
    await expect(t.store.read(KEY)).rejects.toThrow(StoreUnavailableError);
    expect(t.warnings.join('\n')).toMatch(/mode 644 is not 0600/);
  });

  it('runs without a cache when the dir is world-writable', async () => {
    const t = setup();
    t.answers.push({ status: 200, body: body('one\n') });
    await t.store.read(KEY); // creates the dir
    chmodSync(t.dir, 0o777);
    const t2 = createStore(
      parseConfig(JSON.stringify({ bucket: 'bkt', region: 'us-east-1', cache: { dir: t.dir } }), 't'),
      {
        fetcher: async () => ({ get: async () => ({ status: 200, body: body('fresh\n') }) }),
        warn: (m) => t.warnings.push(m),
        uid: process.getuid?.() ?? 0,
        pid: process.pid,
      },
    );
    expect(await t2.read(KEY)).toMatchObject({ source: 's3', body: body('fresh\n') });
    expect(t.warnings.join('\n')).toMatch(/group- or world-writable: running without a cache/);
  });

  it('with ttlSeconds 0 always fetches and an outage fails closed', async () => {
    const t = setup({ ttl: 0, maxStale: 3600 });
    t.answers.push({ status: 200, body: body('one\n'), etag: '"e"' }, { status: 200, body: body('one\n') });
    await t.store.read(KEY);
    await t.store.read(KEY);
    expect(t.calls).toEqual([{ key: KEY }, { key: KEY }]); // no ETag: nothing was cached
    t.answers.push(new FetchError('down'));
    await expect(t.store.read(KEY)).rejects.toThrow(StoreUnavailableError);
  });

  it('treats an entry from the future (clock went back) as unusable', async () => {
    const t = setup();
    t.answers.push({ status: 200, body: body('one\n') }, new FetchError('down'));
    await t.store.read(KEY);
    t.advance(-3600);
    await expect(t.store.read(KEY)).rejects.toThrow(StoreUnavailableError);
  });
});

describe('createStore: single flight (lock files in the cache dir)', () => {
  const lockPath = (dir: string) => join(dir, lockFileName(cacheFileName(KEY)));
  /** Another invocation's lock: pid 2000 (alive unless the test says otherwise), taken at `at`. */
  const plantLock = (dir: string, at: number, pid = 2000) => {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    writeFileSync(lockPath(dir), `${pid} ${at}\n`, { mode: 0o600 });
  };
  /** What that invocation does when its fetch ends: the entry (if any), the end line, the unlink. */
  const finishLock = (dir: string, end: 'done' | 'failed', entry?: CacheEntry) => {
    if (entry) fileCache(dir, process.getuid?.() ?? 0).write(entry);
    appendFileSync(lockPath(dir), `${end}\n`);
    unlinkSync(lockPath(dir));
  };

  it('the fetcher holds the lock (0600, pid and time) during its GET and removes it after', async () => {
    const t = setup();
    let during = '';
    t.during.push(() => {
      during = `${readFileSync(lockPath(t.dir), 'utf8')} ${(statSync(lockPath(t.dir)).mode & 0o777).toString(8)}`;
    });
    t.answers.push({ status: 200, body: body('one\n') });
    expect(await t.store.read(KEY)).toMatchObject({ source: 's3' });
    expect(during).toBe(`${process.pid} ${t.now()}\n 600`);
    expect(readdirSync(t.dir)).toEqual([cacheFileName(KEY)]);
  });

  it('a fresh hit never looks at the lock (a live one does not delay it)', async () => {
    const t = setup();
    t.answers.push({ status: 200, body: body('one\n') });
    await t.store.read(KEY);
    plantLock(t.dir, t.now());
    expect(await t.store.read(KEY)).toMatchObject({ source: 'cache' });
    expect(t.sleeps).toEqual([]);
  });

  it('waits for a live holder and answers from the entry it writes, without fetching', async () => {
    let t: ReturnType<typeof setup> | undefined;
    t = setup({
      onSleep: () => {
        if (t && t.sleeps.length === 3)
          finishLock(t.dir, 'done', { key: KEY, found: true, fetchedAt: t.now(), body: body('theirs\n') });
      },
    });
    plantLock(t.dir, t.now());
    expect(await t.store.read(KEY)).toMatchObject({ source: 'cache', body: body('theirs\n') });
    expect(t.calls).toEqual([]);
    expect(t.sleeps).toEqual([10, 10, 10]);
  });

  it('with a stale copy, also waits for the fresh one (no stale answer while S3 is answering)', async () => {
    let t: ReturnType<typeof setup> | undefined;
    t = setup({
      deadlineMs: 60_000, // one store (one invocation) across the 31 s this test skips
      onSleep: () => {
        if (t) finishLock(t.dir, 'done', { key: KEY, found: true, fetchedAt: t.now(), body: body('new\n') });
      },
    });
    t.answers.push({ status: 200, body: body('old\n') });
    await t.store.read(KEY);
    t.advance(31);
    plantLock(t.dir, t.now());
    expect(await t.store.read(KEY)).toMatchObject({ source: 'cache', body: body('new\n') });
    expect(t.calls).toHaveLength(1);
  });

  it('a holder that failed: the waiter fetches itself (and fails closed or serves stale as without the lock)', async () => {
    let t: ReturnType<typeof setup> | undefined;
    t = setup({ onSleep: () => t && finishLock(t.dir, 'failed') });
    plantLock(t.dir, t.now());
    t.answers.push(new FetchError('503 SlowDown'));
    await expect(t.store.read(KEY)).rejects.toThrow(/cannot read .*503 SlowDown/);
    expect(t.calls).toHaveLength(1);
    expect(existsSync(lockPath(t.dir))).toBe(false); // its own lock, taken after, is gone too
  });

  it('takes over at once the lock of a dead holder, fetches, and leaves no lock', async () => {
    const t = setup({ alive: (pid) => pid !== 2000 });
    plantLock(t.dir, t.now());
    t.answers.push({ status: 200, body: body('one\n') });
    expect(await t.store.read(KEY)).toMatchObject({ source: 's3' });
    expect(t.sleeps).toEqual([]);
    expect(readdirSync(t.dir)).toEqual([cacheFileName(KEY)]);
    expect(t.warnings).toEqual([
      'users/alice/authorized_keys: took over the lock of pid 2000 (that process is gone): fetching it here',
    ]);
  });

  it('takes over a live holder past its patience (half the deadline), then fetches', async () => {
    const t = setup({ deadlineMs: 3000 });
    plantLock(t.dir, t.now());
    t.answers.push({ status: 200, body: body('one\n') });
    expect(await t.store.read(KEY)).toMatchObject({ source: 's3' });
    const waited = t.sleeps.reduce((a, b) => a + b, 0);
    expect(waited).toBeGreaterThan(1500); // 1500 ms of patience, seen at the next look
    expect(waited).toBeLessThanOrEqual(1600);
    expect(t.warnings).toEqual([
      `users/alice/authorized_keys: took over the lock of pid 2000 (held for ${waited} ms): fetching it here`,
    ]);
  });

  it.each([
    ['no copy: fails closed', false],
    ['a stale copy: serves it', true],
  ])(
    'waits until its deadline, never fetching meanwhile; then as when S3 does not answer (%s)',
    async (_, withCopy) => {
      // Each holder it waits for is replaced by a new one (a takeover) before its patience runs out.
      let t: ReturnType<typeof setup> | undefined;
      let planted = 0;
      let holder = 3000;
      t = setup({
        deadlineMs: 3000,
        onSleep: () => {
          if (!t || t.now() - planted < 1400) return;
          unlinkSync(lockPath(t.dir));
          planted = t.now();
          plantLock(t.dir, planted, ++holder);
        },
      });
      if (withCopy) {
        mkdirSync(t.dir, { mode: 0o700 });
        fileCache(t.dir, process.getuid?.() ?? 0).write({
          key: KEY,
          found: true,
          fetchedAt: t.now() - 60_000,
          body: body('old\n'),
        });
      }
      planted = t.now();
      plantLock(t.dir, planted);
      if (withCopy) {
        expect(await t.store.read(KEY)).toMatchObject({ source: 'stale', body: body('old\n') });
        expect(t.warnings).toEqual([
          'users/alice/authorized_keys: pid 3002 was still fetching it at the deadline: serving the cached copy from 63s ago',
        ]);
      } else {
        await expect(t.store.read(KEY)).rejects.toThrow(
          new StoreUnavailableError(
            'cannot read users/alice/authorized_keys: pid 3002 was still fetching it at the deadline',
          ),
        );
      }
      expect(t.sleeps.reduce((a, b) => a + b, 0)).toBe(3000); // to the deadline, not past it
      expect(t.calls).toEqual([]);
      expect(existsSync(lockPath(t.dir))).toBe(true); // the other holder's, left alone
    },
  );

  it('answers as soon as anyone writes a fresh entry, even while the lock it watches is still held', async () => {
    // A slow holder whose lock was taken over finishes first: its entry counts.
    let t: ReturnType<typeof setup> | undefined;
    t = setup({
      onSleep: () => {
        if (t?.sleeps.length === 4)
          fileCache(t.dir, process.getuid?.() ?? 0).write({
            key: KEY,
            found: true,
            fetchedAt: t.now(),
            body: body('slow holder\n'),
          });
      },
    });
    plantLock(t.dir, t.now());
    expect(await t.store.read(KEY)).toMatchObject({ source: 'cache', body: body('slow holder\n') });
    expect(t.sleeps).toHaveLength(4);
    expect(t.calls).toEqual([]);
    expect(existsSync(lockPath(t.dir))).toBe(true); // the holder's: not ours to remove
  });

  it('a fetch that fails after its lock was taken over answers from the taker’s entry', async () => {
    const t = setup();
    t.during.push(() =>
      fileCache(t.dir, process.getuid?.() ?? 0).write({
        key: KEY,
        found: true,
        fetchedAt: t.now(),
        body: body('taker\n'),
      }),
    );
    t.answers.push(new FetchError('deadline reached'));
    expect(await t.store.read(KEY)).toMatchObject({ source: 'cache', body: body('taker\n') });
  });

  it('two reads of one key in one process fetch once', async () => {
    const t = setup();
    t.answers.push({ status: 200, body: body('one\n') });
    const [a, b] = await Promise.all([t.store.read(KEY), t.store.read(KEY)]);
    expect([a.source, b.source].sort()).toEqual(['cache', 's3']);
    expect(t.calls).toHaveLength(1);
  });

  it('a directory planted where the lock goes is moved aside, and the read goes on', async () => {
    const t = setup({ alive: () => false });
    mkdirSync(join(lockPath(t.dir), 'x'), { recursive: true });
    t.answers.push({ status: 200, body: body('one\n') });
    expect(await t.store.read(KEY)).toMatchObject({ source: 's3', body: body('one\n') });
  });

  it('with ttlSeconds 0 there is no cache and no lock', async () => {
    const t = setup({ ttl: 0 });
    t.during.push(() => expect(existsSync(t.dir)).toBe(false));
    t.answers.push({ status: 200, body: body('one\n') });
    await t.store.read(KEY);
    expect(existsSync(t.dir)).toBe(false);
  });
});

// Store states with a scripted fetcher (the S3 side is exercised for real in
// test/integration/host-agent) and a real cache directory.
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cacheFileName } from '../../../host-agent/cache.js';
import { type AgentConfig, parseConfig } from '../../../host-agent/config.js';
import { FetchError, ObjectTooLargeError, StoreUnavailableError } from '../../../host-agent/errors.js';
import type { Fetcher, FetchResult } from '../../../host-agent/fetcher.js';
import { createStore } from '../../../host-agent/store.js';

const KEY = 'users/alice/authorized_keys';

function setup(
  opts: { ttl?: number; maxStale?: number; derive?: (key: string, body: Buffer) => unknown } = {},
) {
  const dir = join(mkdtempSync(join(tmpdir(), 'iak-store-')), 'cache');
  const config: AgentConfig = parseConfig(
    JSON.stringify({
      bucket: 'bkt',
      region: 'us-east-1',
      cache: { dir, ttlSeconds: opts.ttl ?? 30, maxStaleSeconds: opts.maxStale ?? 3600 },
    }),
    'test',
  );
  let clock = 1_700_000_000_000;
  const calls: { key: string; etag?: string }[] = [];
  const answers: (FetchResult | Error)[] = [];
  const warnings: string[] = [];
  const fetcher: Fetcher = {
    async get(key, o) {
      calls.push({ key, ...(o.etag ? { etag: o.etag } : {}) });
      const a = answers.shift();
      if (!a) throw new Error('unexpected fetch');
      if (a instanceof Error) throw a;
      return a;
    },
  };
  const store = createStore(config, {
    now: () => clock,
    fetcher: async () => fetcher,
    warn: (m) => warnings.push(m),
    ...(opts.derive ? { derive: opts.derive } : {}),
  });
  return {
    dir,
    store,
    calls,
    answers,
    warnings,
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

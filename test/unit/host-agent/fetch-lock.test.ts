// Single flight's lock: the pure decisions (table-style) and the lock files in a
// real directory. The store's use of it is in store.test.ts; storms of real
// processes in test/integration/host-agent/agent.test.ts.
import { spawnSync } from 'node:child_process';
import {
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  aliveFromKill,
  fileLocks,
  heldLockCount,
  holderPatienceMs,
  type LockView,
  lockFileName,
  lockVerdict,
  parseLock,
  pidAlive,
  pollDelayMs,
} from '../../../host-agent/fetch-lock.js';

const uid = process.getuid?.() ?? 0;
const NAME = 'o-users%2falice%2fauthorized_keys';
const dir = () => {
  const d = join(mkdtempSync(join(tmpdir(), 'iak-lock-')), 'cache');
  mkdirSync(d, { mode: 0o700 });
  return d;
};

describe('parseLock', () => {
  it.each([
    ['pid and time', '123 1700000000000\n', { pid: 123, at: 1700000000000 }],
    ['released, done', '123 1700000000000\ndone\n', { pid: 123, at: 1700000000000, end: 'done' }],
    ['released, failed', '123 1700000000000\nfailed\n', { pid: 123, at: 1700000000000, end: 'failed' }],
    ['created, not written yet', '', {}],
    ['half written', '123 17000', {}],
    ['pid 0 (never a holder)', '0 1700000000000\n', {}],
    ['negative pid', '-1 1700000000000\n', {}],
    ['unknown end line', '123 1700000000000\nmaybe\n', { pid: 123, at: 1700000000000 }],
    ['garbage', 'hello world\n', {}],
  ])('%s', (_, text, expected) => {
    expect(parseLock(text)).toEqual(expected);
  });
});

describe('lockVerdict', () => {
  const now = 1_700_000_010_000;
  const self = { pid: 500, since: 1_700_000_009_000 };
  const alive = new Set([500, 700]);
  const judge = { now, patienceMs: 1500, self, alive: (p: number) => alive.has(p) };
  const view = (v: Partial<LockView>): LockView => ({ content: {}, mtimeMs: now, nlink: 1, ...v });
  it.each<[string, Partial<LockView>, string]>([
    ['live holder, just taken', { content: { pid: 700, at: now - 100 } }, 'held'],
    ['live holder at its patience', { content: { pid: 700, at: now - 1500 } }, 'held'],
    ['live holder past its patience (stuck)', { content: { pid: 700, at: now - 1501 } }, 'too-old'],
    ['dead holder', { content: { pid: 800, at: now - 100 } }, 'holder-dead'],
    ['dead holder, old', { content: { pid: 800, at: now - 60_000 } }, 'too-old'],
    ['from the future (clock moved back)', { content: { pid: 700, at: now + 5000 } }, 'too-old'],
    ['slightly ahead (another clock read)', { content: { pid: 700, at: now + 10 } }, 'held'],
    ['this process, since it started', { content: { pid: 500, at: self.since + 1 } }, 'held'],
    [
      'our pid, from before we started (a dead predecessor)',
      { content: { pid: 500, at: self.since - 1 } },
      'holder-dead',
    ],
    ['content not written yet, new file', { content: {}, mtimeMs: now - 5 }, 'held'],
    ['content never written, old file', { content: {}, mtimeMs: now - 2000 }, 'too-old'],
    ['released (end line)', { content: { pid: 700, at: now, end: 'done' } }, 'ended'],
    ['failed (end line)', { content: { pid: 700, at: now, end: 'failed' } }, 'ended'],
    ['unlinked (taken over or released)', { content: { pid: 700, at: now }, nlink: 0 }, 'ended'],
    ['a symlink or foreign file', { problem: 'a symlink' }, 'not-a-lock'],
  ])('%s', (_, v, expected) => {
    expect(lockVerdict(view(v), judge)).toBe(expected);
  });
});

describe('aliveFromKill', () => {
  it.each([
    [undefined, true],
    ['EPERM', true], // exists, another user's (a reused pid): the age decides
    ['ESRCH', false],
  ])('%s -> %s', (code, alive) => {
    expect(aliveFromKill(code)).toBe(alive);
  });

  it('pidAlive sees this process and not an exited one', () => {
    expect(pidAlive(process.pid)).toBe(true);
    expect(pidAlive(spawnSync('true').pid as number)).toBe(false);
  });
});

describe('pollDelayMs', () => {
  it.each([
    [0, 10],
    [39, 10],
    [100, 25],
    [200, 50],
    [399, 99],
    [400, 100],
    [5000, 100],
  ])('after %i ms of waiting: %i ms', (waited, delay) => {
    expect(pollDelayMs(waited)).toBe(delay);
  });
});

describe('holderPatienceMs', () => {
  it.each([
    [3000, 1500],
    [10_000, 5000],
    [300, 150],
    [100, 50],
    [60_000, 30_000],
  ])('deadline %i ms: patience %i ms', (deadlineMs, patience) => {
    expect(holderPatienceMs(deadlineMs)).toBe(patience);
    // A waiter started after the holder sees its patience run out before its own deadline.
    expect(patience).toBeLessThan(deadlineMs);
  });
});

describe('fileLocks', () => {
  const lockPath = (d: string) => join(d, lockFileName(NAME));

  it('acquire creates the lock 0600 with pid and time; a second acquire sees it busy', () => {
    const d = dir();
    const locks = fileLocks(d, uid, 4242);
    const a = locks.acquire(NAME, 1_700_000_000_000);
    expect('held' in a).toBe(true);
    expect(readFileSync(lockPath(d), 'utf8')).toBe('4242 1700000000000\n');
    expect(statSync(lockPath(d)).mode & 0o777).toBe(0o600);
    const b = locks.acquire(NAME, 1_700_000_000_001);
    if (!('busy' in b)) throw new Error('expected busy');
    expect(b.busy.view()).toMatchObject({ content: { pid: 4242, at: 1_700_000_000_000 }, nlink: 1 });
    if ('held' in a) a.held.release('done');
    // The watcher still reads it through its fd: the end line, and no link left.
    expect(b.busy.view()).toMatchObject({ content: { pid: 4242, end: 'done' }, nlink: 0 });
    b.busy.close();
    expect(existsSync(lockPath(d))).toBe(false);
  });

  it('release is idempotent; held locks are released at exit through one listener', () => {
    const d = dir();
    const a = fileLocks(d, uid, process.pid).acquire(NAME, 1);
    const listeners = process.listenerCount('exit');
    const more = Array.from({ length: 12 }, (_, i) => fileLocks(d, uid, process.pid).acquire(`o-k${i}`, 1));
    expect(process.listenerCount('exit')).toBe(listeners);
    expect(heldLockCount()).toBe(13);
    if (!('held' in a)) throw new Error('expected held');
    a.held.release('failed');
    a.held.release('done');
    expect(heldLockCount()).toBe(12);
    for (const m of more) if ('held' in m) m.held.release('done');
    expect(heldLockCount()).toBe(0);
    expect(readdirSync(d)).toEqual([]);
  });

  it('a process that exits holding a lock (the hard stop: process.exit) releases it as failed', () => {
    const d = dir();
    const mod = new URL('../../../host-agent/fetch-lock.ts', import.meta.url).pathname;
    const code = [
      `const { fileLocks } = await import(${JSON.stringify(mod)});`,
      `const a = fileLocks(${JSON.stringify(d)}, ${uid}, process.pid).acquire('${NAME}', 1);`,
      "process.stdout.write('held' in a ? 'held' : 'not held');",
      'setTimeout(() => {}, 60_000);',
      'process.exit(1);',
    ].join('\n');
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], {
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect({ status: r.status, stdout: r.stdout }).toEqual({ status: 1, stdout: 'held' });
    expect(readdirSync(d)).toEqual([]);
  });

  it('a holder whose lock was taken over does not remove the taker’s lock', () => {
    const d = dir();
    const locks = fileLocks(d, uid, process.pid);
    const first = locks.acquire(NAME, 1);
    const seen = locks.acquire(NAME, 2);
    if (!('held' in first) || !('busy' in seen)) throw new Error('expected held, then busy');
    locks.takeOver(NAME, seen.busy);
    seen.busy.close();
    const second = locks.acquire(NAME, 3);
    if (!('held' in second)) throw new Error('expected held after the takeover');
    first.held.release('done'); // late: must leave the new lock alone
    expect(readFileSync(lockPath(d), 'utf8')).toMatch(/^\d+ 3\n$/);
    second.held.release('done');
    expect(readdirSync(d)).toEqual([]);
  });

  it('takeOver puts back a lock that is not the one judged (another taker was first)', () => {
    const d = dir();
    const locks = fileLocks(d, uid, process.pid);
    const stale = locks.acquire(NAME, 1);
    const w1 = locks.acquire(NAME, 2);
    const w2 = locks.acquire(NAME, 2);
    if (!('held' in stale) || !('busy' in w1) || !('busy' in w2)) throw new Error('unexpected');
    locks.takeOver(NAME, w1.busy); // w1 removes the stale lock...
    const taker = locks.acquire(NAME, 3); // ...and takes the path
    if (!('held' in taker)) throw new Error('expected held');
    const ino = lstatSync(lockPath(d)).ino;
    locks.takeOver(NAME, w2.busy); // w2 judged the old one: the new lock must survive
    expect(lstatSync(lockPath(d)).ino).toBe(ino);
    expect(readFileSync(lockPath(d), 'utf8')).toMatch(/ 3\n$/);
    expect(readdirSync(d)).toEqual([lockFileName(NAME)]); // nothing left aside
    for (const w of [w1, w2]) w.busy.close();
    taker.held.release('done');
  });

  it('judges a symlink as not a lock, without following it, and takes it over', () => {
    const d = dir();
    const victim = join(d, '..', 'victim');
    writeFileSync(victim, 'keep\n');
    symlinkSync(victim, lockPath(d));
    const locks = fileLocks(d, uid, process.pid);
    const a = locks.acquire(NAME, 1);
    if (!('busy' in a)) throw new Error('expected busy');
    expect(a.busy.view()).toMatchObject({ problem: 'a symlink' });
    locks.takeOver(NAME, a.busy);
    expect(readFileSync(victim, 'utf8')).toBe('keep\n');
    expect('held' in locks.acquire(NAME, 2)).toBe(true);
    expect(lstatSync(lockPath(d)).isFile()).toBe(true);
  });

  it.each([
    ['a loose mode', 0o644, /mode 644/],
    ['too large', 0o600, /too large/],
  ])('judges a file with %s as not a lock', (_, mode, problem) => {
    const d = dir();
    writeFileSync(lockPath(d), mode === 0o600 ? 'x'.repeat(1000) : '1 1\n', { mode });
    const a = fileLocks(d, uid, process.pid).acquire(NAME, 1);
    if (!('busy' in a)) throw new Error('expected busy');
    expect(a.busy.view().problem).toMatch(problem);
  });

  it('reports a lock that cannot be created (fetch without it)', () => {
    const a = fileLocks(join(dir(), 'missing'), uid, process.pid).acquire(NAME, 1);
    expect(a).toEqual({ error: expect.stringMatching(/cannot create .* \(ENOENT\)/) });
  });
});

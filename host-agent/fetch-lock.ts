// Single flight for cache misses (login storms). sshd runs the agent once per
// offered key, up to MaxStartups at a time; on a cold or expired cache each of
// them would GET the same objects. Instead the first invocation that has to
// fetch an object takes a per-object lock file in the cache dir and fetches;
// the others wait for the entry it writes, within their own deadline.
//
// The lock only saves requests. Every way it can go wrong (a race between two
// takers, a killed holder, a stuck holder, an unwritable dir) costs at most
// extra GETs, never a different answer: entries are written atomically
// (rename) and validated when read, exactly as without the lock.
//
// Protocol (no flock from JS, and Bun has none either):
// - acquire: open(O_CREAT|O_EXCL|O_NOFOLLOW, 0600) `l-<entry name>`, write
//   "<pid> <ms>\n", keep the fd.
// - release: append "done\n" (the entry is written) or "failed\n" to the file
//   through that fd, then unlink the path if it is still our file (same inode).
// - wait: open the lock (O_NOFOLLOW), keep the fd and poll it (pollDelayMs):
//   an end line, or no link left, means the holder is gone; the inode cannot
//   be reused while we hold the fd, so the identity check of a takeover is exact.
//   Each look also lstats the entry: a fresh entry from anyone answers.
// - takeover, when the holder's pid is dead, the lock is older than the
//   holder's patience, or the path is not a lock we would write: rename it
//   aside, check that what moved is the inode we judged (else link it back),
//   unlink it, then acquire as usual.
import {
  closeSync,
  constants,
  fstatSync,
  linkSync,
  lstatSync,
  openSync,
  readSync,
  renameSync,
  type Stats,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { childPath } from './private-dir.js';

/** Shortest and longest pause between two looks at the lock (fstat, pread, kill(pid, 0)). */
export const POLL_MIN_MS = 10;
const POLL_MAX_MS = 100;

/**
 * The pause before the next look, after `waitedMs` of waiting: a quarter of
 * the wait so far, 10 to 100 ms. A fetch takes tens of milliseconds, so early
 * looks are frequent; a long wait (a slow or starved holder) polls ten times a
 * second. Each look wakes a process up (~0.1 ms of CPU for node, measured): at
 * a fixed 20 ms, 99 waiters would take ~0.6 CPU from the holder itself.
 */
export function pollDelayMs(waitedMs: number): number {
  return Math.min(POLL_MAX_MS, Math.max(POLL_MIN_MS, Math.floor(waitedMs / 4)));
}

const MAX_LOCK_BYTES = 256;

/** Lock file of a cache entry: `l-` is no entry's prefix (`o-`, `h-`), and no dot-file (temp files). */
export function lockFileName(entryName: string): string {
  return `l-${entryName}`;
}

export interface LockContent {
  readonly pid?: number;
  /** When the holder took it (ms since epoch, its clock). */
  readonly at?: number;
  /** Written by the holder just before it unlinks the lock. */
  readonly end?: 'done' | 'failed';
}

/** "<pid> <ms>\n" then optionally "done\n" or "failed\n". Anything else: what could be read. */
export function parseLock(text: string): LockContent {
  const m = /^([1-9]\d{0,9}) (\d{1,16})\n(?:(done|failed)\n)?/.exec(text);
  if (!m) return {};
  return {
    pid: Number(m[1]),
    at: Number(m[2]),
    ...(m[3] === 'done' || m[3] === 'failed' ? { end: m[3] } : {}),
  };
}

/**
 * How long waiters give a live holder, from the time it took the lock, before
 * they take the lock over: half the deadline. S3 answers in tens of
 * milliseconds, so a holder still fetching then is stuck on a connection (its
 * own deadline ends it), and the taker still has the other half. Not shorter:
 * in a storm on a small host, 100 starting processes can starve a healthy
 * holder of CPU for a second or more, and each takeover costs a GET. Always
 * before the deadline of a waiter that started after the holder: a stuck
 * holder is taken over before its waiters give up.
 */
export function holderPatienceMs(deadlineMs: number): number {
  return Math.max(2 * POLL_MIN_MS, Math.floor(deadlineMs / 2));
}

export type LockVerdict =
  /** a live holder within its patience: wait */
  | 'held'
  /** the holder ended (end line written, or unlinked): look at the entry */
  | 'ended'
  /** holder process gone without releasing (killed): take over */
  | 'holder-dead'
  /** older than the patience (stuck holder), or from the future (clock moved): take over */
  | 'too-old'
  /** not a lock file we would write (symlink, other owner, loose mode...): take over */
  | 'not-a-lock';

export interface LockView {
  /** Why this is not a lock we would write (then nothing else here means anything). */
  readonly problem?: string;
  readonly content: LockContent;
  /** The file's mtime, for a lock whose content is not written yet. */
  readonly mtimeMs: number;
  /** Links left: 0 once the holder (or a takeover) removed it. */
  readonly nlink: number;
}

export interface LockJudge {
  readonly now: number;
  readonly patienceMs: number;
  /** This process, and when it started: a lock with our pid from before that is a dead predecessor's. */
  readonly self: { readonly pid: number; readonly since: number };
  readonly alive: (pid: number) => boolean;
}

/** What a waiter does about a lock it sees. Pure apart from `alive`. */
export function lockVerdict(view: LockView, j: LockJudge): LockVerdict {
  if (view.problem) return 'not-a-lock';
  if (view.content.end || view.nlink === 0) return 'ended';
  const at = view.content.at ?? view.mtimeMs;
  // Both directions: a clock that jumped either way makes a live lock look stale (one extra GET).
  if (Math.abs(j.now - at) > j.patienceMs) return 'too-old';
  const pid = view.content.pid;
  if (pid === undefined) return 'held'; // created, content not written yet: the age decides
  if (pid === j.self.pid) return at >= j.self.since ? 'held' : 'holder-dead';
  return j.alive(pid) ? 'held' : 'holder-dead';
}

/** kill(pid, 0) outcome -> alive. EPERM: a process exists (another user's: a reused pid), so alive. */
export function aliveFromKill(errorCode: string | undefined): boolean {
  return errorCode !== 'ESRCH';
}

export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return aliveFromKill((e as NodeJS.ErrnoException).code);
  }
}

/** A lock this process holds. */
export interface HeldLock {
  /** Idempotent. `done`: the entry is written (or was already fresh); `failed`: waiters fetch themselves. */
  release(end: 'done' | 'failed'): void;
}

/** A lock someone else holds, open for watching. */
export interface WatchedLock {
  /** Re-reads the lock through the open fd (content and link count). */
  view(): LockView;
  close(): void;
  readonly dev: number;
  readonly ino: number;
}

export type Acquired =
  | { readonly held: HeldLock }
  | { readonly busy: WatchedLock }
  /** The lock cannot be used (permissions, disk full, ...): fetch without it. */
  | { readonly error: string };

export interface ObjectLocks {
  acquire(entryName: string, now: number): Acquired;
  /** Removes the lock `seen` (and nothing else) so that the next acquire can succeed. */
  takeOver(entryName: string, seen: WatchedLock): void;
}

function errCode(e: unknown): string {
  return (e as NodeJS.ErrnoException).code ?? 'error';
}

function readHead(fd: number): string {
  const buf = Buffer.alloc(MAX_LOCK_BYTES);
  const n = readSync(fd, buf, 0, MAX_LOCK_BYTES, 0);
  return buf.toString('latin1', 0, n);
}

function lockProblem(st: Stats, uid: number): string | undefined {
  if (!st.isFile()) return 'not a regular file';
  if (st.uid !== uid) return `owned by uid ${st.uid}`;
  if (st.mode & 0o077) return `mode ${(st.mode & 0o777).toString(8)}`;
  return undefined;
}

// The hard stop (process.exit at the deadline) must not leave a live-looking lock behind:
// one 'exit' listener for all locks held (one each would pass node's 10-listener warning).
const heldLocks = new Set<() => void>();
let exitHooked = false;
function holdUntilExit(release: () => void): void {
  heldLocks.add(release);
  if (exitHooked) return;
  exitHooked = true;
  process.on('exit', () => {
    for (const r of [...heldLocks]) r();
  });
}

/** Locks this process holds now (tests). */
export function heldLockCount(): number {
  return heldLocks.size;
}

/** Creates the lock at `path` and holds it, or opens the one that exists for watching. */
function holdLock(path: string, uid: number, pid: number, now: number): Acquired {
  let fd: number;
  try {
    // O_EXCL with O_CREAT never follows a symlink: a planted link is EEXIST, then judged as not a lock.
    fd = openSync(
      path,
      constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
      0o600,
    );
  } catch (e) {
    if (errCode(e) === 'EEXIST') return watchLock(path, uid);
    return { error: `cannot create ${path} (${errCode(e)})` };
  }
  let st: Stats;
  try {
    writeSync(fd, `${pid} ${now}\n`);
    st = fstatSync(fd);
  } catch (e) {
    closeSync(fd);
    try {
      unlinkSync(path);
    } catch {
      // gone already
    }
    return { error: `cannot write ${path} (${errCode(e)})` };
  }
  return { held: heldLock(path, fd, st) };
}

/** Our lock, open as `fd`: released once, by us or at exit. */
function heldLock(path: string, fd: number, st: Stats): HeldLock {
  let released = false;
  const release = (end: 'done' | 'failed') => {
    if (released) return;
    released = true;
    heldLocks.delete(onExit);
    try {
      writeSync(fd, `${end}\n`);
    } catch {
      // the unlink below still ends it
    }
    try {
      // Only our own file: after a takeover the path is someone else's lock.
      const now = lstatSync(path);
      if (now.ino === st.ino && now.dev === st.dev) unlinkSync(path);
    } catch {
      // already taken over and removed
    }
    closeSync(fd);
  };
  const onExit = () => release('failed');
  holdUntilExit(onExit);
  return { release };
}

/** Opens someone else's lock at `path` for watching; a path that is no lock of ours is judged by lstat. */
function watchLock(path: string, uid: number): Acquired {
  let fd: number | undefined;
  let st: Stats;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    st = fstatSync(fd);
  } catch (e) {
    if (fd !== undefined) closeSync(fd);
    const code = errCode(e);
    // Released between our create and this open: a fresh attempt will tell.
    if (code === 'ENOENT') return { error: 'retry' };
    // ELOOP: a symlink. Judged by lstat, never followed.
    try {
      const l = lstatSync(path);
      return { busy: junkLock(l, l.isSymbolicLink() ? 'a symlink' : `cannot open (${code})`) };
    } catch (e2) {
      return errCode(e2) === 'ENOENT' ? { error: 'retry' } : { error: `cannot open ${path} (${code})` };
    }
  }
  const problem = lockProblem(st, uid);
  if (problem || st.size > MAX_LOCK_BYTES) {
    closeSync(fd);
    return { busy: junkLock(st, problem ?? 'too large') };
  }
  const openFd = fd;
  return {
    busy: {
      dev: st.dev,
      ino: st.ino,
      view() {
        const s = fstatSync(openFd);
        return { content: parseLock(readHead(openFd)), mtimeMs: s.mtimeMs, nlink: s.nlink };
      },
      close() {
        closeSync(openFd);
      },
    },
  };
}

/** Something at the lock path that is not a lock we would write: its view says why. */
function junkLock(st: Stats, problem: string): WatchedLock {
  return {
    dev: st.dev,
    ino: st.ino,
    view: () => ({ problem, content: {}, mtimeMs: st.mtimeMs, nlink: st.nlink }),
    close() {},
  };
}

/** Removes the lock `seen` at `path`, and nothing else: a newer lock moved aside with it is linked back. */
function takeOverLock(dir: string, name: string, pid: number, seen: WatchedLock): void {
  const path = childPath(dir, name);
  const aside = childPath(dir, `.${name}.${pid}.${Math.random().toString(36).slice(2, 10)}.old`);
  try {
    renameSync(path, aside); // rename never follows a symlink
  } catch {
    return; // gone already (released, or another waiter took it over)
  }
  try {
    const moved = lstatSync(aside);
    if (moved.ino !== seen.ino || moved.dev !== seen.dev) {
      // A holder's lock created after the one we judged: put it back, unless yet another exists.
      try {
        linkSync(aside, path);
      } catch {
        // EEXIST: a third taker won; its lock stays
      }
    }
    unlinkSync(aside);
  } catch {
    // a directory or similar planted there: left aside, the path is free
  }
}

/** Lock files in `dir` (already checked by checkPrivateDir), for the agent's `uid`, written by process `pid`. */
export function fileLocks(dir: string, uid: number, pid: number): ObjectLocks {
  return {
    acquire(entryName, now) {
      const path = childPath(dir, lockFileName(entryName));
      // A lock released between our EEXIST and our open: try again (twice is plenty).
      for (let i = 0; i < 3; i++) {
        const r = holdLock(path, uid, pid, now);
        if (!('error' in r) || r.error !== 'retry') return r;
      }
      return { error: `${path} keeps changing` };
    },
    takeOver(entryName, seen) {
      takeOverLock(dir, lockFileName(entryName), pid, seen);
    },
  };
}

function takeoverNote(v: LockVerdict, view: LockView, now: number): string {
  const holder = `the lock of pid ${view.content.pid ?? '?'}`;
  if (v === 'not-a-lock') return `took over its lock path (${view.problem ?? 'not a lock'})`;
  if (v === 'holder-dead') return `took over ${holder} (that process is gone)`;
  return `took over ${holder} (held for ${now - (view.content.at ?? view.mtimeMs)} ms)`;
}

export interface FlightDeps {
  readonly locks: ObjectLocks;
  readonly now: () => number;
  readonly sleep: (ms: number) => Promise<void>;
  readonly alive: (pid: number) => boolean;
  readonly self: { readonly pid: number; readonly since: number };
  readonly patienceMs: number;
  /** This invocation's deadline: waiting ends there (`timedOut`). */
  readonly deadlineAt: number;
  /**
   * Identity of the cache entry file (one lstat), so that a waiter notices an
   * entry written by anyone, e.g. a slow holder whose lock was taken over.
   */
  readonly entryStamp?: () => string | undefined;
}

export type Flight<T> =
  /** Another invocation wrote a fresh entry: answer from it. */
  | { readonly fresh: T }
  /** Fetch now: holding the lock (release it after writing the entry), or without it (`note` says why, if unusual). */
  | { readonly lock?: HeldLock; readonly note?: string }
  /**
   * The deadline came while another invocation was fetching: answer as when S3
   * does not answer in time (the stale copy, or fail closed). Not a fetch of
   * our own in the last moments: in a storm that saturates the CPU, the holder
   * is then nearly done, and a hundred late fetches would only starve it.
   */
  | { readonly timedOut: string };

/**
 * Takes the object's lock, or waits for its holder: until a fresh entry
 * appears (answered from it), the holder ends without one (it failed: fetch as
 * without the lock), dies or outlives its patience (taken over, then fetch as
 * the holder), or until the deadline (`timedOut`). `freshEntry` re-reads the
 * cache entry and returns it only if fresh.
 */
export async function singleFlight<T>(
  entryName: string,
  freshEntry: () => T | undefined,
  d: FlightDeps,
): Promise<Flight<T>> {
  const since = d.now();
  let stamp = d.entryStamp?.();
  let tookOver: string | undefined;
  // Each round is one holder: a few takeovers at most before the deadline ends it.
  for (let round = 0; round < 8; round++) {
    const got = d.locks.acquire(entryName, d.now());
    if ('error' in got) return { note: `not locked: ${got.error}` };
    if ('held' in got) {
      // Someone may have written the entry between our cache read and our lock.
      const e = freshEntry();
      if (e === undefined) return { lock: got.held, ...(tookOver ? { note: tookOver } : {}) };
      got.held.release('done');
      return { fresh: e };
    }
    const w = got.busy;
    try {
      for (;;) {
        const view = w.view();
        const now = d.now();
        const v = lockVerdict(view, { now, patienceMs: d.patienceMs, self: d.self, alive: d.alive });
        if (v === 'ended') {
          const e = freshEntry();
          if (e !== undefined) return { fresh: e };
          // Failed (or done, and still no fresh entry for us): fetch, as without the lock.
          if (view.content.end) return {};
          break; // unlinked without an end line: taken over by another waiter, wait for the new holder
        }
        if (v !== 'held') {
          d.locks.takeOver(entryName, w);
          tookOver = takeoverNote(v, view, now);
          break;
        }
        if (d.entryStamp) {
          const s = d.entryStamp();
          if (s !== stamp) {
            stamp = s;
            const e = freshEntry();
            if (e !== undefined) return { fresh: e };
          }
        }
        if (now >= d.deadlineAt) {
          return { timedOut: `pid ${view.content.pid ?? '?'} was still fetching it at the deadline` };
        }
        await d.sleep(Math.min(pollDelayMs(now - since), d.deadlineAt - now));
      }
    } finally {
      w.close();
    }
  }
  return { note: 'its lock kept changing' };
}

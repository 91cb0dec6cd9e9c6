// ship-audit's root-only state directory: state.json (log cursor, the join's
// memory, counters), the outbox (q/<seq>.jsonl: records not yet shipped, in
// order) and ship.json (the batch being uploaded, written before the upload).
// Every file is written atomically (temp + fsync + rename, 0600) in a 0700
// directory only root can change.
import { chmod, lstat, mkdir, readdir, readFile, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { AuditRecord } from '../../../contract/audit.js';
import { isRecord } from '../../../contract/records.js';
import { acquireLock, LockedError, realLockDeps } from '../lock.js';
import { writeFileAtomic } from '../sys.js';
import { emptyJoinState, type HostFacts, type JoinState, loadJoinState } from './join.js';
import type { SourceCursor } from './sources.js';

export const DEFAULT_STATE_DIR = '/var/lib/iam-authorized-keys/audit';
export const DEFAULT_SPOOL_MAX_BYTES = 16 * 1024 * 1024;

export interface AuditState {
  readonly cursor: SourceCursor | null;
  readonly join: JoinState;
  /** Number of the next outbox file. */
  readonly nextSeq: number;
  /** Outbox files numbered up to this were dropped (and counted) for the spool limit. */
  readonly droppedThrough: number;
  /** Records dropped for the spool limit, ever; and how many of those a shipped batch has reported. */
  readonly droppedTotal: number;
  readonly droppedShipped: number;
  /** sts:GetCallerIdentity's UserId, the uploader segment of object keys. */
  readonly uploader?: string;
  /** IMDS's instance identity (nulls off EC2) and the host name. */
  readonly host?: HostFacts;
}

export const initialState = (): AuditState => ({
  cursor: null,
  join: emptyJoinState(),
  nextSeq: 1,
  droppedThrough: 0,
  droppedTotal: 0,
  droppedShipped: 0,
});

/** The state directory is not root's own, or a file in it is not what ship-audit wrote. */
export class AuditStateError extends Error {
  override name = 'AuditStateError';
}

const num = (v: unknown, d: number) => (Number.isSafeInteger(v) && (v as number) >= 0 ? (v as number) : d);

/** Creates the directory (and q/) 0700 and checks that only root can change it. */
export async function ensureStateDir(dir: string): Promise<void> {
  for (const d of [dir, join(dir, 'q')]) {
    await mkdir(d, { recursive: true, mode: 0o700 });
    const st = await lstat(d);
    if (!st.isDirectory() || st.uid !== 0) throw new AuditStateError(`${d} is not a directory owned by root`);
    if ((st.mode & 0o077) !== 0) await chmod(d, 0o700);
  }
}

export async function loadState(dir: string): Promise<AuditState> {
  let text: string;
  try {
    text = await readFile(join(dir, 'state.json'), 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return initialState();
    throw new AuditStateError(`${dir}/state.json: cannot read`, { cause: e });
  }
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (cause) {
    throw new AuditStateError(`${dir}/state.json is not JSON`, { cause });
  }
  if (!isRecord(v)) throw new AuditStateError(`${dir}/state.json is not an object`);
  return {
    cursor: isRecord(v.cursor) ? (v.cursor as unknown as SourceCursor) : null,
    join: loadJoinState(v.join),
    nextSeq: Math.max(1, num(v.nextSeq, 1)),
    droppedThrough: num(v.droppedThrough, 0),
    droppedTotal: num(v.droppedTotal, 0),
    droppedShipped: num(v.droppedShipped, 0),
    ...(typeof v.uploader === 'string' ? { uploader: v.uploader } : {}),
    ...(isRecord(v.host) ? { host: v.host as unknown as HostFacts } : {}),
  };
}

export function saveState(dir: string, s: AuditState): Promise<void> {
  return writeFileAtomic(join(dir, 'state.json'), `${JSON.stringify(s)}\n`, { mode: 0o600 });
}

const SEGMENT = /^(\d{12})\.jsonl$/;
export const segmentName = (seq: number) => `${String(seq).padStart(12, '0')}.jsonl`;

export interface Segment {
  readonly seq: number;
  readonly path: string;
  readonly bytes: number;
}

/** The outbox, oldest first. */
export async function segments(dir: string): Promise<Segment[]> {
  const out: Segment[] = [];
  for (const name of await readdir(join(dir, 'q'))) {
    const m = SEGMENT.exec(name);
    if (!m) continue;
    const path = join(dir, 'q', name);
    out.push({ seq: Number(m[1]), path, bytes: (await stat(path)).size });
  }
  return out.sort((a, b) => a.seq - b.seq);
}

export const recordLines = (records: readonly AuditRecord[]) =>
  records.map((r) => `${JSON.stringify(r)}\n`).join('');

/**
 * Adds records to the outbox as file `state.nextSeq`. The caller saves the state with
 * nextSeq + 1 afterwards; a file numbered at or past the saved nextSeq is a crashed
 * run's and is removed by removeUncommitted (its records come again from the log).
 */
export async function writeSegment(dir: string, seq: number, records: readonly AuditRecord[]): Promise<void> {
  await writeFileAtomic(join(dir, 'q', segmentName(seq)), recordLines(records), { mode: 0o600 });
}

export async function removeUncommitted(dir: string, s: AuditState): Promise<void> {
  for (const seg of await segments(dir)) {
    if (seg.seq >= s.nextSeq || seg.seq <= s.droppedThrough) await unlink(seg.path).catch(() => {});
  }
}

/** Records in an outbox file (one JSON object a line, as writeSegment wrote them). */
export async function readSegment(seg: Segment): Promise<AuditRecord[]> {
  const text = await readFile(seg.path, 'utf8');
  return text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as AuditRecord);
}

/**
 * Keeps the outbox within maxBytes by dropping its oldest files (never the newest one).
 * The state (what was dropped, how many records) is saved before any file is removed,
 * so a crash in between neither loses the count nor counts twice.
 */
export async function enforceLimit(dir: string, s: AuditState, maxBytes: number): Promise<AuditState> {
  const segs = await segments(dir);
  const inFlight = await inFlightSeqs(dir);
  let total = segs.reduce((n, x) => n + x.bytes, 0);
  const drop: Segment[] = [];
  for (const seg of segs.slice(0, -1)) {
    if (total <= maxBytes) break;
    if (inFlight.has(seg.seq)) continue; // being uploaded: ship.json holds its bytes
    drop.push(seg);
    total -= seg.bytes;
  }
  if (drop.length === 0) return s;
  let count = 0;
  for (const seg of drop) count += (await readSegment(seg)).length;
  const next: AuditState = {
    ...s,
    droppedThrough: Math.max(s.droppedThrough, ...drop.map((x) => x.seq)),
    droppedTotal: s.droppedTotal + count,
  };
  await saveState(dir, next);
  for (const seg of drop) await unlink(seg.path).catch(() => {});
  return next;
}

/** The write-ahead batch of ship.ts: the batch being uploaded. */
export const shipPath = (dir: string) => join(dir, 'ship.json');

/** Outbox files in the batch being uploaded (never dropped: they may be in the bucket already). */
async function inFlightSeqs(dir: string): Promise<Set<number>> {
  try {
    const v: unknown = JSON.parse(await readFile(shipPath(dir), 'utf8'));
    return new Set(isRecord(v) && Array.isArray(v.seqs) ? (v.seqs as number[]) : []);
  } catch {
    return new Set();
  }
}

const LOCK_WAIT_MS = 30_000;

/**
 * Runs fn holding the state directory's lock (ship-audit by its timer, by hand, and
 * `sessions` all change the state). Waits for a holder up to 30 s.
 */
export async function withStateLock<T>(
  dir: string,
  fn: () => Promise<T>,
  sleep = (ms: number) => new Promise((r) => setTimeout(r, ms)),
): Promise<T> {
  const until = Date.now() + LOCK_WAIT_MS;
  let release: (() => void) | undefined;
  while (!release) {
    try {
      release = acquireLock(join(dir, '.lock'), realLockDeps);
    } catch (e) {
      if (!(e instanceof LockedError)) throw e;
      if (Date.now() > until) {
        throw new LockedError(`${dir} is held by another ship-audit or sessions run (30 s)`, { cause: e });
      }
      await sleep(100);
    }
  }
  try {
    return await fn();
  } finally {
    release();
  }
}

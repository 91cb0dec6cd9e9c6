// Uploads the outbox in order, exactly once. Before an upload the batch (its
// bytes and its final object key) is written to ship.json; the PUT carries
// If-None-Match: *; only then are its outbox files removed and ship.json
// deleted. A crash anywhere in between re-sends the same bytes under the same
// key on the next run, and S3's 412 says it is already there.
import { createHash } from 'node:crypto';
import { readFile, unlink } from 'node:fs/promises';
import { type AuditRecord, auditObjectKey } from '../../../contract/audit.js';
import { isRecord } from '../../../contract/records.js';
import { FetchError } from '../../errors.js';
import { writeFileAtomic } from '../sys.js';
import {
  type AuditState,
  AuditStateError,
  loadState,
  readSegment,
  recordLines,
  saveState,
  segments,
  shipPath,
  withStateLock,
} from './spool.js';

/** One object holds at most this much (and whole outbox files). */
export const MAX_BATCH_BYTES = 4 * 1024 * 1024;
const MAX_BATCHES_PER_RUN = 50;

interface Batch {
  readonly key: string;
  readonly body: string;
  readonly seqs: number[];
  readonly records: number;
  /** state.droppedTotal when the batch was made: the drops it reports. */
  readonly droppedTotalAt: number;
}

export interface ShipDeps {
  readonly stateDir: string;
  readonly now: () => number;
  /** The uploader id (sts:GetCallerIdentity UserId); called outside the state lock. */
  readonly uploader: () => Promise<string>;
  readonly put: (key: string, body: string) => Promise<'created' | 'exists'>;
}

export interface ShipResult {
  readonly objects: number;
  readonly records: number;
  /** 412s: batches an earlier (crashed) run had already stored. */
  readonly alreadyThere: number;
}

async function readBatch(dir: string): Promise<Batch | undefined> {
  let text: string;
  try {
    text = await readFile(shipPath(dir), 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  const v: unknown = JSON.parse(text);
  if (!isRecord(v) || typeof v.key !== 'string' || typeof v.body !== 'string' || !Array.isArray(v.seqs)) {
    throw new AuditStateError(`${shipPath(dir)} is not a batch ship-audit wrote`);
  }
  return v as unknown as Batch;
}

/** The next batch from the oldest outbox files; the first record reports records dropped since the last batch. */
async function makeBatch(deps: ShipDeps, s: AuditState, uploader: string): Promise<Batch | undefined> {
  const records: AuditRecord[] = [];
  const seqs: number[] = [];
  let bytes = 0;
  for (const seg of await segments(deps.stateDir)) {
    if (seqs.length > 0 && bytes + seg.bytes > MAX_BATCH_BYTES) break;
    records.push(...(await readSegment(seg)));
    seqs.push(seg.seq);
    bytes += seg.bytes;
  }
  const first = records[0];
  if (!first) return undefined;
  const dropped = s.droppedTotal - s.droppedShipped;
  if (dropped > 0) records[0] = { ...first, droppedBefore: dropped };
  const body = recordLines(records);
  // The outbox range and the content: a rebuilt state directory never reuses a name for other records.
  const name = `${seqs[0]}-${seqs.at(-1)}-${createHash('sha256').update(body).digest('hex').slice(0, 16)}`;
  const key = auditObjectKey(new Date(deps.now()), uploader, name);
  return { key, body, seqs, records: records.length, droppedTotalAt: s.droppedTotal };
}

/** The batch to send: the one a crashed run left, or a new one written ahead. */
function nextBatch(deps: ShipDeps, uploader: () => Promise<string>): Promise<Batch | undefined> {
  return withStateLock(deps.stateDir, async () => {
    const pending = await readBatch(deps.stateDir);
    if (pending) return pending;
    const s = await loadState(deps.stateDir);
    if ((await segments(deps.stateDir)).length === 0) return undefined;
    const batch = await makeBatch(deps, s, await uploader());
    if (batch) await writeFileAtomic(shipPath(deps.stateDir), JSON.stringify(batch), { mode: 0o600 });
    return batch;
  });
}

/** After the PUT: the drops are reported, the outbox files and ship.json go (each step safe to repeat). */
function finish(deps: ShipDeps, batch: Batch): Promise<void> {
  return withStateLock(deps.stateDir, async () => {
    const s = await loadState(deps.stateDir);
    if (batch.droppedTotalAt > s.droppedShipped)
      await saveState(deps.stateDir, { ...s, droppedShipped: batch.droppedTotalAt });
    const byName = new Map((await segments(deps.stateDir)).map((x) => [x.seq, x.path]));
    for (const seq of batch.seqs) {
      const path = byName.get(seq);
      if (path) await unlink(path);
    }
    await unlink(shipPath(deps.stateDir));
  });
}

/** Drops the written-ahead batch and the cached uploader id (the next run asks STS again). */
function forget(deps: ShipDeps): Promise<void> {
  return withStateLock(deps.stateDir, async () => {
    await unlink(shipPath(deps.stateDir)).catch(() => {});
    const { uploader: _, ...rest } = await loadState(deps.stateDir);
    await saveState(deps.stateDir, rest);
  });
}

/** Ships batches until the outbox is empty; a failed PUT throws, leaving everything for the next run. */
export async function ship(deps: ShipDeps): Promise<ShipResult> {
  let objects = 0;
  let records = 0;
  let alreadyThere = 0;
  // Asked once, and only when there is something to send (never while holding the lock).
  let id: Promise<string> | undefined;
  const hasWork = async () =>
    (await readBatch(deps.stateDir)) !== undefined || (await segments(deps.stateDir)).length > 0;
  if (await hasWork()) id = deps.uploader();
  for (let i = 0; i < MAX_BATCHES_PER_RUN && id; i++) {
    const uploader = await id;
    const batch = await nextBatch(deps, async () => uploader);
    if (!batch) break;
    let outcome: 'created' | 'exists';
    try {
      outcome = await deps.put(batch.key, batch.body);
    } catch (e) {
      // Refused (403: e.g. an uploader id that changed): nothing was stored, so the batch may be made again.
      if (e instanceof FetchError && e.status === 403) await forget(deps);
      throw e;
    }
    if (outcome === 'exists') alreadyThere++;
    await finish(deps, batch);
    objects++;
    records += batch.records;
  }
  return { objects, records, alreadyThere };
}

// The host half of the login trail: new log lines since the saved cursor ->
// joined login/logout records -> the outbox, which ship-audit uploads. Also
// used by `sessions`, which needs the open sessions and adds `ended` records.
import type { AuditRecord } from '../../../contract/audit.js';
import { type HostFacts, type JoinDeps, joinEntries } from './join.js';
import type { LogSource } from './sources.js';
import {
  type AuditState,
  enforceLimit,
  ensureStateDir,
  loadState,
  removeUncommitted,
  saveState,
  withStateLock,
  writeSegment,
} from './spool.js';

export interface CollectDeps {
  /** Root-only directory of state.json and the outbox (DEFAULT_STATE_DIR). */
  readonly stateDir: string;
  readonly source: LogSource;
  readonly host: HostFacts;
  /** The join's view of the host: the agent user's uid, local uids, the key cache, live processes. */
  readonly join: Omit<JoinDeps, 'now' | 'mode' | 'host'>;
  /** The outbox's bound (config audit.spoolMaxBytes): the oldest records are dropped beyond it, and counted. */
  readonly spoolMaxBytes: number;
  readonly now: () => number;
}

async function append(stateDir: string, s: AuditState, records: readonly AuditRecord[]): Promise<AuditState> {
  if (records.length === 0) return s;
  await writeSegment(stateDir, s.nextSeq, records);
  return { ...s, nextSeq: s.nextSeq + 1 };
}

/**
 * Reads the log lines written since the last run, joins them, adds the new records
 * to the outbox and saves the cursor: all or nothing (a crash before the state is
 * saved leaves an outbox file that the next run removes and then writes again).
 * Returns the login records of the sessions not yet logged out (this run's and earlier).
 */
export async function collect(deps: CollectDeps): Promise<{ open: AuditRecord[] }> {
  await ensureStateDir(deps.stateDir);
  return withStateLock(deps.stateDir, async () => {
    let s = await loadState(deps.stateDir);
    await removeUncommitted(deps.stateDir, s);
    const now = deps.now();
    const batch = await deps.source.read(s.cursor, now);
    const joined = joinEntries(s.join, batch.entries, {
      ...deps.join,
      host: deps.host,
      mode: deps.source.mode,
      now,
    });
    s = await append(deps.stateDir, s, joined.records);
    s = { ...s, cursor: batch.cursor, join: joined.state };
    await saveState(deps.stateDir, s);
    await enforceLimit(deps.stateDir, s, deps.spoolMaxBytes);
    return { open: joined.state.open.map((o) => o.login) };
  });
}

/**
 * Adds records (e.g. `ended`, made with join.ts endRecord) to the outbox; the next
 * ship-audit uploads them. A session that gets an `ended` or `logout` record here
 * is no longer open, so its later end in the log gives no second record.
 */
export async function enqueue(
  deps: Pick<CollectDeps, 'stateDir' | 'spoolMaxBytes'>,
  records: AuditRecord[],
): Promise<void> {
  if (records.length === 0) return;
  await ensureStateDir(deps.stateDir);
  await withStateLock(deps.stateDir, async () => {
    let s = await loadState(deps.stateDir);
    await removeUncommitted(deps.stateDir, s);
    s = await append(deps.stateDir, s, records);
    const ended = (o: { login: AuditRecord }) =>
      records.some(
        (r) =>
          r.event !== 'login' &&
          r.sshdPid === o.login.sshdPid &&
          r.sourceIp === o.login.sourceIp &&
          r.sourcePort === o.login.sourcePort,
      );
    s = { ...s, join: { ...s.join, open: s.join.open.filter((o) => !ended(o)) } };
    await saveState(deps.stateDir, s);
    await enforceLimit(deps.stateDir, s, deps.spoolMaxBytes);
  });
}

export { endRecord } from './join.js';

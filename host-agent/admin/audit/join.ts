// The join (pure): sshd's "Accepted publickey" line + the agent's key-matched
// line of the same sshd process and fingerprint = one login record; the end
// of that connection (same client address and port) = its logout record.
// State between runs is plain JSON (collect.ts saves it).
import { createHash } from 'node:crypto';
import type { AuditRecord } from '../../../contract/audit.js';
import { classify, type LogEntry, type LogEvent } from './messages.js';

/** A login whose key the agent has not (yet) claimed waits this long for the agent's line (logger is detached). */
export const AGENT_GRACE_MS = 10_000;
/** Agent and found-at lines wait this long for their "Accepted publickey" (LoginGraceTime is 120 s by default). */
export const SEEN_KEEP_MS = 10 * 60_000;
/** An open session whose sshd process is gone is dropped after this long (its logout line never came). */
export const GONE_KEEP_MS = 60_000;

export interface HostFacts {
  readonly hostname: string;
  readonly instanceId: string | null;
  readonly accountId: string | null;
  readonly region: string | null;
}

interface AgentSeen {
  readonly pid: number;
  readonly fp: string;
  readonly user: string;
  readonly owner: string;
  readonly principal: string;
  readonly fetchedFrom: 's3' | 'cache' | null;
  readonly time: number;
}
interface FoundSeen {
  readonly pid: number;
  readonly fp: string;
  readonly location: string;
  readonly time: number;
}
interface Pending {
  readonly pid: number;
  readonly time: number;
  readonly ev: Extract<LogEvent, { kind: 'accepted' }>;
}
export interface OpenSession {
  readonly login: AuditRecord;
  /** When a run first saw its sshd process gone. */
  readonly goneSince?: number;
}

export interface JoinState {
  readonly agent: AgentSeen[];
  readonly found: FoundSeen[];
  readonly pending: Pending[];
  readonly open: OpenSession[];
}

export const emptyJoinState = (): JoinState => ({ agent: [], found: [], pending: [], open: [] });

export interface JoinDeps {
  readonly host: HostFacts;
  /** 'journal': senders' uids are known (LogEntry.uid); 'file': any local user could have written a line. */
  readonly mode: 'journal' | 'file';
  /** The AuthorizedKeysCommandUser's uid: journal agent lines from any other uid are ignored. */
  readonly agentUid: number | null;
  /** A local account's uid (journal: a logout line comes from root or from the session's user). */
  readonly uidOf: (user: string) => number | undefined;
  /**
   * file mode: does the cached principal object hold this fingerprint for this owner?
   * undefined: no cached object to tell.
   */
  readonly ownerHolds: (principal: string, owner: string, fingerprint: string) => boolean | undefined;
  /** The IAM user id of a user name when the host knows it (cached directory.json), else null. */
  readonly iamUserId: (owner: string) => string | null;
  readonly now: number;
  readonly pidAlive: (pid: number) => boolean;
}

export function recordId(host: string, sshdPid: number, event: string, time: string, port: number): string {
  return createHash('sha256')
    .update(`${host}\n${sshdPid}\n${event}\n${time}\n${port}`)
    .digest('hex')
    .slice(0, 32);
}

const fetchedFrom = (sources: readonly string[]): 's3' | 'cache' | null => {
  const s = sources[0];
  if (s === 's3') return 's3';
  if (s === 'cache' || s === 'stale') return 'cache';
  return null;
};

/** sshd logs the AuthorizedKeysCommand's command line as the location (with blanks), a file as path:line. */
const isCommandLocation = (location: string) => /\s/.test(location.replace(/:\d+$/, ''));

function loginRecord(p: Pending, agent: AgentSeen | undefined, found: FoundSeen | undefined, deps: JoinDeps) {
  const time = new Date(p.time).toISOString();
  let attribution: Pick<AuditRecord, 'iamUser' | 'iamUserId' | 'principal' | 'keySource' | 'fetchedFrom'> & {
    verifiedBy?: 'journal' | 'cache' | null;
  } = {
    iamUser: null,
    iamUserId: null,
    principal: null,
    keySource: found ? (isCommandLocation(found.location) ? 'chain' : 'file') : 'unknown',
    fetchedFrom: null,
  };
  if (agent) {
    const holds = deps.mode === 'file' ? deps.ownerHolds(agent.principal, agent.owner, agent.fp) : true;
    // A file line the cache contradicts is a forgery (or a key gone meanwhile): no attribution.
    if (holds !== false) {
      attribution = {
        iamUser: agent.owner,
        iamUserId: deps.iamUserId(agent.owner),
        principal: agent.principal,
        keySource: 'iam',
        fetchedFrom: agent.fetchedFrom,
        verifiedBy: deps.mode === 'journal' ? 'journal' : holds === true ? 'cache' : null,
      };
    }
  }
  const record: AuditRecord = {
    id: recordId(deps.host.hostname, p.pid, 'login', time, p.ev.port),
    time,
    event: 'login',
    ...deps.host,
    localUser: p.ev.user,
    keyId: null,
    fingerprint: p.ev.fingerprint,
    ...attribution,
    sourceIp: p.ev.ip,
    sourcePort: p.ev.port,
    sshdPid: p.pid,
  };
  return record;
}

/** The end of a session: the login record's fields, its own id, time and duration. */
export function endRecord(
  login: AuditRecord,
  event: 'logout' | 'ended',
  at: number,
  hostname: string,
  reason?: string,
): AuditRecord {
  const time = new Date(at).toISOString();
  const { droppedBefore: _, ...rest } = login;
  return {
    ...rest,
    id: recordId(hostname, login.sshdPid, event, time, login.sourcePort),
    time,
    event,
    durationSeconds: Math.max(0, Math.round((at - Date.parse(login.time)) / 1000)),
    ...(reason !== undefined ? { reason } : {}),
  };
}

/** Whether the sender of an sshd line can be believed for this event (journal only; a file cannot tell). */
function sshdTrusted(e: LogEntry, deps: JoinDeps, sessionUser?: string): boolean {
  if (deps.mode === 'file' || e.uid === 0) return true;
  // After authentication the connection's end is logged by the session's own (unprivileged) process.
  return sessionUser !== undefined && e.uid !== null && e.uid === deps.uidOf(sessionUser);
}

/**
 * The agent's answer for this login. sshd asks twice (the query, then the signature check), and the
 * detached loggers may land in either order: `s3` when either answer came from S3, so the order never matters.
 */
function agentOf(s: Mutable, p: Pending): AgentSeen | undefined {
  const all = s.agent.filter((a) => a.pid === p.pid && a.fp === p.ev.fingerprint && a.user === p.ev.user);
  const last = all.at(-1);
  if (!last) return undefined;
  return all.some((a) => a.fetchedFrom === 's3') ? { ...last, fetchedFrom: 's3' } : last;
}

function resolvePending(s: Mutable, p: Pending, deps: JoinDeps, out: AuditRecord[]): void {
  const agent = agentOf(s, p);
  const found = s.found.findLast((f) => f.pid === p.pid && f.fp === p.ev.fingerprint);
  const login = loginRecord(p, agent, found, deps);
  out.push(login);
  s.open.push({ login });
  s.pending = s.pending.filter((x) => x !== p);
}

type Mutable = { -readonly [K in keyof JoinState]: JoinState[K] };

function step(s: Mutable, e: LogEntry, deps: JoinDeps, out: AuditRecord[]): void {
  const ev = classify(e.ident, e.message);
  if (ev === null) return;
  if (ev.kind === 'agent') {
    if (ev.sshdPid === null) return; // an agent too old to name sshd's pid cannot be joined
    if (deps.mode === 'journal' && (deps.agentUid === null || e.uid !== deps.agentUid)) return;
    s.agent.push({
      pid: ev.sshdPid,
      fp: ev.fingerprint,
      user: ev.user,
      owner: ev.owner,
      principal: ev.principals[0] ?? '',
      fetchedFrom: fetchedFrom(ev.sources),
      time: e.time,
    });
    return;
  }
  if (e.pid === null) return; // sshd -e/-E output names no process: nothing to join by
  if (ev.kind === 'found') {
    if (sshdTrusted(e, deps))
      s.found.push({ pid: e.pid, fp: ev.fingerprint, location: ev.location, time: e.time });
    return;
  }
  if (ev.kind === 'accepted') {
    if (!sshdTrusted(e, deps)) return;
    const p: Pending = { pid: e.pid, time: e.time, ev };
    s.pending.push(p);
    if (agentOf(s, p)) resolvePending(s, p, deps, out);
    return;
  }
  // closed: a login still waiting for the agent's line is decided now, then ended.
  const waiting = s.pending.find((p) => p.ev.ip === ev.ip && p.ev.port === ev.port);
  if (waiting && sshdTrusted(e, deps, waiting.ev.user)) resolvePending(s, waiting, deps, out);
  const open = s.open.find((o) => o.login.sourceIp === ev.ip && o.login.sourcePort === ev.port);
  if (!open || !sshdTrusted(e, deps, open.login.localUser)) return;
  out.push(endRecord(open.login, 'logout', e.time, deps.host.hostname));
  s.open = s.open.filter((o) => o !== open);
}

/** Applies new log entries (in log order); returns the new state and the records they complete. */
export function joinEntries(
  state: JoinState,
  entries: readonly LogEntry[],
  deps: JoinDeps,
): { state: JoinState; records: AuditRecord[] } {
  const s: Mutable = {
    agent: [...state.agent],
    found: [...state.found],
    pending: [...state.pending],
    open: [...state.open],
  };
  const out: AuditRecord[] = [];
  for (const e of entries) step(s, e, deps, out);
  // A late agent line (logger is detached) may have arrived after its login's "Accepted" line.
  for (const p of [...s.pending]) {
    if (agentOf(s, p) || deps.now - p.time > AGENT_GRACE_MS) {
      resolvePending(s, p, deps, out);
    }
  }
  s.agent = s.agent.filter((a) => deps.now - a.time <= SEEN_KEEP_MS);
  s.found = s.found.filter((f) => deps.now - f.time <= SEEN_KEEP_MS);
  s.open = s.open.flatMap((o) => {
    if (deps.pidAlive(o.login.sshdPid)) return [{ login: o.login }];
    if (o.goneSince === undefined) return [{ login: o.login, goneSince: deps.now }];
    return deps.now - o.goneSince > GONE_KEEP_MS ? [] : [o];
  });
  return { state: s, records: out };
}

/** Reads saved state back; anything malformed starts empty (the state file is root's own). */
export function loadJoinState(v: unknown): JoinState {
  if (typeof v !== 'object' || v === null) return emptyJoinState();
  const o = v as Partial<JoinState>;
  const list = <T>(x: T[] | undefined) => (Array.isArray(x) ? x : []);
  return { agent: list(o.agent), found: list(o.found), pending: list(o.pending), open: list(o.open) };
}

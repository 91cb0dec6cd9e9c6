// `iam-authorized-keys sessions [--json] [--end-revoked [--dry-run]]`: the live
// SSH sessions of this host with their IAM owner, and the ending of those whose
// owner lost access. Everything outside (login records, /proc, S3, signals,
// the audit outbox, the clock, output) comes in through SessionsDeps.
import type { AuditRecord } from '../../../contract/audit.js';
import { endRecord } from '../audit/collect.js';
import {
  type Decision,
  decide,
  type EndMode,
  type Mapping,
  type PrincipalKeys,
  principalsToRead,
} from './decide.js';
import { type EndDeps, type EndResult, endProcesses } from './end.js';
import { connectedTo } from './peer.js';
import { type ProcFs, sessionProcs } from './proc.js';

export interface SessionsDeps {
  /** Login records of sessions with no logout yet (sshd's log joined with the agent's key-matched lines). */
  openLogins(): Promise<AuditRecord[]>;
  /** Adds records (`ended`) to the audit outbox that ship-audit uploads. */
  record(records: AuditRecord[]): Promise<void>;
  readonly proc: ProcFs;
  /** Boot time (ms since epoch), for the processes' start times. */
  readonly bootAt: number;
  /** Current published keys of these principals (read by keys.ts). */
  readKeys(principals: string[]): Promise<Map<string, PrincipalKeys>>;
  /** What maps each of these local users to principals now (config `users`, iamUsers' directory.json). */
  readMappings(localUsers: string[]): Promise<Map<string, Mapping>>;
  readonly end: EndDeps;
  readonly graceMs: number;
  now(): number;
  out(line: string): void;
  err(line: string): void;
}

export interface LiveSession {
  readonly login: AuditRecord;
  /** The sshd processes to end: the monitor first, then its session children. */
  readonly pids: { pid: number; startTicks: number }[];
}

/** The open logins whose sshd still runs (a login whose logout was missed and whose pid was reused is left out). */
export async function liveSessions(
  deps: Pick<SessionsDeps, 'openLogins' | 'proc' | 'bootAt'>,
): Promise<LiveSession[]> {
  const out: LiveSession[] = [];
  for (const login of await deps.openLogins()) {
    const p = await sessionProcs(deps.proc, login.sshdPid, Date.parse(login.time), deps.bootAt);
    if (!p.live) continue;
    const pids = [p.monitor, ...p.children];
    const peer = { ip: login.sourceIp, port: login.sourcePort };
    const pidList = pids.map((x) => x.pid);
    // Not connected to the login's client: not that session (a reused pid, a forged line naming another's pid).
    if (await connectedTo(deps.proc, pidList, peer)) out.push({ login, pids });
  }
  return out.sort((a, b) => a.login.time.localeCompare(b.login.time) || a.login.sshdPid - b.login.sshdPid);
}

/** The fields `sessions --json` prints per session. */
export function sessionView(s: LiveSession, decision?: Decision) {
  const l = s.login;
  return {
    localUser: l.localUser,
    iamUser: l.iamUser,
    iamUserId: l.iamUserId,
    keyId: l.keyId,
    fingerprint: l.fingerprint,
    principal: l.principal,
    keySource: l.keySource,
    sourceIp: l.sourceIp,
    sourcePort: l.sourcePort,
    start: l.time,
    sshdPid: l.sshdPid,
    pids: s.pids.map((p) => p.pid),
    ...(decision
      ? {
          action: decision.kind,
          ...('reason' in decision ? { reason: decision.reason } : { why: decision.why }),
        }
      : {}),
  };
}

const HEADER = ['START', 'LOCAL USER', 'IAM USER', 'KEY', 'PRINCIPAL', 'SOURCE', 'SSHD PID'];

/** An aligned table; every cell is data the log or IAM gave, so control characters are escaped. */
export function formatTable(sessions: readonly LiveSession[], decisions?: readonly Decision[]): string[] {
  const safe = (s: string) => s.replace(/\p{Cc}/gu, '?');
  const rows = sessions.map((s, i) => {
    const l = s.login;
    const d = decisions?.[i];
    return [
      l.time.replace(/\.\d+Z$/, 'Z'),
      l.localUser,
      l.iamUser ?? `- (${l.keySource})`,
      l.fingerprint,
      l.principal ?? '-',
      `${l.sourceIp}:${l.sourcePort}`,
      String(l.sshdPid),
      ...(d ? [d.kind === 'end' ? `end: ${d.reason}` : `${d.kind}: ${d.why}`] : []),
    ].map(safe);
  });
  const head = decisions ? [...HEADER, 'ACTION'] : HEADER;
  const widths = head.map((h, c) => Math.max(h.length, ...rows.map((r) => (r[c] ?? '').length)));
  return [head, ...rows].map((r) =>
    r.map((cell, c) => (c === r.length - 1 ? cell : cell.padEnd(widths[c] ?? 0))).join('  '),
  );
}

export async function listSessions(deps: SessionsDeps, json: boolean): Promise<number> {
  const live = await liveSessions(deps);
  if (json)
    deps.out(
      JSON.stringify(
        live.map((s) => sessionView(s)),
        null,
        2,
      ),
    );
  else for (const line of formatTable(live)) deps.out(line);
  return 0;
}

export interface EndRevokedOptions {
  readonly mode: EndMode;
  readonly json: boolean;
  readonly dryRun: boolean;
  /** Where the mode was read (named in the "off" message). */
  readonly configPath: string;
}

/** Decides every live session, ends the revoked ones and records each end; exit 1 when any could not be decided. */
export async function endRevoked(deps: SessionsDeps, o: EndRevokedOptions): Promise<number> {
  if (o.mode === 'off') {
    deps.out(
      `sessions.endRevoked is "off" in ${o.configPath}: no session ended (set it to "access" or "key")`,
    );
    return 0;
  }
  const mode = o.mode;
  const live = await liveSessions(deps);
  const [objects, mappings] = await Promise.all([
    deps.readKeys(principalsToRead(live.map((s) => s.login))),
    deps.readMappings([...new Set(live.map((s) => s.login.localUser))]),
  ]);
  const unmapped = (user: string): Mapping => ({
    principals: new Set(),
    unreadable: `the mapping of ${user}: not read`,
  });
  const decisions = live.map((s) =>
    decide(s.login, objects, mode, mappings.get(s.login.localUser) ?? unmapped(s.login.localUser)),
  );
  const ended: AuditRecord[] = [];
  let failed = false;
  for (const [i, s] of live.entries()) {
    const d = decisions[i];
    if (d?.kind !== 'end' || o.dryRun) continue;
    const r: EndResult = await endProcesses(s.pids, deps.end, deps.graceMs);
    if (r.hup.length === 0 && r.killed.length === 0) continue; // ended on its own meanwhile
    ended.push(endRecord(s.login, 'ended', deps.now(), s.login.hostname, d.reason));
    if (r.left.length > 0) {
      failed = true;
      deps.err(`sshd pid ${s.login.sshdPid}: pids ${r.left.join(', ')} still running after SIGKILL`);
    }
    if (!o.json) deps.out(endedLine(s, d.reason, r));
  }
  if (o.json)
    deps.out(
      JSON.stringify(
        live.map((s, i) => sessionView(s, decisions[i])),
        null,
        2,
      ),
    );
  else if (o.dryRun) for (const line of formatTable(live, decisions)) deps.out(line);
  if (ended.length > 0) await deps.record(ended);
  const unknown = decisions.filter((d): d is Extract<Decision, { kind: 'unknown' }> => d.kind === 'unknown');
  if (unknown.length > 0) {
    deps.err(
      `cannot read the current keys (${unknown[0]?.why}): ${unknown.length} of ${live.length} sessions left running, none of them ended`,
    );
    return 1;
  }
  return failed ? 1 : 0;
}

function endedLine(s: LiveSession, reason: string, r: EndResult): string {
  const l = s.login;
  return `ended ${l.iamUser} as ${l.localUser} from ${l.sourceIp} (${l.principal}, ${l.fingerprint}, sshd pid ${l.sshdPid}): ${reason}; SIGHUP ${r.hup.length}, SIGKILL ${r.killed.length}`;
}

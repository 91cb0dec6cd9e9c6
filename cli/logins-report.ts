// `iam-ssh-keys logins`, the pure part: which partitions a time range reads, the
// records of one object (the instance taken from the object key, which the bucket
// policy binds to the uploader, not from the record), filters, key ids from
// index.json by fingerprint, sessions (a login joined with its logout), and the
// table and JSON Lines output (docs/cli.md "logins", docs/audit.md).
import {
  AUDIT_LOGINS_PREFIX,
  type AuditRecord,
  parseAuditLines,
  parseAuditObjectKey,
} from '../contract/audit.js';
import { UsageError } from '../contract/errors.js';
import type { PublishedIndex } from '../contract/index.js';

/** `--since`/`--until`: a duration before now (`30m`, `24h`, `7d`, `2w`) or an ISO date or time. */
export type TimeSpec = { readonly ago: number } | { readonly at: number };

const UNIT_MS: Readonly<Record<string, number>> = { m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };
const DAY_MS = UNIT_MS.d as number;

export function parseTimeSpec(value: string, option: string): TimeSpec {
  const m = /^(\d{1,6})([mhdw])$/.exec(value);
  if (m) return { ago: Number(m[1]) * (UNIT_MS[m[2] as string] as number) };
  const at = /^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})?)?$/.test(value)
    ? Date.parse(value.length === 10 ? value : value.replace(' ', 'T'))
    : Number.NaN;
  if (Number.isNaN(at)) {
    throw new UsageError(
      `${option} takes a duration (30m, 24h, 7d, 2w) or an ISO time, not ${JSON.stringify(value)}`,
    );
  }
  return { at };
}

export function resolveTime(spec: TimeSpec, now: Date): Date {
  return new Date('ago' in spec ? now.getTime() - spec.ago : spec.at);
}

/**
 * The `logins/dt=<date>/` prefixes to list for records timed in [since, until): a day
 * either side, since a batch is filed under the day it was shipped, which may differ
 * from a record's own day (midnight, a spool emptied after an outage).
 */
export function auditPartitions(since: Date, until: Date): string[] {
  const day = (t: number) => Math.floor(t / DAY_MS) * DAY_MS;
  const out: string[] = [];
  for (let t = day(since.getTime()) - DAY_MS; t <= day(until.getTime()) + DAY_MS; t += DAY_MS) {
    out.push(`${AUDIT_LOGINS_PREFIX}dt=${new Date(t).toISOString().slice(0, 10)}/`);
  }
  return out;
}

/** A record as read from the bucket, with what its object key says about the writer. */
export interface ShippedRecord {
  readonly record: AuditRecord;
  readonly object: string;
  /** The writer's aws:userid, from the key (bound by the bucket policy): trusted. */
  readonly uploader: string;
  /** The instance id in the uploader's session name, when it is an instance role. */
  readonly uploaderInstanceId: string | null;
  /** The record names another instance than the one that wrote it. */
  readonly instanceMismatch: boolean;
}

export interface ObjectRecords {
  readonly records: ShippedRecord[];
  /** Lines that are not valid records, and objects outside the layout. */
  readonly problems: string[];
}

export function recordsOfObject(key: string, text: string): ObjectRecords {
  const where = parseAuditObjectKey(key);
  if (!where) return { records: [], problems: [`${key}: not an audit object key (skipped)`] };
  const parsed = parseAuditLines(text);
  return {
    records: parsed.records.map((record) => ({
      record,
      object: key,
      uploader: where.uploader,
      uploaderInstanceId: where.instanceId,
      instanceMismatch: where.instanceId !== null && record.instanceId !== where.instanceId,
    })),
    problems: parsed.rejected.map((r) => `${key}:${r.lineNo}: ${r.reason} (skipped)`),
  };
}

export interface LoginsFilter {
  readonly since: Date;
  readonly until: Date;
  readonly user?: string | undefined;
  readonly instance?: string | undefined;
  readonly localUser?: string | undefined;
}

/** The trusted instance: the uploader's, else (not an instance role) the uploader id itself. */
export function instanceOf(r: ShippedRecord): string {
  return r.uploaderInstanceId ?? r.uploader;
}

export function matchesFilter(r: ShippedRecord, f: LoginsFilter): boolean {
  const t = Date.parse(r.record.time);
  if (t < f.since.getTime() || t >= f.until.getTime()) return false;
  if (f.user !== undefined && r.record.iamUser !== f.user) return false;
  if (f.instance !== undefined && instanceOf(r) !== f.instance) return false;
  return f.localUser === undefined || r.record.localUser === f.localUser;
}

/**
 * Fills a missing keyId from index.json: the published key of the record's own IAM user
 * with the record's fingerprint. A key not from us (iamUser null) stays without one.
 */
export function withKeyIds(
  records: readonly ShippedRecord[],
  index: PublishedIndex | undefined,
): ShippedRecord[] {
  if (!index) return [...records];
  return records.map((r) => {
    const { iamUser, keyId, fingerprint } = r.record;
    if (keyId !== null || iamUser === null || !Object.hasOwn(index.users, iamUser)) return r;
    const key = index.users[iamUser]?.keys.find((k) => k.fingerprint === fingerprint);
    return key ? { ...r, record: { ...r.record, keyId: key.id } } : r;
  });
}

/** A login with the logout or ended record that closed it (same writer, sshd pid and local user). */
export interface Session {
  readonly login: ShippedRecord;
  readonly end: ShippedRecord | undefined;
}

const byTime = (a: ShippedRecord, b: ShippedRecord) =>
  Date.parse(a.record.time) - Date.parse(b.record.time) ||
  (a.uploader < b.uploader ? -1 : a.uploader > b.uploader ? 1 : 0);

export function sessions(logins: readonly ShippedRecord[], all: readonly ShippedRecord[]): Session[] {
  const ends = new Map<string, ShippedRecord[]>();
  const keyOf = (r: ShippedRecord) => JSON.stringify([r.uploader, r.record.sshdPid, r.record.localUser]);
  for (const r of [...all].sort(byTime)) {
    if (r.record.event === 'login') continue;
    const list = ends.get(keyOf(r)) ?? [];
    list.push(r);
    ends.set(keyOf(r), list);
  }
  return logins
    .filter((r) => r.record.event === 'login')
    .sort(byTime)
    .map((login) => ({
      login,
      end: ends.get(keyOf(login))?.find((e) => Date.parse(e.record.time) >= Date.parse(login.record.time)),
    }));
}

export function formatDuration(seconds: number): string {
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

export const TABLE_HEADER = [
  'TIME',
  'INSTANCE',
  'ACCOUNT',
  'LOCAL USER',
  'IAM USER',
  'KEY',
  'SOURCE IP',
  'DURATION',
];

/** One row per session; `!` after an instance whose record names another instance than its writer. */
export function sessionRow(s: Session): string[] {
  const r = s.login.record;
  const end = s.end?.record;
  const duration =
    end?.durationSeconds === undefined
      ? '-'
      : `${formatDuration(end.durationSeconds)}${end.event === 'ended' ? ` (ended: ${end.reason ?? '?'})` : ''}`;
  return [
    r.time,
    `${instanceOf(s.login)}${s.login.instanceMismatch ? '!' : ''}`,
    r.accountId ?? '-',
    r.localUser,
    r.iamUser ?? `(${r.keySource})`,
    r.keyId ?? r.fingerprint,
    r.sourceIp,
    duration,
  ];
}

/** Columns padded to their widest cell; the last one is not padded. */
export function formatTable(rows: readonly (readonly string[])[]): string[] {
  const widths = TABLE_HEADER.map((_, i) =>
    Math.max(...[TABLE_HEADER, ...rows].map((row) => (row[i] ?? '').length)),
  );
  return [TABLE_HEADER, ...rows].map((row) =>
    row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i] ?? 0))).join('  '),
  );
}

/** `--json`: one object per line, the record (keyId filled) and where it came from. */
export function jsonLine(r: ShippedRecord): string {
  return JSON.stringify({
    ...r.record,
    uploader: r.uploader,
    uploaderInstanceId: r.uploaderInstanceId,
    instanceMismatch: r.instanceMismatch,
    object: r.object,
  });
}

export interface LoginsReport {
  readonly lines: string[];
  /** For stderr: skipped lines and objects, records whose instance disagrees with their writer. */
  readonly notes: string[];
}

export function loginsReport(
  all: readonly ShippedRecord[],
  problems: readonly string[],
  f: LoginsFilter,
  json: boolean,
): LoginsReport {
  const chosen = all.filter((r) => matchesFilter(r, f));
  const notes = [...problems];
  const mismatched = chosen.filter((r) => r.instanceMismatch).length;
  if (mismatched > 0) {
    notes.push(
      `${mismatched} record(s) name another instance than the one that wrote them (marked !): the instance shown is the writer's, from the object key`,
    );
  }
  if (json) return { lines: [...chosen].sort(byTime).map(jsonLine), notes };
  return { lines: formatTable(sessions(chosen, all).map(sessionRow)), notes };
}

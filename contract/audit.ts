// The login trail (docs/audit.md): one record per login, logout or ended session,
// written by the host agent's `ship-audit` as JSON Lines into the audit bucket and
// read back by the CLI's `logins` and by Athena. Both sides validate with this file.

import { isRecord } from './records.js';

export const AUDIT_EVENTS = ['login', 'logout', 'ended'] as const;
export type AuditEvent = (typeof AUDIT_EVENTS)[number];

/**
 * Where the key that logged in came from: `iam` (a key we published; iamUser set),
 * `chain` (the chained AuthorizedKeysCommand, e.g. EC2 Instance Connect),
 * `file` (sshd's own AuthorizedKeysFile), `unknown` (none of those could be told).
 */
export const KEY_SOURCES = ['iam', 'chain', 'file', 'unknown'] as const;
export type KeySource = (typeof KEY_SOURCES)[number];

export interface AuditRecord {
  /** Stable per record (a hash of host, sshd pid, event and time): re-shipping the same record gives the same id. */
  readonly id: string;
  /** ISO 8601 UTC: when sshd logged the event. */
  readonly time: string;
  readonly event: AuditEvent;
  readonly instanceId: string | null;
  readonly accountId: string | null;
  readonly region: string | null;
  readonly hostname: string;
  readonly localUser: string;
  /** null for a key that did not come from us. */
  readonly iamUser: string | null;
  readonly iamUserId: string | null;
  /** `APKA...` or `tag:<tag key>` when known on the host; `logins` fills it from index.json by fingerprint. */
  readonly keyId: string | null;
  /** `SHA256:...` as sshd logs it. */
  readonly fingerprint: string;
  /** `users/alice` or `groups/Admins`: the principal the key was served through; null when not ours. */
  readonly principal: string | null;
  readonly keySource: KeySource;
  /** `s3` or `cache`: where the agent read the key at login; null when not ours. */
  readonly fetchedFrom: 's3' | 'cache' | null;
  readonly sourceIp: string;
  readonly sourcePort: number;
  /** The sshd process that logged "Accepted publickey" (the session's monitor). */
  readonly sshdPid: number;
  /** logout and ended: seconds since the login. */
  readonly durationSeconds?: number;
  /** ended: why the session was ended (`access-revoked`, `key-revoked`). */
  readonly reason?: string;
  /**
   * How the IAM attribution (iamUser, principal) was checked on the host: `journal` (the agent's
   * line came from the AuthorizedKeysCommandUser's uid, as journald records it), `cache` (a log
   * file, where any local user can write such a line: the claimed owner holds this fingerprint in
   * the host's cached principal object), null (a log file and no cached object to check against).
   * Absent when iamUser is null.
   */
  readonly verifiedBy?: 'journal' | 'cache' | null;
  /** On the first record of a batch only: records dropped from the host's full spool since the previous batch. */
  readonly droppedBefore?: number;
}

/** Top-level folder of the audit bucket that instances write. */
export const AUDIT_LOGINS_PREFIX = 'logins/';

/**
 * Object key of one shipped batch: `logins/dt=YYYY-MM-DD/<uploader>/<name>.jsonl`.
 * `uploader` is the writer's `aws:userid` (for an instance role `AROA...:i-0123...`),
 * which the bucket policy binds to the caller, so the path (not the record) says
 * which instance wrote it. Exactly three segments under `logins/`: the policy
 * denies any deeper key, so no writer can put an object under another's segment.
 */
export function auditObjectKey(date: Date, uploader: string, name: string): string {
  if (!AUDIT_UPLOADER.test(uploader)) throw new Error(`invalid uploader id ${JSON.stringify(uploader)}`);
  if (!AUDIT_OBJECT_NAME.test(name)) throw new Error(`invalid audit object name ${JSON.stringify(name)}`);
  return `${AUDIT_LOGINS_PREFIX}dt=${date.toISOString().slice(0, 10)}/${uploader}/${name}.jsonl`;
}

/** aws:userid values: role id + session name (instance id), or a user id; never a '/'. */
export const AUDIT_UPLOADER = /^[A-Z0-9]{16,128}(:[A-Za-z0-9_+=,.@-]{2,64})?$/;
const AUDIT_OBJECT_NAME = /^[A-Za-z0-9_.-]{1,200}$/;
const AUDIT_KEY = /^logins\/dt=(\d{4}-\d{2}-\d{2})\/([^/]+)\/([A-Za-z0-9_.-]{1,200})\.jsonl$/;

export interface AuditObjectKey {
  readonly date: string;
  readonly uploader: string;
  /** The instance id the policy bound to this path, when the uploader is an instance role session. */
  readonly instanceId: string | null;
}

/** Parses an audit object key (without any bucket prefix); null for anything else. */
export function parseAuditObjectKey(key: string): AuditObjectKey | null {
  const m = AUDIT_KEY.exec(key);
  if (!m || !AUDIT_UPLOADER.test(m[2] ?? '')) return null;
  const uploader = m[2] as string;
  const session = uploader.split(':')[1];
  return {
    date: m[1] as string,
    uploader,
    instanceId: session !== undefined && /^i-[0-9a-f]{8,17}$/.test(session) ? session : null,
  };
}

const nullableString = (v: unknown): v is string | null => v === null || typeof v === 'string';
const isPort = (v: unknown): v is number =>
  Number.isInteger(v) && (v as number) >= 0 && (v as number) <= 65535;

/** The field that makes `v` not an AuditRecord, or null when it is one. */
export function auditRecordProblem(v: unknown): string | null {
  if (!isRecord(v)) return 'not an object';
  const checks: [string, boolean][] = [
    ['id', typeof v.id === 'string' && v.id.length > 0 && v.id.length <= 128],
    ['time', typeof v.time === 'string' && !Number.isNaN(Date.parse(v.time))],
    ['event', (AUDIT_EVENTS as readonly unknown[]).includes(v.event)],
    ['instanceId', nullableString(v.instanceId)],
    ['accountId', nullableString(v.accountId)],
    ['region', nullableString(v.region)],
    ['hostname', typeof v.hostname === 'string'],
    ['localUser', typeof v.localUser === 'string' && v.localUser.length > 0],
    ['iamUser', nullableString(v.iamUser)],
    ['iamUserId', nullableString(v.iamUserId)],
    ['keyId', nullableString(v.keyId)],
    ['fingerprint', typeof v.fingerprint === 'string' && /^SHA256:[A-Za-z0-9+/]{43}$/.test(v.fingerprint)],
    ['principal', nullableString(v.principal)],
    ['keySource', (KEY_SOURCES as readonly unknown[]).includes(v.keySource)],
    ['fetchedFrom', v.fetchedFrom === null || v.fetchedFrom === 's3' || v.fetchedFrom === 'cache'],
    ['sourceIp', typeof v.sourceIp === 'string' && v.sourceIp.length > 0],
    ['sourcePort', isPort(v.sourcePort)],
    ['sshdPid', Number.isInteger(v.sshdPid) && (v.sshdPid as number) > 0],
    [
      'durationSeconds',
      v.durationSeconds === undefined || (typeof v.durationSeconds === 'number' && v.durationSeconds >= 0),
    ],
    ['reason', v.reason === undefined || typeof v.reason === 'string'],
    [
      'verifiedBy',
      v.verifiedBy === undefined ||
        v.verifiedBy === null ||
        v.verifiedBy === 'journal' ||
        v.verifiedBy === 'cache',
    ],
    [
      'droppedBefore',
      v.droppedBefore === undefined || (Number.isInteger(v.droppedBefore) && (v.droppedBefore as number) > 0),
    ],
  ];
  const bad = checks.find(([, ok]) => !ok);
  return bad ? `bad ${bad[0]}` : null;
}

/** One JSON Lines object: the records, each validated; the line numbers of the others with their problem. */
export function parseAuditLines(text: string): {
  readonly records: AuditRecord[];
  readonly rejected: { readonly lineNo: number; readonly reason: string }[];
} {
  const records: AuditRecord[] = [];
  const rejected: { lineNo: number; reason: string }[] = [];
  text.split('\n').forEach((line, i) => {
    if (line === '') return;
    let v: unknown;
    try {
      v = JSON.parse(line);
    } catch {
      rejected.push({ lineNo: i + 1, reason: 'not JSON' });
      return;
    }
    const problem = auditRecordProblem(v);
    if (problem === null) records.push(v as AuditRecord);
    else rejected.push({ lineNo: i + 1, reason: problem });
  });
  return { records, rejected };
}

// What ship-audit reads in the system log (pure): sshd's own messages about a
// login and its end, and the agent's key-matched line, plus the two line
// shapes they arrive in (journalctl -o json, and syslog files such as
// auth.log or /var/log/secure). Message forms as OpenSSH 8.7 to 10 write them
// (auth.c auth_log, auth2-pubkeyfile.c, packet.c sshpkt_vfatal, serverloop.c).
import { isRecord } from '../../../contract/records.js';

/** One log message with what the source can tell about its sender. */
export interface LogEntry {
  /** ms since the epoch. */
  readonly time: number;
  /** SYSLOG_IDENTIFIER / the syslog tag: `sshd`, `sshd-session` (OpenSSH 9.8+), `iam-authorized-keys`. */
  readonly ident: string;
  /** The sending process (journal: the trusted _PID; file: the tag's [pid], which the sender wrote). */
  readonly pid: number | null;
  /** journal only: the sender's uid as the kernel told journald (_UID); null for a file. */
  readonly uid: number | null;
  readonly message: string;
}

export type LogEvent =
  | {
      readonly kind: 'accepted';
      readonly user: string;
      readonly ip: string;
      readonly port: number;
      readonly keyType: string;
      readonly fingerprint: string;
    }
  /** VERBOSE: `Accepted key TYPE FP found at LOCATION`: a file:line, or the AuthorizedKeysCommand's command line. */
  | { readonly kind: 'found'; readonly fingerprint: string; readonly location: string }
  | { readonly kind: 'closed'; readonly ip: string; readonly port: number }
  | {
      readonly kind: 'agent';
      readonly user: string;
      readonly fingerprint: string;
      readonly owner: string;
      readonly principals: string[];
      readonly sources: string[];
      readonly sshdPid: number | null;
    };

export const SSHD_IDENTS: readonly string[] = ['sshd', 'sshd-session'];
export const AGENT_IDENT = 'iam-authorized-keys';

const FP = 'SHA256:[A-Za-z0-9+/]{43}';
// A certificate adds " ID ... CA ..." after the key's own fingerprint.
const ACCEPTED = new RegExp(
  `^Accepted publickey for (\\S+) from (\\S+) port (\\d{1,5}) ssh2: (\\S+) (${FP})(?: .*)?$`,
);
const FOUND = new RegExp(`^Accepted key \\S+ (${FP}) found at (.+)$`);
// The end of an authenticated connection (its log preamble is "user NAME"); preauth ends never match an open session.
const CLOSED =
  /^(?:Disconnected from|Connection closed by|Connection reset by|Timeout, client not responding from|terminating inactive connection from|Connection from) (?:user \S+ )?(\S+) port (\d{1,5})(?:$|[ :])/;
const AGENT = new RegExp(
  `^key-matched user=(\\S+) fingerprint=(${FP}) owner=(\\S+) principal=(\\S+) source=(\\S+)(?: sshd_pid=(\\d{1,10}))?$`,
);

/** The event a message of sshd or of the agent reports, or null. */
export function classify(ident: string, message: string): LogEvent | null {
  if (ident === AGENT_IDENT) {
    const m = AGENT.exec(message);
    if (!m) return null;
    const [, user = '', fingerprint = '', owner = '', principal = '', source = '', pid] = m;
    return {
      kind: 'agent',
      user,
      fingerprint,
      owner,
      principals: principal.split(','),
      sources: source.split(','),
      sshdPid: pid === undefined ? null : Number(pid),
    };
  }
  if (!SSHD_IDENTS.includes(ident)) return null;
  let m = ACCEPTED.exec(message);
  if (m) {
    const [, user = '', ip = '', port = '', keyType = '', fingerprint = ''] = m;
    return { kind: 'accepted', user, ip, port: Number(port), keyType, fingerprint };
  }
  m = FOUND.exec(message);
  if (m) return { kind: 'found', fingerprint: m[1] as string, location: m[2] as string };
  m = CLOSED.exec(message);
  if (m) return { kind: 'closed', ip: m[1] as string, port: Number(m[2]) };
  return null;
}

/**
 * One entry of `journalctl -o json`: every value a string (or a byte array
 * for non-UTF-8, which we skip). _PID and _UID are journald's trusted fields.
 */
export function parseJournalEntry(line: string): { entry: LogEntry | null; cursor: string | null } {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    return { entry: null, cursor: null };
  }
  if (!isRecord(v)) return { entry: null, cursor: null };
  const cursor = typeof v.__CURSOR === 'string' ? v.__CURSOR : null;
  const { SYSLOG_IDENTIFIER: ident, MESSAGE: message, __REALTIME_TIMESTAMP: usec, _PID: pid, _UID: uid } = v;
  if (typeof ident !== 'string' || typeof message !== 'string' || typeof usec !== 'string') {
    return { entry: null, cursor };
  }
  const num = (s: unknown) => (typeof s === 'string' && /^\d{1,10}$/.test(s) ? Number(s) : null);
  return {
    entry: { time: Math.floor(Number(usec) / 1000), ident, pid: num(pid), uid: num(uid), message },
    cursor,
  };
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
// rsyslog's traditional format (no year, local time), or RFC 3339 (Debian 12's default); "<PRI>" as
// logger and glibc send it to a socket; the host name is absent there.
const TRADITIONAL = /^(?:<\d{1,3}>)?([A-Z][a-z]{2}) ([ \d]\d) (\d\d):(\d\d):(\d\d) (.*)$/;
const RFC3339 = /^(?:<\d{1,3}>)?(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,9})?(?:Z|[+-]\d\d:\d\d)) (.*)$/;
const REST = /^(?:[^\s[\]:]+ )?([^\s[\]:]+)(?:\[(\d{1,10})\])?: (.*)$/;

/**
 * One line of a syslog file. A traditional time has no year or zone: it is
 * read as local time in the year that puts it at most a day ahead of `now`.
 */
export function parseSyslogLine(line: string, now: number): LogEntry | null {
  let time: number;
  let rest: string;
  const t = TRADITIONAL.exec(line);
  if (t) {
    const [, mon = '', day = '', hh = '', mm = '', ss = '', r = ''] = t;
    const month = MONTHS.indexOf(mon);
    if (month < 0) return null;
    const at = (y: number) => new Date(y, month, Number(day), Number(hh), Number(mm), Number(ss)).getTime();
    const year = new Date(now).getFullYear();
    time = at(year) > now + 86_400_000 ? at(year - 1) : at(year);
    rest = r;
  } else {
    const r = RFC3339.exec(line);
    if (!r) return null;
    time = Date.parse(r[1] as string);
    rest = r[2] as string;
  }
  const m = REST.exec(rest);
  if (!m || Number.isNaN(time)) return null;
  return {
    time,
    ident: m[1] as string,
    pid: m[2] === undefined ? null : Number(m[2]),
    uid: null,
    message: m[3] as string,
  };
}

// /etc/passwd and `getent passwd` text, read one way by the login path
// (iamUsers mode's uid check) and the admin commands (sync-users, doctor,
// install). Import-free and tiny: every login loads it.

export interface PasswdEntry {
  readonly name: string;
  readonly uid: number;
  readonly gid: number;
  readonly home: string;
  readonly shell: string;
}

/** The largest uid or gid: (uid_t)-1, 4294967295, means "no id" to the kernel (setuid(-1) changes nothing). */
export const MAX_ID = 4294967294;

/** Decimal digits only: Number() would also take '', ' 7', '0x10', '1e3' and '-1'. */
const DECIMAL = /^[0-9]{1,10}$/;

function parseId(field: string): number | undefined {
  if (!DECIMAL.test(field)) return undefined;
  const id = Number(field);
  return id <= MAX_ID ? id : undefined;
}

/**
 * One account line, or undefined when the line is not one: blank, a comment
 * (glibc's files backend skips `#` lines), not exactly seven fields, no name,
 * or an id that is not a decimal number within 0..MAX_ID.
 */
export function parsePasswdLine(line: string): PasswdEntry | undefined {
  if (line.startsWith('#')) return undefined;
  const f = line.split(':');
  if (f.length !== 7) return undefined;
  const [name, , uidField, gidField, , home, shell] = f as [
    string,
    string,
    string,
    string,
    string,
    string,
    string,
  ];
  const uid = parseId(uidField);
  const gid = parseId(gidField);
  if (name === '' || uid === undefined || gid === undefined) return undefined;
  return { name, uid, gid, home, shell };
}

/** Every account in the text, in order (duplicate names included), skipping lines that are not one. */
export function parsePasswd(text: string): PasswdEntry[] {
  const out: PasswdEntry[] = [];
  for (const line of text.split('\n')) {
    const entry = parsePasswdLine(line);
    if (entry) out.push(entry);
  }
  return out;
}

/** The uid of `user`, or undefined. The first account of that name wins, as for getpwnam (and so sshd). */
export function uidFromPasswd(text: string, user: string): number | undefined {
  for (const line of text.split('\n')) {
    const entry = parsePasswdLine(line);
    if (entry?.name === user) return entry.uid;
  }
  return undefined;
}

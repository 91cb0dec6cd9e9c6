// directory.json and heartbeat.json: the only JSON objects hosts read (see
// docs/architecture.md "Bucket layout"). index.json is the publisher's state;
// hosts read these slim objects instead, so their size stays far below the
// host's object limit at IAM's 5,000 users.
import { IAM_GROUP_NAME, IAM_USER_NAME } from './layout.js';
import { isValidLocalName } from './names.js';
import { isRecord } from './records.js';

/**
 * Largest object a host reads (S3 or cache). The publisher refuses to write a
 * bigger object that hosts read, so the two sides can never disagree.
 */
export const MAX_HOST_OBJECT_BYTES = 8 * 1024 * 1024;

export const DIRECTORY_VERSION = 1;
export const HEARTBEAT_VERSION = 1;

/** An IAM user id (`AIDA...`): IAM's pattern `[\w]+` (shorter ones are accepted for test doubles). */
const USER_ID = /^\w{1,128}$/;

export function directoryKey(prefix: string): string {
  return `${prefix}directory.json`;
}

export function heartbeatKey(prefix: string): string {
  return `${prefix}heartbeat.json`;
}

/** What a host needs of one IAM user: no keys (hosts name a key by its fingerprint). */
export interface DirectoryUser {
  readonly userId: string;
  /** Local user name, or null when unusable (too long, or claimed by two IAM users). */
  readonly localName: string | null;
  /** Why localName is null. */
  readonly localNameProblem?: string;
  readonly uid: number;
  /** IAM groups, code-unit order. */
  readonly groups: readonly string[];
}

export interface Directory {
  readonly version: number;
  /** By IAM user name: a Map, so a name like `__proto__` or `toString` is plain data. */
  readonly users: ReadonlyMap<string, DirectoryUser>;
  /** uids allocated to IAM users that are gone (and retired ones): never handed to anyone else. */
  readonly reservedUids: readonly number[];
}

export class DirectoryFormatError extends Error {
  override name = 'DirectoryFormatError';
}

function byCodeUnit(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * Deterministic bytes (users in code-unit order, fixed field order, one user a
 * line): equal data, equal bytes, so the publisher writes it only on a change.
 */
export function serializeDirectory(d: Directory): string {
  const names = [...d.users.keys()].sort(byCodeUnit);
  const lines = names.map((name) => {
    const u = d.users.get(name) as DirectoryUser;
    const entry = {
      userId: u.userId,
      localName: u.localName,
      ...(u.localNameProblem !== undefined ? { localNameProblem: u.localNameProblem } : {}),
      uid: u.uid,
      groups: [...u.groups].sort(byCodeUnit),
    };
    return `${JSON.stringify(name)}:${JSON.stringify(entry)}`;
  });
  const reserved = [...new Set(d.reservedUids)].sort((a, b) => a - b);
  return `{"version":${d.version},"reservedUids":${JSON.stringify(reserved)},"users":{\n${lines.join(',\n')}\n}}\n`;
}

const isUid = (n: unknown): n is number => typeof n === 'number' && Number.isSafeInteger(n) && n > 0;

function parseUser(name: string, u: unknown): DirectoryUser {
  const bad = (what: string) =>
    new DirectoryFormatError(`directory.json: bad ${what} for ${JSON.stringify(name)}`);
  if (!IAM_USER_NAME.test(name) || !isRecord(u)) throw bad('entry');
  if (typeof u.userId !== 'string' || !USER_ID.test(u.userId)) throw bad('userId');
  if (u.localName !== null && (typeof u.localName !== 'string' || !isValidLocalName(u.localName)))
    throw bad('localName');
  if (u.localNameProblem !== undefined && typeof u.localNameProblem !== 'string')
    throw bad('localNameProblem');
  if (!isUid(u.uid)) throw bad('uid');
  if (!Array.isArray(u.groups) || !u.groups.every((g) => typeof g === 'string' && IAM_GROUP_NAME.test(g)))
    throw bad('groups');
  return {
    userId: u.userId,
    localName: u.localName,
    ...(typeof u.localNameProblem === 'string' ? { localNameProblem: u.localNameProblem } : {}),
    uid: u.uid,
    groups: u.groups as string[],
  };
}

/** Parses and checks directory.json; throws DirectoryFormatError on anything unexpected (fail closed). */
export function parseDirectory(text: string): Directory {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (cause) {
    throw new DirectoryFormatError('directory.json is not valid JSON', { cause });
  }
  if (!isRecord(v)) throw new DirectoryFormatError('directory.json is not an object');
  if (v.version !== DIRECTORY_VERSION)
    throw new DirectoryFormatError(`directory.json has unsupported version ${String(v.version)}`);
  if (!isRecord(v.users)) throw new DirectoryFormatError('directory.json has no users');
  if (!Array.isArray(v.reservedUids) || !v.reservedUids.every(isUid))
    throw new DirectoryFormatError('directory.json: bad reservedUids');
  const users = new Map<string, DirectoryUser>();
  // JSON.parse makes every key an own data property (`__proto__` included); Object.entries sees them all.
  for (const [name, u] of Object.entries(v.users)) users.set(name, parseUser(name, u));
  return { version: DIRECTORY_VERSION, users, reservedUids: v.reservedUids as number[] };
}

export interface Heartbeat {
  readonly version: number;
  /** ISO time of the last complete publisher run: hosts judge staleness by it. */
  readonly generatedAt: string;
}

export function serializeHeartbeat(generatedAt: string): string {
  return `${JSON.stringify({ version: HEARTBEAT_VERSION, generatedAt })}\n`;
}

export function parseHeartbeat(text: string): Heartbeat {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (cause) {
    throw new DirectoryFormatError('heartbeat.json is not valid JSON', { cause });
  }
  if (!isRecord(v) || v.version !== HEARTBEAT_VERSION)
    throw new DirectoryFormatError('heartbeat.json has an unsupported version');
  if (typeof v.generatedAt !== 'string' || Number.isNaN(Date.parse(v.generatedAt)))
    throw new DirectoryFormatError('heartbeat.json has no valid generatedAt');
  return { version: HEARTBEAT_VERSION, generatedAt: v.generatedAt };
}

/** Objects hosts read that the publisher must refuse when over MAX_HOST_OBJECT_BYTES (principal objects too). */
export function tooLargeForHosts(body: string): boolean {
  return Buffer.byteLength(body, 'utf8') > MAX_HOST_OBJECT_BYTES;
}

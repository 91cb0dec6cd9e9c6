// Pure: the saved progress of a publish series that ran out of time
// (`<prefix>publisher/progress.json`). Hosts never read it; the plan never
// touches it (it is outside the layout). parseProgress validates all of it:
// a half-understood progress file is ignored, never acted on.

import { errorMessage } from '../contract/errors.js';
import { nullRecord } from '../contract/index.js';
import { isRecord } from '../contract/records.js';
import { listsReusable } from './deadline.js';
import type { AccountDetails, IamKey, IamTag, PartialRead, UserDetails } from './iam-source.js';

export const PROGRESS_KIND = 'iam-ssh-keys-progress';
export const PROGRESS_VERSION = 1;

/** Where the progress of an unfinished series lives, under the prefix. */
export function progressKey(prefix: string): string {
  return `${prefix}publisher/progress.json`;
}

/** One user's ListSSHPublicKeys answer, kept for the series. */
export interface SavedKeyList {
  /** The IAM user id it was read for: a re-created user of the same name does not inherit it. */
  readonly userId: string;
  readonly keys: readonly IamKey[];
}

/**
 * GetAccountAuthorizationDetails pages read so far in the series: the users,
 * groups and memberships they gave, and the Marker of the next page. A run
 * that spends its budget there continues from the Marker instead of starting
 * over.
 */
export interface SavedAccountDetails {
  /** ISO: when the first of these pages was read; older than the reuse bound, they are read again. */
  readonly readAt: string;
  /** True once the last page was read. */
  readonly complete: boolean;
  /** The next page's Marker (only while not complete). */
  readonly marker?: string;
  /** IAM user name -> user id, groups, tags. Null prototype: names never meet Object.prototype. */
  readonly users: Readonly<Record<string, UserDetails>>;
  readonly groups: readonly string[];
}

/** The counters: what logs, metrics and `status` show. */
export interface ProgressCounts {
  /** ISO: when the series' first run started. */
  readonly startedAt: string;
  /** ISO: when this file was written. */
  readonly savedAt: string;
  /** Runs of the series so far (this one included). */
  readonly runs: number;
  /** True when the bucket had no readable index.json when the series started. */
  readonly firstImport: boolean;
  /** IAM users in the last complete GetAccountAuthorizationDetails read (0 if none completed). */
  readonly usersTotal: number;
  /** Users whose key list is saved (below). */
  readonly usersRead: number;
  /** Users in the saved GetAccountAuthorizationDetails pages (accountDetails; 0 when none are saved). */
  readonly usersFound: number;
  /** Key bodies saved (below). */
  readonly keyBodiesFetched: number;
  /** Active keys in the saved lists whose body is neither saved nor in index.json yet. */
  readonly keyBodiesMissing: number;
}

export interface ImportProgress extends ProgressCounts {
  readonly kind: typeof PROGRESS_KIND;
  readonly version: typeof PROGRESS_VERSION;
  /** ISO: when the oldest saved key list was read; lists older than the reuse bound are discarded. */
  readonly keyListsSince: string;
  /** IAM user name -> its key list. */
  readonly keyLists: Readonly<Record<string, SavedKeyList>>;
  /** Key id -> body as IAM returned it. A key id's body never changes: reusable forever. */
  readonly keyBodies: Readonly<Record<string, string>>;
  /** GetAccountAuthorizationDetails pages read so far (absent: none kept). */
  readonly accountDetails?: SavedAccountDetails;
}

export class ProgressFormatError extends Error {
  override name = 'ProgressFormatError';
}

function fail(why: string): never {
  throw new ProgressFormatError(`progress.json: ${why}`);
}

function isoField(o: Record<string, unknown>, name: string): string {
  const v = o[name];
  if (typeof v !== 'string' || Number.isNaN(Date.parse(v))) fail(`${name} is not an ISO time`);
  return v;
}

function countField(o: Record<string, unknown>, name: string): number {
  const v = o[name];
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) fail(`${name} is not a count`);
  return v;
}

const KEY_ID = /^\w{1,128}$/;
const USER_ID = /^\w{1,128}$/;
/** IAM's own name rules: a name that breaks them never came from IAM. */
const USER_NAME = /^[\w+=,.@-]{1,64}$/;
const GROUP_NAME = /^[\w+=,.@-]{1,128}$/;
/** IAM's Marker: 1-320 characters of U+0020-U+00FF. */
const MARKER = /^[\u0020-\u00FF]{1,320}$/;

function parseTag(v: unknown, user: string): IamTag {
  if (!isRecord(v)) fail(`a tag of ${user} is not an object`);
  const { key, value } = v;
  if (typeof key !== 'string' || key.length < 1 || key.length > 128)
    fail(`a tag of ${user} has no valid key`);
  if (typeof value !== 'string' || value.length > 256) fail(`tag ${key} of ${user} has no valid value`);
  return { key, value };
}

function parseUserDetails(v: unknown, user: string): UserDetails {
  if (!USER_NAME.test(user)) fail(`accountDetails: ${JSON.stringify(user)} is not an IAM user name`);
  if (!isRecord(v) || typeof v.userId !== 'string' || !USER_ID.test(v.userId))
    fail(`accountDetails: user ${user} has no valid userId`);
  if (!Array.isArray(v.groups) || !v.groups.every((g) => typeof g === 'string' && GROUP_NAME.test(g)))
    fail(`accountDetails: user ${user} has invalid groups`);
  if (!Array.isArray(v.tags)) fail(`accountDetails: user ${user} has no tags array`);
  return { userId: v.userId, groups: [...v.groups], tags: v.tags.map((t) => parseTag(t, user)) };
}

function parseAccountDetails(v: unknown): SavedAccountDetails {
  if (!isRecord(v)) fail('accountDetails is not an object');
  if (typeof v.complete !== 'boolean') fail('accountDetails.complete is not a boolean');
  // A Marker only while pages remain: a complete read with one, or an incomplete one without, is corrupt.
  if (v.complete ? v.marker !== undefined : typeof v.marker !== 'string' || !MARKER.test(v.marker))
    fail('accountDetails.marker is invalid');
  if (!isRecord(v.users)) fail('accountDetails.users is not an object');
  if (!Array.isArray(v.groups) || !v.groups.every((g) => typeof g === 'string' && GROUP_NAME.test(g)))
    fail('accountDetails.groups is invalid');
  const users = nullRecord<UserDetails>();
  for (const [name, u] of Object.entries(v.users)) users[name] = parseUserDetails(u, name);
  return {
    readAt: isoField(v, 'readAt'),
    complete: v.complete,
    ...(v.complete ? {} : { marker: v.marker as string }),
    users,
    groups: [...new Set(v.groups as string[])],
  };
}

function parseKey(v: unknown, user: string): IamKey {
  if (!isRecord(v)) fail(`a key of ${user} is not an object`);
  const { id, status, uploadDate } = v;
  if (typeof id !== 'string' || !KEY_ID.test(id)) fail(`a key of ${user} has no valid id`);
  if (status !== 'Active' && status !== 'Inactive') fail(`key ${id} of ${user} has an invalid status`);
  if (uploadDate === undefined) return { id, status };
  if (typeof uploadDate !== 'string' || Number.isNaN(Date.parse(uploadDate)))
    fail(`key ${id} of ${user} has an invalid uploadDate`);
  return { id, status, uploadDate: new Date(uploadDate) };
}

/** Parses and checks progress.json; throws ProgressFormatError on anything unexpected. */
export function parseProgress(text: string): ImportProgress {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new ProgressFormatError(`progress.json is not JSON: ${errorMessage(e)}`, { cause: e });
  }
  if (!isRecord(v)) fail('not an object');
  if (v.kind !== PROGRESS_KIND) fail(`kind is not ${PROGRESS_KIND}`);
  if (v.version !== PROGRESS_VERSION) fail(`unsupported version ${JSON.stringify(v.version)}`);
  if (typeof v.firstImport !== 'boolean') fail('firstImport is not a boolean');
  if (!isRecord(v.keyLists)) fail('keyLists is not an object');
  if (!isRecord(v.keyBodies)) fail('keyBodies is not an object');
  const keyLists = nullRecord<SavedKeyList>();
  for (const [user, list] of Object.entries(v.keyLists)) {
    if (!USER_NAME.test(user)) fail(`keyLists: ${JSON.stringify(user)} is not an IAM user name`);
    if (!isRecord(list) || typeof list.userId !== 'string' || !USER_ID.test(list.userId))
      fail(`the key list of ${user} has no valid userId`);
    if (!Array.isArray(list.keys)) fail(`the key list of ${user} has no keys array`);
    keyLists[user] = { userId: list.userId, keys: list.keys.map((k) => parseKey(k, user)) };
  }
  const keyBodies = nullRecord<string>();
  for (const [id, body] of Object.entries(v.keyBodies)) {
    if (!KEY_ID.test(id) || typeof body !== 'string') fail(`key body ${id} is invalid`);
    keyBodies[id] = body;
  }
  const accountDetails = v.accountDetails === undefined ? undefined : parseAccountDetails(v.accountDetails);
  const p: ImportProgress = {
    kind: PROGRESS_KIND,
    version: PROGRESS_VERSION,
    startedAt: isoField(v, 'startedAt'),
    savedAt: isoField(v, 'savedAt'),
    runs: countField(v, 'runs'),
    firstImport: v.firstImport,
    usersTotal: countField(v, 'usersTotal'),
    usersRead: countField(v, 'usersRead'),
    // Absent in files written before account details were kept: then none are.
    usersFound: v.usersFound === undefined && accountDetails === undefined ? 0 : countField(v, 'usersFound'),
    keyBodiesFetched: countField(v, 'keyBodiesFetched'),
    keyBodiesMissing: countField(v, 'keyBodiesMissing'),
    keyListsSince: isoField(v, 'keyListsSince'),
    keyLists,
    keyBodies,
    ...(accountDetails ? { accountDetails } : {}),
  };
  // The counters are what status and alarms show: they must agree with the data.
  if (p.usersRead !== Object.keys(keyLists).length) fail('usersRead does not match keyLists');
  if (p.keyBodiesFetched !== Object.keys(keyBodies).length) fail('keyBodiesFetched does not match keyBodies');
  if (p.usersFound !== Object.keys(accountDetails?.users ?? {}).length)
    fail('usersFound does not match accountDetails');
  return p;
}

export function serializeProgress(p: ImportProgress): string {
  return `${JSON.stringify(p)}\n`;
}

export function progressCounts(p: ProgressCounts): ProgressCounts {
  const { startedAt, savedAt, runs, firstImport, usersTotal, usersRead, usersFound } = p;
  const { keyBodiesFetched, keyBodiesMissing } = p;
  return {
    startedAt,
    savedAt,
    runs,
    firstImport,
    usersTotal,
    usersRead,
    usersFound,
    keyBodiesFetched,
    keyBodiesMissing,
  };
}

function ago(seconds: number): string {
  if (seconds < 120) return `${seconds} s ago`;
  if (seconds < 7200) return `${Math.round(seconds / 60)} min ago`;
  return `${(seconds / 3600).toFixed(1)} h ago`;
}

export interface ProgressDescription {
  readonly lines: readonly string[];
  readonly data: Record<string, unknown>;
}

/**
 * What `iam-ssh-keys status` says about an unfinished series: "first import
 * in progress" (no index.json yet) or "publish in progress", how far it got
 * and when it last saved. Pure: the caller passes the clock.
 */
export function describeProgress(p: ProgressCounts, now: Date): ProgressDescription {
  const secondsSince = (iso: string) => Math.max(0, Math.round((now.getTime() - Date.parse(iso)) / 1000));
  const savedAgo = secondsSince(p.savedAt);
  const startedAgo = secondsSince(p.startedAt);
  const what = p.firstImport ? 'first import in progress' : 'publish in progress (runs ran out of time)';
  // Before GetAccountAuthorizationDetails completed, how many users its pages gave so far.
  const total =
    p.usersTotal > 0 ? ` of ${p.usersTotal}` : p.usersFound > 0 ? ` of ${p.usersFound} found so far` : '';
  const keys =
    p.keyBodiesMissing > 0
      ? `${p.keyBodiesFetched} key bodies fetched, ${p.keyBodiesMissing} to fetch for the users read`
      : `${p.keyBodiesFetched} key bodies fetched`;
  return {
    lines: [
      `${what}: ${p.usersRead}${total} users read, ${keys}; ${p.runs} run${p.runs === 1 ? '' : 's'} since ${p.startedAt} (${ago(startedAgo)}), last saved ${p.savedAt} (${ago(savedAgo)})`,
    ],
    data: {
      state: p.firstImport ? 'first-import-in-progress' : 'publish-in-progress',
      // Counters only, even when handed the whole file (not its key lists and bodies).
      ...progressCounts(p),
      savedSecondsAgo: savedAgo,
      startedSecondsAgo: startedAgo,
    },
  };
}

/** What a run takes over from saved progress. */
export interface Resumed {
  /** The parsed file, when it was readable (its counters: did this run advance?). */
  readonly progress?: ImportProgress;
  readonly keyLists: ReadonlyMap<string, SavedKeyList>;
  readonly keyBodies: ReadonlyMap<string, string>;
  /** GetAccountAuthorizationDetails pages read so far in the series, while fresh enough. */
  readonly accountDetails?: AccountDetails;
  /** Why some or all of it was not taken over. */
  readonly warnings: readonly string[];
}

/**
 * Pure: progress.json's text (undefined: none) -> what this run reuses. A
 * malformed file is ignored with a warning; key lists older than maxAgeMs are
 * dropped (they may be stale), key bodies are always kept.
 */
export function resume(text: string | undefined, nowMs: number, maxAgeMs: number): Resumed {
  if (text === undefined) return { keyLists: new Map(), keyBodies: new Map(), warnings: [] };
  let progress: ImportProgress;
  try {
    progress = parseProgress(text);
  } catch (e) {
    if (!(e instanceof ProgressFormatError)) throw e;
    return {
      keyLists: new Map(),
      keyBodies: new Map(),
      warnings: [`ignoring unreadable progress (${e.message}); the series starts over`],
    };
  }
  const keyBodies = new Map(Object.entries(progress.keyBodies));
  const warnings: string[] = [];
  const minutes = Math.round(maxAgeMs / 60_000);
  const saved = progress.accountDetails;
  // Pages go stale like lists: memberships and tags change, users come and go.
  let accountDetails: AccountDetails | undefined;
  if (saved && listsReusable(saved.readAt, nowMs, maxAgeMs)) {
    const { complete, marker, groups } = saved;
    accountDetails = {
      complete,
      ...(marker ? { marker } : {}),
      groups,
      users: new Map(Object.entries(saved.users)),
    };
  } else if (saved)
    warnings.push(
      `saved GetAccountAuthorizationDetails pages from ${saved.readAt} are older than ${minutes} min: reading them again`,
    );
  if (!listsReusable(progress.keyListsSince, nowMs, maxAgeMs)) {
    warnings.push(
      `saved key lists from ${progress.keyListsSince} are older than ${minutes} min: reading them again (${keyBodies.size} saved key bodies kept)`,
    );
    return {
      progress,
      keyLists: new Map(),
      keyBodies,
      ...(accountDetails ? { accountDetails } : {}),
      warnings,
    };
  }
  const keyLists = new Map(Object.entries(progress.keyLists));
  return { progress, keyLists, keyBodies, ...(accountDetails ? { accountDetails } : {}), warnings };
}

const byName = <T>([a]: [string, T], [b]: [string, T]) => (a < b ? -1 : a > b ? 1 : 0);

/** Pure: what a run read of GetAccountAuthorizationDetails, as saved (readAt: its first page's run). */
function savedDetails(d: AccountDetails, readAt: string): SavedAccountDetails {
  const users = nullRecord<UserDetails>();
  for (const [name, u] of [...d.users].sort(byName)) users[name] = u;
  return {
    readAt,
    complete: d.complete,
    ...(!d.complete && d.marker !== undefined ? { marker: d.marker } : {}),
    users,
    groups: [...d.groups].sort(),
  };
}

export interface NextProgressInput {
  readonly resumed: Resumed;
  readonly partial: PartialRead;
  /** Bodies known from index.json and rejected key ids: not counted as missing. */
  readonly knownBodies: ReadonlyMap<string, string>;
  readonly knownRejected: ReadonlySet<string>;
  /** True when the bucket has no readable index.json. */
  readonly noIndex: boolean;
  /** This run's start (the series' start when it is the first run). */
  readonly started: Date;
  readonly now: Date;
}

/** Pure: the progress a run that stopped in time saves. */
export function nextProgress(i: NextProgressInput): ImportProgress {
  const prev = i.resumed.progress;
  const keyLists = nullRecord<SavedKeyList>();
  for (const [name, list] of [...i.partial.keyLists].sort(byName)) keyLists[name] = list;
  const bodies = new Map(i.resumed.keyBodies);
  for (const [id, body] of i.partial.fetched) bodies.set(id, body);
  let missing = 0;
  for (const list of Object.values(keyLists)) {
    for (const k of list.keys) {
      if (
        k.status === 'Active' &&
        !bodies.has(k.id) &&
        !i.knownBodies.has(k.id) &&
        !i.knownRejected.has(k.id)
      )
        missing++;
    }
  }
  // Lists kept from earlier runs keep their age; lists all read now are as old as this run.
  const keptOld = prev !== undefined && i.resumed.keyLists.size > 0;
  // Pages continued from earlier runs keep the time of the first; pages all read now are this run's.
  const details = i.partial.accountDetails;
  const detailsReadAt =
    i.resumed.accountDetails && i.partial.detailsResumed && prev?.accountDetails
      ? prev.accountDetails.readAt
      : i.started.toISOString();
  return {
    kind: PROGRESS_KIND,
    version: PROGRESS_VERSION,
    startedAt: prev?.startedAt ?? i.started.toISOString(),
    savedAt: i.now.toISOString(),
    runs: (prev?.runs ?? 0) + 1,
    firstImport: prev?.firstImport ?? i.noIndex,
    usersTotal: i.partial.usersTotal ?? prev?.usersTotal ?? 0,
    usersRead: Object.keys(keyLists).length,
    usersFound: details?.users.size ?? 0,
    keyBodiesFetched: bodies.size,
    keyBodiesMissing: missing,
    keyListsSince: keptOld ? (prev?.keyListsSince as string) : i.started.toISOString(),
    keyLists,
    keyBodies: Object.fromEntries([...bodies].sort(byName)),
    ...(details && details.users.size + details.groups.length > 0
      ? { accountDetails: savedDetails(details, detailsReadAt) }
      : {}),
  };
}

/**
 * Drops saved key lists of some users (e.g. after an IAM event about them), so
 * the run that finishes the series reads them again rather than publishing a
 * list from before the change.
 */
export function withoutKeyLists(p: ImportProgress, users: readonly string[]): ImportProgress {
  const keyLists = nullRecord<SavedKeyList>();
  const drop = new Set(users);
  for (const [name, list] of Object.entries(p.keyLists)) if (!drop.has(name)) keyLists[name] = list;
  // The saved pages hold memberships and tags the events may have changed: they are read again.
  const { accountDetails: _, ...rest } = p;
  return { ...rest, keyLists, usersRead: Object.keys(keyLists).length, usersFound: 0 };
}

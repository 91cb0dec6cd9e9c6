// Pure: the saved progress of a publish series that ran out of time
// (`<prefix>publisher/progress.json`). Hosts never read it; the plan never
// touches it (it is outside the layout). parseProgress validates all of it:
// a half-understood progress file is ignored, never acted on.
import { nullRecord } from '../contract/index.js';
import { listsReusable } from './deadline.js';
import type { IamKey, PartialRead } from './iam-source.js';

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
}

export class ProgressFormatError extends Error {
  override name = 'ProgressFormatError';
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
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
    throw new ProgressFormatError(`progress.json is not JSON: ${(e as Error).message}`, { cause: e });
  }
  if (!isRecord(v)) fail('not an object');
  if (v.kind !== PROGRESS_KIND) fail(`kind is not ${PROGRESS_KIND}`);
  if (v.version !== PROGRESS_VERSION) fail(`unsupported version ${JSON.stringify(v.version)}`);
  if (typeof v.firstImport !== 'boolean') fail('firstImport is not a boolean');
  if (!isRecord(v.keyLists)) fail('keyLists is not an object');
  if (!isRecord(v.keyBodies)) fail('keyBodies is not an object');
  const keyLists = nullRecord<SavedKeyList>(); // keyed by IAM user name: `__proto__` is one
  for (const [user, list] of Object.entries(v.keyLists)) {
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
  const p: ImportProgress = {
    kind: PROGRESS_KIND,
    version: PROGRESS_VERSION,
    startedAt: isoField(v, 'startedAt'),
    savedAt: isoField(v, 'savedAt'),
    runs: countField(v, 'runs'),
    firstImport: v.firstImport,
    usersTotal: countField(v, 'usersTotal'),
    usersRead: countField(v, 'usersRead'),
    keyBodiesFetched: countField(v, 'keyBodiesFetched'),
    keyBodiesMissing: countField(v, 'keyBodiesMissing'),
    keyListsSince: isoField(v, 'keyListsSince'),
    keyLists,
    keyBodies,
  };
  // The counters are what status and alarms show: they must agree with the data.
  if (p.usersRead !== Object.keys(keyLists).length) fail('usersRead does not match keyLists');
  if (p.keyBodiesFetched !== Object.keys(keyBodies).length) fail('keyBodiesFetched does not match keyBodies');
  return p;
}

export function serializeProgress(p: ImportProgress): string {
  return `${JSON.stringify(p)}\n`;
}

export function progressCounts(p: ProgressCounts): ProgressCounts {
  const { startedAt, savedAt, runs, firstImport, usersTotal, usersRead, keyBodiesFetched, keyBodiesMissing } =
    p;
  return { startedAt, savedAt, runs, firstImport, usersTotal, usersRead, keyBodiesFetched, keyBodiesMissing };
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
  const total = p.usersTotal > 0 ? ` of ${p.usersTotal}` : '';
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
  if (!listsReusable(progress.keyListsSince, nowMs, maxAgeMs)) {
    return {
      progress,
      keyLists: new Map(),
      keyBodies,
      warnings: [
        `saved key lists from ${progress.keyListsSince} are older than ${Math.round(maxAgeMs / 60_000)} min: reading them again (${keyBodies.size} saved key bodies kept)`,
      ],
    };
  }
  return { progress, keyLists: new Map(Object.entries(progress.keyLists)), keyBodies, warnings: [] };
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
  for (const [name, list] of [...i.partial.keyLists].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
    keyLists[name] = list;
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
  return {
    kind: PROGRESS_KIND,
    version: PROGRESS_VERSION,
    startedAt: prev?.startedAt ?? i.started.toISOString(),
    savedAt: i.now.toISOString(),
    runs: (prev?.runs ?? 0) + 1,
    firstImport: prev?.firstImport ?? i.noIndex,
    usersTotal: i.partial.usersTotal ?? prev?.usersTotal ?? 0,
    usersRead: Object.keys(keyLists).length,
    keyBodiesFetched: bodies.size,
    keyBodiesMissing: missing,
    keyListsSince: keptOld ? (prev?.keyListsSince as string) : i.started.toISOString(),
    keyLists,
    keyBodies: Object.fromEntries([...bodies].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))),
  };
}

/**
 * Drops saved key lists of some users (e.g. after an IAM event about them), so
 * the run that finishes the series reads them again rather than publishing a
 * list from before the change.
 */
export function withoutKeyLists(p: ImportProgress, users: readonly string[]): ImportProgress {
  const keyLists = nullRecord(Object.entries(p.keyLists));
  for (const u of users) delete keyLists[u];
  return { ...p, keyLists, usersRead: Object.keys(keyLists).length };
}

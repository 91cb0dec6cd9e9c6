// Reads IAM completely: users, groups, memberships, each user's SSH keys, and
// the bodies of keys not known from the previous run. Any failure throws: the
// caller must not act on a partial snapshot. A read that runs out of time
// (shouldStop) throws IamReadIncompleteError with what it got done.
import {
  GetAccountAuthorizationDetailsCommand,
  type GetAccountAuthorizationDetailsCommandOutput,
  GetSSHPublicKeyCommand,
  type IAMClient,
  ListSSHPublicKeysCommand,
} from '@aws-sdk/client-iam';
import { mapLimitUntil } from './map-limit.js';

export interface IamKey {
  readonly id: string;
  readonly status: 'Active' | 'Inactive';
  /** IAM's UploadDate (ListSSHPublicKeys returns it). Not a claim date: an Inactive key keeps it (render uses index.json's activeSince). */
  readonly uploadDate?: Date;
}

export interface IamTag {
  readonly key: string;
  readonly value: string;
}

export interface IamUser {
  readonly name: string;
  /** IAM's UserId (`AIDA...`): the person, across renames. */
  readonly id: string;
  readonly groups: readonly string[];
  readonly keys: readonly IamKey[];
  /** ALL the user's tags as IAM returned them (render picks the key tags by prefix). */
  readonly tags: readonly IamTag[];
}

export interface IamSnapshot {
  readonly users: readonly IamUser[];
  readonly groups: readonly string[];
  /** Key id -> key text as IAM returned it, for every Active key. */
  readonly bodies: ReadonlyMap<string, string>;
}

export class IamReadError extends Error {
  override name = 'IamReadError';
}

/** A key list read earlier in the series (progress.json), reused while it is fresh enough. */
export interface KnownKeyList {
  readonly userId: string;
  readonly keys: readonly IamKey[];
}

/** One user as GetAccountAuthorizationDetails gives it. */
export interface UserDetails {
  readonly userId: string;
  readonly groups: readonly string[];
  readonly tags: readonly IamTag[];
}

/** GetAccountAuthorizationDetails pages read so far, and the Marker of the next one. */
export interface AccountDetails {
  readonly users: ReadonlyMap<string, UserDetails>;
  readonly groups: readonly string[];
  /** True once the last page was read. */
  readonly complete: boolean;
  /** The next page's Marker (while not complete; undefined before the first page). */
  readonly marker?: string;
}

/** What a read cut short by its deadline got done: the next run of the series continues from it. */
export interface PartialRead {
  /** The GetAccountAuthorizationDetails pages read so far (saved ones included). */
  readonly accountDetails?: AccountDetails;
  /** True when those pages continue the saved ones (false: read from the first page in this run). */
  readonly detailsResumed?: boolean;
  /** Users in GetAccountAuthorizationDetails, when that read completed (undefined if it did not). */
  readonly usersTotal: number | undefined;
  /** User name -> key list, for every user whose list is known (reused or read now). */
  readonly keyLists: ReadonlyMap<string, KnownKeyList>;
  /** Key bodies fetched by this run. */
  readonly fetched: ReadonlyMap<string, string>;
}

/** The read stopped in time (its deadline): nothing may be published from it; `partial` is saved. */
export class IamReadIncompleteError extends Error {
  override name = 'IamReadIncompleteError';
  constructor(
    readonly partial: PartialRead,
    message = 'IAM read stopped before its deadline; progress kept for the next run',
  ) {
    super(message);
  }
}

export interface ReadIamOptions {
  /** Bodies already known (from the previous index.json), by key id. A key id's body never changes. */
  readonly knownBodies?: ReadonlyMap<string, string>;
  /** Key ids whose body was already rejected by an earlier run: not fetched again. */
  readonly knownRejected?: ReadonlySet<string>;
  /** Key lists read earlier in an unfinished series, by user name: reused when the user id still matches. */
  readonly knownKeyLists?: ReadonlyMap<string, KnownKeyList>;
  /** GetAccountAuthorizationDetails pages read earlier in the series: the read continues at their Marker. */
  readonly knownAccountDetails?: AccountDetails;
  /** Told of every call the signal aborted (in flight at the hard stop). */
  readonly onAborted?: () => void;
  /** Told what the read did not take as it was (a saved Marker IAM refused). */
  readonly onWarning?: (warning: string) => void;
  /** Parallel ListSSHPublicKeys / GetSSHPublicKey calls. @default 8 */
  readonly concurrency?: number;
  /** Page size for list calls (tests use small pages). @default undefined (IAM's default) */
  readonly pageSize?: number;
  /**
   * Asked before every IAM call: true = out of time, start no new call (calls in flight finish).
   * Once true, the read ends with IamReadIncompleteError. @default never
   */
  readonly shouldStop?: () => boolean;
  /** Aborts calls still in flight (a hard deadline): they count as not done. */
  readonly signal?: AbortSignal;
}

function wrap(what: string, e: unknown): IamReadError {
  const err = e as { name?: string; message?: string };
  return new IamReadError(`IAM read failed (${what}): ${err.name ?? 'Error'}: ${err.message ?? String(e)}`, {
    cause: e,
  });
}

/** MaxItems of GetAccountAuthorizationDetails (IAM allows 1-1000; it may still return fewer). */
export const GAAD_PAGE_SIZE = 1000;

/** Not done because the deadline aborted it: the series continues it, it is not a failure. */
function isAborted(e: unknown, signal: AbortSignal | undefined): boolean {
  return Boolean(signal?.aborted) || (e as { name?: string }).name === 'AbortError';
}

/** One user's ListSSHPublicKeys pages; undefined when out of time before the last. */
async function listKeys(
  iam: IAMClient,
  name: string,
  pageSize: number | undefined,
  send: { abortSignal?: AbortSignal },
  stop: () => boolean,
): Promise<IamKey[] | undefined> {
  const keys: IamKey[] = [];
  let marker: string | undefined;
  do {
    const res = await iam.send(
      new ListSSHPublicKeysCommand({
        UserName: name,
        ...(pageSize ? { MaxItems: pageSize } : {}),
        Marker: marker,
      }),
      send,
    );
    for (const k of res.SSHPublicKeys ?? []) {
      if (!k.SSHPublicKeyId || (k.Status !== 'Active' && k.Status !== 'Inactive')) {
        throw new IamReadError(`ListSSHPublicKeys returned a malformed key for ${name}`);
      }
      keys.push({
        id: k.SSHPublicKeyId,
        status: k.Status,
        ...(k.UploadDate ? { uploadDate: k.UploadDate } : {}),
      });
    }
    marker = res.IsTruncated ? res.Marker : undefined;
    // A second page is another call: it waits for the deadline check too.
    if (marker && stop()) return undefined;
  } while (marker);
  return keys;
}

export function isNoSuchEntity(e: unknown): boolean {
  const name = (e as { name?: string }).name;
  return name === 'NoSuchEntityException' || name === 'NoSuchEntity';
}

/** A page read mutates this; a stop or an abort hands what it holds to the next run. */
interface DetailsState {
  users: Map<string, UserDetails>;
  groups: Set<string>;
  marker: string | undefined;
  complete: boolean;
  resumed: boolean;
}

function detailsOf(d: DetailsState): AccountDetails {
  return {
    users: d.users,
    groups: [...d.groups],
    complete: d.complete,
    ...(d.marker !== undefined ? { marker: d.marker } : {}),
  };
}

function addPage(d: DetailsState, res: GetAccountAuthorizationDetailsCommandOutput): void {
  for (const u of res.UserDetailList ?? []) {
    if (!u.UserName || !u.UserId)
      throw new IamReadError('GetAccountAuthorizationDetails returned a user without a name or id');
    // Tags come with the user details: keys from tags cost no extra IAM call.
    const tags: IamTag[] = [];
    for (const t of u.Tags ?? []) {
      if (t.Key === undefined || t.Value === undefined)
        throw new IamReadError(`GetAccountAuthorizationDetails returned a malformed tag for ${u.UserName}`);
      tags.push({ key: t.Key, value: t.Value });
    }
    d.users.set(u.UserName, { userId: u.UserId, groups: [...(u.GroupList ?? [])], tags });
  }
  for (const g of res.GroupDetailList ?? []) {
    if (!g.GroupName)
      throw new IamReadError('GetAccountAuthorizationDetails returned a group without a name');
    d.groups.add(g.GroupName);
  }
}

/**
 * GetAccountAuthorizationDetails page by page, continuing at the saved Marker.
 * Out of time, it throws IamReadIncompleteError with the pages read so far (the
 * next run continues there). IAM does not say how long a Marker stays valid: a
 * saved one it refuses starts the read over from the first page, once.
 */
async function readAccountDetails(
  iam: IAMClient,
  opts: ReadIamOptions,
  stop: () => boolean,
  incomplete: (d: DetailsState) => IamReadIncompleteError,
): Promise<DetailsState> {
  const known = opts.knownAccountDetails;
  const d: DetailsState = {
    users: new Map(known?.users ?? []),
    groups: new Set(known?.groups ?? []),
    marker: known?.marker,
    complete: known?.complete ?? false,
    resumed: known !== undefined,
  };
  const send = opts.signal ? { abortSignal: opts.signal } : {};
  // IAM's largest page: 5,000 users are 5 GetAccountAuthorizationDetails calls, not 50.
  const MaxItems = opts.pageSize ?? GAAD_PAGE_SIZE;
  let savedMarker = d.marker !== undefined;
  while (!d.complete) {
    if (stop()) throw incomplete(d);
    let res: GetAccountAuthorizationDetailsCommandOutput;
    try {
      res = await iam.send(
        new GetAccountAuthorizationDetailsCommand({ Filter: ['User', 'Group'], MaxItems, Marker: d.marker }),
        send,
      );
    } catch (e) {
      if (isAborted(e, opts.signal)) {
        opts.onAborted?.();
        throw incomplete(d);
      }
      // Only a plain refusal (400, not throttling) of a saved Marker starts over; anything else fails the run.
      const err = e as { name?: string; $metadata?: { httpStatusCode?: number } };
      const refused = err.$metadata?.httpStatusCode === 400 && !/throttl/i.test(err.name ?? '');
      if (!savedMarker || !refused) throw wrap('GetAccountAuthorizationDetails', e);
      opts.onWarning?.(
        `IAM refused the saved GetAccountAuthorizationDetails Marker (${(e as Error).name}): reading its pages again from the first`,
      );
      Object.assign(d, { users: new Map(), groups: new Set(), marker: undefined, resumed: false });
      savedMarker = false;
      continue;
    }
    savedMarker = false;
    addPage(d, res);
    d.marker = res.IsTruncated ? res.Marker : undefined;
    d.complete = d.marker === undefined;
  }
  return d;
}

/** What the phases of one readIam share. */
interface ReadRun {
  readonly iam: IAMClient;
  readonly opts: ReadIamOptions;
  readonly concurrency: number;
  readonly send: { abortSignal?: AbortSignal };
  /** Asked before every call: true once out of time (sticky). */
  readonly stop: () => boolean;
  /** True (and told to onAborted) when a call failed because the deadline aborted it. */
  readonly aborted: (e: unknown) => boolean;
  /** Key lists saved earlier in the series, by user name. */
  readonly known: ReadonlyMap<string, KnownKeyList>;
}

export async function readIam(iam: IAMClient, opts: ReadIamOptions = {}): Promise<IamSnapshot> {
  const signal = opts.signal;
  // Sticky: once out of time, no call starts again in this run.
  let stopped = false;
  const run: ReadRun = {
    iam,
    opts,
    concurrency: opts.concurrency ?? 8,
    send: { ...(signal ? { abortSignal: signal } : {}) },
    stop: () => {
      if (!stopped && (signal?.aborted || opts.shouldStop?.())) stopped = true;
      return stopped;
    },
    aborted: (e) => {
      const yes = isAborted(e, signal);
      if (yes) opts.onAborted?.();
      return yes;
    },
    known: opts.knownKeyLists ?? new Map<string, KnownKeyList>(),
  };
  const fetched = new Map<string, string>();
  let details: DetailsState | undefined;
  const incomplete = (usersTotal: number | undefined, lists: ReadonlyMap<string, KnownKeyList>) =>
    new IamReadIncompleteError({
      usersTotal,
      keyLists: lists,
      fetched,
      ...(details ? { accountDetails: detailsOf(details) } : {}),
      detailsResumed: details?.resumed ?? false,
    });

  details = await readAccountDetails(iam, opts, run.stop, (d) => {
    details = d;
    return incomplete(undefined, run.known);
  });
  const { users, lists, total } = await readKeyLists(run, details);
  const { bodies, complete } = await readKeyBodies(run, users, lists, fetched);
  if (stopped || !complete || users.length < total) throw incomplete(total, lists);
  return { users, groups: [...details.groups], bodies };
}

/**
 * Every user's key list, reusing a saved one for the same person (user id),
 * never for a re-created name. Users from saved pages IAM no longer has are
 * dropped from `details` (deleted since). A user whose list was not read in
 * time is missing from `users`.
 */
async function readKeyLists(
  run: ReadRun,
  details: DetailsState,
): Promise<{ users: IamUser[]; lists: Map<string, KnownKeyList>; total: number }> {
  const names = [...details.users.keys()];
  const lists = new Map<string, KnownKeyList>();
  const gone = new Set<string>();
  const fromSavedPages = details.resumed;
  const listed = await mapLimitUntil(names, run.concurrency, run.stop, async (name) => {
    const u = details.users.get(name) as UserDetails;
    const base = { name, id: u.userId, groups: u.groups, tags: u.tags };
    const saved = run.known.get(name);
    if (saved && saved.userId === u.userId) {
      lists.set(name, saved);
      return { ...base, keys: saved.keys };
    }
    let keys: IamKey[] | undefined;
    try {
      keys = await listKeys(run.iam, name, run.opts.pageSize, run.send, run.stop);
      if (keys === undefined) return undefined;
    } catch (e) {
      if (e instanceof IamReadError) throw e;
      if (run.aborted(e)) return undefined;
      // Without this, a user deleted during the series failed every run until its pages expired.
      if (fromSavedPages && isNoSuchEntity(e)) {
        gone.add(name);
        run.opts.onWarning?.(`IAM user ${name} from saved pages no longer exists: not published`);
        return undefined;
      }
      throw wrap(`ListSSHPublicKeys ${name}`, e);
    }
    lists.set(name, { userId: u.userId, keys });
    return { ...base, keys };
  });
  // Lists for users GetAccountAuthorizationDetails no longer returns are dropped.
  const users = listed.filter((u): u is IamUser => u !== undefined);
  for (const name of gone) details.users.delete(name);
  return { users, lists, total: names.length - gone.size };
}

/**
 * The bodies of every Active key: known ones reused, the others fetched (into
 * `fetched` too). Not complete when a body is missing or a saved key list named
 * a key IAM no longer has (that list is dropped from `lists`: the next run reads it again).
 */
async function readKeyBodies(
  run: ReadRun,
  users: readonly IamUser[],
  lists: Map<string, KnownKeyList>,
  fetched: Map<string, string>,
): Promise<{ bodies: Map<string, string>; complete: boolean }> {
  const { opts } = run;
  let staleList = false;
  const bodies = new Map<string, string>();
  const toFetch: { user: string; id: string }[] = [];
  for (const u of users) {
    for (const k of u.keys) {
      if (k.status !== 'Active') continue;
      const body = opts.knownBodies?.get(k.id);
      if (body !== undefined) bodies.set(k.id, body);
      else if (!opts.knownRejected?.has(k.id)) toFetch.push({ user: u.name, id: k.id });
    }
  }
  await mapLimitUntil(toFetch, run.concurrency, run.stop, async ({ user, id }) => {
    try {
      const res = await run.iam.send(
        new GetSSHPublicKeyCommand({ UserName: user, SSHPublicKeyId: id, Encoding: 'SSH' }),
        run.send,
      );
      const body = res.SSHPublicKey?.SSHPublicKeyBody;
      if (body === undefined) throw new IamReadError(`GetSSHPublicKey returned no body for ${user} ${id}`);
      bodies.set(id, body);
      fetched.set(id, body);
    } catch (e) {
      if (e instanceof IamReadError) throw e;
      if (run.aborted(e)) return;
      if (isNoSuchEntity(e) && run.known.get(user) === lists.get(user)) {
        lists.delete(user);
        staleList = true;
        opts.onWarning?.(
          `key ${id} in the saved key list of ${user} no longer exists: the list is read again`,
        );
        return;
      }
      throw wrap(`GetSSHPublicKey ${user} ${id}`, e);
    }
  });
  return { bodies, complete: !staleList && toFetch.every((k) => bodies.has(k.id)) };
}

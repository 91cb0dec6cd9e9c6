// Reads IAM completely: users, groups, memberships, each user's SSH keys, and
// the bodies of keys not known from the previous run. Any failure throws: the
// caller must not act on a partial snapshot. A read that runs out of time
// (shouldStop) throws IamReadIncompleteError with what it got done.
import {
  GetAccountAuthorizationDetailsCommand,
  GetSSHPublicKeyCommand,
  type IAMClient,
  ListSSHPublicKeysCommand,
} from '@aws-sdk/client-iam';

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

/** What a read cut short by its deadline got done: the next run of the series continues from it. */
export interface PartialRead {
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

/**
 * Runs fn over items with at most `limit` in flight. After the first failure
 * no new item starts, and it rejects with that failure only once the calls in
 * flight have settled: a failed run must not go on writing after it reported
 * the failure (in the Lambda, such writes could land during the next run).
 */
export async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<R>,
): Promise<R[]> {
  return (await mapLimitUntil(items, limit, () => false, fn)) as R[];
}

/**
 * mapLimit that also starts no new item once `stop()` is true: items never
 * started are left undefined (holes), items in flight finish.
 */
export async function mapLimitUntil<T, R>(
  items: readonly T[],
  limit: number,
  stop: () => boolean,
  fn: (item: T) => Promise<R>,
): Promise<(R | undefined)[]> {
  const out: (R | undefined)[] = new Array(items.length).fill(undefined);
  let next = 0;
  let failed = false;
  const worker = async () => {
    while (!failed && next < items.length && !stop()) {
      const i = next++;
      try {
        out[i] = await fn(items[i] as T);
      } catch (e) {
        failed = true;
        throw e;
      }
    }
  };
  const settled = await Promise.allSettled(
    Array.from({ length: Math.min(Math.max(1, limit), items.length) }, worker),
  );
  const rejected = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (rejected) throw rejected.reason;
  return out;
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
function aborted(e: unknown, signal: AbortSignal | undefined): boolean {
  return Boolean(signal?.aborted) || (e as { name?: string }).name === 'AbortError';
}

export async function readIam(iam: IAMClient, opts: ReadIamOptions = {}): Promise<IamSnapshot> {
  const concurrency = opts.concurrency ?? 8;
  const page = opts.pageSize ? { MaxItems: opts.pageSize } : {};
  // IAM's largest page: 5,000 users are 5 GetAccountAuthorizationDetails calls, not 50.
  const gaadPage = { MaxItems: opts.pageSize ?? GAAD_PAGE_SIZE };
  const signal = opts.signal;
  const send = { ...(signal ? { abortSignal: signal } : {}) };
  // Sticky: once out of time, no call starts again in this run.
  let stopped = false;
  const stop = () => {
    if (!stopped && (signal?.aborted || opts.shouldStop?.())) stopped = true;
    return stopped;
  };
  const known = opts.knownKeyLists ?? new Map<string, KnownKeyList>();
  const fetched = new Map<string, string>();
  const incomplete = (usersTotal: number | undefined, lists: ReadonlyMap<string, KnownKeyList>) =>
    new IamReadIncompleteError({ usersTotal, keyLists: lists, fetched });

  const userGroups = new Map<string, string[]>();
  const userIds = new Map<string, string>();
  const userTags = new Map<string, IamTag[]>();
  const groups = new Set<string>();
  try {
    let marker: string | undefined;
    do {
      if (stop()) throw incomplete(undefined, known);
      const res = await iam.send(
        new GetAccountAuthorizationDetailsCommand({ Filter: ['User', 'Group'], ...gaadPage, Marker: marker }),
        send,
      );
      for (const u of res.UserDetailList ?? []) {
        if (!u.UserName || !u.UserId)
          throw new IamReadError('GetAccountAuthorizationDetails returned a user without a name or id');
        userGroups.set(u.UserName, [...(u.GroupList ?? [])]);
        userIds.set(u.UserName, u.UserId);
        // Tags come with the user details: keys from tags cost no extra IAM call.
        const tags: IamTag[] = [];
        for (const t of u.Tags ?? []) {
          if (t.Key === undefined || t.Value === undefined)
            throw new IamReadError(
              `GetAccountAuthorizationDetails returned a malformed tag for ${u.UserName}`,
            );
          tags.push({ key: t.Key, value: t.Value });
        }
        userTags.set(u.UserName, tags);
      }
      for (const g of res.GroupDetailList ?? []) {
        if (!g.GroupName)
          throw new IamReadError('GetAccountAuthorizationDetails returned a group without a name');
        groups.add(g.GroupName);
      }
      marker = res.IsTruncated ? res.Marker : undefined;
    } while (marker);
  } catch (e) {
    if (e instanceof IamReadError || e instanceof IamReadIncompleteError) throw e;
    if (aborted(e, signal)) throw incomplete(undefined, known);
    throw wrap('GetAccountAuthorizationDetails', e);
  }

  const names = [...userGroups.keys()];
  const lists = new Map<string, KnownKeyList>();
  const listed = await mapLimitUntil(names, concurrency, stop, async (name): Promise<IamUser | undefined> => {
    const userId = userIds.get(name) as string;
    const base = { name, id: userId, groups: userGroups.get(name) ?? [], tags: userTags.get(name) ?? [] };
    const saved = known.get(name);
    // A saved list is reused only for the same person (user id), never for a re-created name.
    if (saved && saved.userId === userId) {
      lists.set(name, saved);
      return { ...base, keys: saved.keys };
    }
    const keys: IamKey[] = [];
    try {
      let marker: string | undefined;
      do {
        const res = await iam.send(
          new ListSSHPublicKeysCommand({ UserName: name, ...page, Marker: marker }),
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
    } catch (e) {
      if (e instanceof IamReadError) throw e;
      if (aborted(e, signal)) return undefined;
      throw wrap(`ListSSHPublicKeys ${name}`, e);
    }
    lists.set(name, { userId, keys });
    return { ...base, keys };
  });
  // Lists for users GetAccountAuthorizationDetails no longer returns are dropped.
  const users = listed.filter((u): u is IamUser => u !== undefined);

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
  await mapLimitUntil(toFetch, concurrency, stop, async ({ user, id }) => {
    try {
      const res = await iam.send(
        new GetSSHPublicKeyCommand({ UserName: user, SSHPublicKeyId: id, Encoding: 'SSH' }),
        send,
      );
      const body = res.SSHPublicKey?.SSHPublicKeyBody;
      if (body === undefined) throw new IamReadError(`GetSSHPublicKey returned no body for ${user} ${id}`);
      bodies.set(id, body);
      fetched.set(id, body);
    } catch (e) {
      if (e instanceof IamReadError) throw e;
      if (aborted(e, signal)) return;
      throw wrap(`GetSSHPublicKey ${user} ${id}`, e);
    }
  });

  if (stopped || users.length < names.length || toFetch.some((k) => !bodies.has(k.id))) {
    throw incomplete(names.length, lists);
  }
  return { users, groups: [...groups], bodies };
}

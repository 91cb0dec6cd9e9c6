// Reads IAM completely: users, groups, memberships, each user's SSH keys, and
// the bodies of keys not known from the previous run. Any failure throws: the
// caller must not act on a partial snapshot.
import {
  GetSSHPublicKeyCommand,
  type IAMClient,
  paginateGetAccountAuthorizationDetails,
  paginateListSSHPublicKeys,
} from '@aws-sdk/client-iam';

export interface IamKey {
  readonly id: string;
  readonly status: 'Active' | 'Inactive';
  /** IAM's UploadDate (ListSSHPublicKeys returns it: no extra call); decides who holds a copied key first. */
  readonly uploadDate?: Date;
}

export interface IamUser {
  readonly name: string;
  /** IAM's UserId (`AIDA...`): the person, across renames. */
  readonly id: string;
  readonly groups: readonly string[];
  readonly keys: readonly IamKey[];
  /** The user's IAM tags (keys may live in tags, DESIGN "Keys from IAM user tags"). */
  readonly tags: readonly { readonly key: string; readonly value: string }[];
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

export interface ReadIamOptions {
  /** Bodies already known (from the previous index.json), by key id. A key id's body never changes. */
  readonly knownBodies?: ReadonlyMap<string, string>;
  /** Key ids whose body was already rejected by an earlier run: not fetched again. */
  readonly knownRejected?: ReadonlySet<string>;
  /** Parallel ListSSHPublicKeys / GetSSHPublicKey calls. @default 8 */
  readonly concurrency?: number;
  /** Page size for list calls (tests use small pages). @default undefined (IAM's default) */
  readonly pageSize?: number;
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
  const out: R[] = new Array(items.length);
  let next = 0;
  let failed = false;
  const worker = async () => {
    while (!failed && next < items.length) {
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

export async function readIam(iam: IAMClient, opts: ReadIamOptions = {}): Promise<IamSnapshot> {
  const concurrency = opts.concurrency ?? 8;
  const pagination = { client: iam, ...(opts.pageSize ? { pageSize: opts.pageSize } : {}) };

  const userGroups = new Map<string, string[]>();
  const userIds = new Map<string, string>();
  const userTags = new Map<string, { key: string; value: string }[]>();
  const groups = new Set<string>();
  try {
    for await (const page of paginateGetAccountAuthorizationDetails(pagination, {
      Filter: ['User', 'Group'],
    })) {
      for (const u of page.UserDetailList ?? []) {
        if (!u.UserName || !u.UserId)
          throw new IamReadError('GetAccountAuthorizationDetails returned a user without a name or id');
        userGroups.set(u.UserName, [...(u.GroupList ?? [])]);
        userIds.set(u.UserName, u.UserId);
        userTags.set(
          u.UserName,
          (u.Tags ?? []).map((t) => ({ key: t.Key ?? '', value: t.Value ?? '' })),
        );
      }
      for (const g of page.GroupDetailList ?? []) {
        if (!g.GroupName)
          throw new IamReadError('GetAccountAuthorizationDetails returned a group without a name');
        groups.add(g.GroupName);
      }
    }
  } catch (e) {
    throw e instanceof IamReadError ? e : wrap('GetAccountAuthorizationDetails', e);
  }

  const names = [...userGroups.keys()];
  const users = await mapLimit(names, concurrency, async (name): Promise<IamUser> => {
    const keys: IamKey[] = [];
    try {
      for await (const page of paginateListSSHPublicKeys(pagination, { UserName: name })) {
        for (const k of page.SSHPublicKeys ?? []) {
          if (!k.SSHPublicKeyId || (k.Status !== 'Active' && k.Status !== 'Inactive')) {
            throw new IamReadError(`ListSSHPublicKeys returned a malformed key for ${name}`);
          }
          keys.push({
            id: k.SSHPublicKeyId,
            status: k.Status,
            ...(k.UploadDate ? { uploadDate: k.UploadDate } : {}),
          });
        }
      }
    } catch (e) {
      throw e instanceof IamReadError ? e : wrap(`ListSSHPublicKeys ${name}`, e);
    }
    return {
      name,
      id: userIds.get(name) as string,
      groups: userGroups.get(name) ?? [],
      keys,
      tags: userTags.get(name) ?? [],
    };
  });

  const bodies = new Map<string, string>();
  const toFetch: { user: string; id: string }[] = [];
  for (const u of users) {
    for (const k of u.keys) {
      if (k.status !== 'Active') continue;
      const known = opts.knownBodies?.get(k.id);
      if (known !== undefined) bodies.set(k.id, known);
      else if (!opts.knownRejected?.has(k.id)) toFetch.push({ user: u.name, id: k.id });
    }
  }
  await mapLimit(toFetch, concurrency, async ({ user, id }) => {
    try {
      const res = await iam.send(
        new GetSSHPublicKeyCommand({ UserName: user, SSHPublicKeyId: id, Encoding: 'SSH' }),
      );
      const body = res.SSHPublicKey?.SSHPublicKeyBody;
      if (body === undefined) throw new IamReadError(`GetSSHPublicKey returned no body for ${user} ${id}`);
      bodies.set(id, body);
    } catch (e) {
      throw e instanceof IamReadError ? e : wrap(`GetSSHPublicKey ${user} ${id}`, e);
    }
  });

  return { users, groups: [...groups], bodies };
}

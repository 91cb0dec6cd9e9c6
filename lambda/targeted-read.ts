// A targeted run's IAM snapshot: the previous index.json stands in for the part
// of IAM an event did not touch, fresh IAM reads replace the users and groups it
// names. The result goes through the same render as a full run, so it must give
// the bytes a full run would; where the index cannot stand in for IAM exactly,
// this says "full run" instead of guessing.
import {
  GetSSHPublicKeyCommand,
  GetUserCommand,
  type IAMClient,
  paginateGetGroup,
  paginateListGroupsForUser,
  paginateListSSHPublicKeys,
} from '@aws-sdk/client-iam';
import {
  DEFAULT_TAG_KEY_PREFIX,
  own,
  type PublishedIndex,
  TAG_ID_PREFIX,
  tagBodyId,
} from '../contract/index.js';
import { onlyRemovals, type UndecidedCopy, undecidedCopies } from './copied-key-clash.js';
import type { Expectation, Targets } from './event-targets.js';
import { type IamKey, IamReadError, type IamSnapshot, type IamUser } from './iam-source.js';
import { mapLimit } from './map-limit.js';

/** A snapshot being edited: users by name. */
export interface MutableSnapshot {
  readonly users: Map<string, IamUser>;
  readonly groups: Set<string>;
  readonly bodies: Map<string, string>;
}

export function frozen(s: MutableSnapshot): IamSnapshot {
  return { users: [...s.users.values()], groups: [...s.groups], bodies: s.bodies };
}

/**
 * The IAM state the previous index.json describes, as readIam would have
 * returned it (less inactive keys and upload dates, which render does not need
 * for users whose keys nobody else holds). The ONE place that maps index ->
 * snapshot: tag keys are restored here when the index carries them.
 * Undefined when the index cannot stand in (version 1: no user ids; a tag entry whose value
 * is not recorded).
 */
export function snapshotFromIndex(index: PublishedIndex): MutableSnapshot | undefined {
  if (index.version < 2) return undefined;
  const users = new Map<string, IamUser>();
  for (const [name, e] of Object.entries(index.users)) {
    if (!e.userId) return undefined;
    const entries = [...e.keys, ...(e.rejectedKeys ?? [])];
    const ids = entries
      .filter((k) => k.tagKey === undefined && !k.id.startsWith(TAG_ID_PREFIX))
      .map((k) => k.id);
    // Tag keys: their value is recorded under tagBodyId (published and refused ones alike); a tag
    // whose value is not there (an index written before that record) cannot be restored: full run.
    const tags: { key: string; value: string }[] = [];
    for (const k of entries) {
      if (k.tagKey === undefined) {
        if (k.id.startsWith(TAG_ID_PREFIX)) return undefined;
        continue;
      }
      const value = own(index.keyBodies, tagBodyId(e.userId, k.tagKey));
      if (value === undefined) return undefined;
      if (!tags.some((t) => t.key === k.tagKey)) tags.push({ key: k.tagKey, value });
    }
    users.set(name, {
      name,
      id: e.userId,
      groups: [...e.groups],
      keys: ids.map((id) => ({ id, status: 'Active' as const })),
      tags,
    });
  }
  return {
    users,
    groups: new Set(Object.keys(index.groups)),
    bodies: new Map(Object.entries(index.keyBodies)),
  };
}

const isGone = (e: unknown) => /^NoSuchEntity(Exception)?$/.test((e as { name?: string }).name ?? '');

function wrap(what: string, e: unknown): IamReadError {
  if (e instanceof IamReadError) return e;
  const err = e as { name?: string; message?: string };
  return new IamReadError(`IAM read failed (${what}): ${err.name ?? 'Error'}: ${err.message ?? String(e)}`, {
    cause: e,
  });
}

/** IAM compares user and group names without regard to letter case, and keeps the spelling a name was created with. */
export function foldName(name: string): string {
  return name.toLowerCase();
}

/**
 * Why event names cannot be applied to index.json as spelled (CloudTrail records a name as the
 * caller typed it, IAM answers to any letter case): a name index.json knows only in another letter
 * case, index.json names equal but for case, or two event names that are. Undefined when each name
 * is known exactly or not at all.
 */
export function nameMismatch(
  kind: 'user' | 'group',
  names: readonly string[],
  known: Iterable<string>,
): string | undefined {
  const byFold = new Map<string, string[]>();
  for (const k of known) byFold.set(foldName(k), [...(byFold.get(foldName(k)) ?? []), k]);
  const seen = new Map<string, string>();
  for (const n of names) {
    const other = seen.get(foldName(n));
    if (other !== undefined && other !== n)
      return `events name ${kind} ${other} and ${n}, one IAM ${kind} (names are case-insensitive)`;
    seen.set(foldName(n), n);
    const same = byFold.get(foldName(n)) ?? [];
    if (same.length > 1) return `index.json has ${kind}s ${same.join(', ')}, equal but for letter case`;
    if (same.length === 1 && same[0] !== n)
      return `an event names ${kind} ${n}, which IAM spells ${same[0]} (names are case-insensitive)`;
  }
  return undefined;
}

/**
 * The first target IAM spells otherwise than the event (a name index.json does not know yet, in
 * another letter case): its objects must be IAM's spelling, so that takes a full run.
 */
export function respelledName(
  targets: Targets,
  reads: {
    readonly users: readonly ({ readonly user: IamUser } | undefined)[];
    readonly groupMembers: ReadonlyMap<string, { readonly name: string } | undefined>;
  },
): string | undefined {
  const pairs = [
    ...reads.users.flatMap((u, i) =>
      u && u.user.name !== targets.users[i] ? [[targets.users[i], u.user.name]] : [],
    ),
    ...[...reads.groupMembers].flatMap(([g, got]) => (got && got.name !== g ? [[g, got.name]] : [])),
  ];
  const [given, iams] = pairs[0] ?? [];
  return given === undefined
    ? undefined
    : `an event names ${given}, which IAM spells ${iams} (names are case-insensitive)`;
}

/** One user, fresh from IAM (under IAM's spelling of its name); undefined when IAM no longer has it. */
export async function readUser(
  iam: IAMClient,
  name: string,
  known: { readonly bodies: ReadonlyMap<string, string>; readonly rejectedIds: ReadonlySet<string> },
): Promise<{ user: IamUser; bodies: Map<string, string> } | undefined> {
  let id: string;
  let canonical: string;
  let tags: IamUser['tags'];
  try {
    const res = await iam.send(new GetUserCommand({ UserName: name }));
    if (!res.User?.UserId || !res.User.UserName)
      throw new IamReadError(`GetUser returned no user id or name for ${name}`);
    id = res.User.UserId;
    canonical = res.User.UserName;
    tags = (res.User.Tags ?? []).map((t) => ({ key: t.Key ?? '', value: t.Value ?? '' }));
  } catch (e) {
    if (isGone(e)) return undefined;
    throw wrap(`GetUser ${name}`, e);
  }
  const groups: string[] = [];
  const keys: IamKey[] = [];
  try {
    for await (const page of paginateListGroupsForUser({ client: iam }, { UserName: name })) {
      for (const g of page.Groups ?? []) {
        if (!g.GroupName)
          throw new IamReadError(`ListGroupsForUser returned a group without a name for ${name}`);
        groups.push(g.GroupName);
      }
    }
    for await (const page of paginateListSSHPublicKeys({ client: iam }, { UserName: name })) {
      for (const k of page.SSHPublicKeys ?? []) {
        if (!k.SSHPublicKeyId || (k.Status !== 'Active' && k.Status !== 'Inactive'))
          throw new IamReadError(`ListSSHPublicKeys returned a malformed key for ${name}`);
        keys.push({
          id: k.SSHPublicKeyId,
          status: k.Status,
          ...(k.UploadDate ? { uploadDate: k.UploadDate } : {}),
        });
      }
    }
  } catch (e) {
    // Deleted between GetUser and here: the DeleteUser event that follows re-reads it.
    if (isGone(e)) return undefined;
    throw wrap(`ListGroupsForUser/ListSSHPublicKeys ${name}`, e);
  }
  const bodies = new Map<string, string>();
  for (const k of keys) {
    if (k.status !== 'Active') continue;
    const body = known.bodies.get(k.id);
    if (body !== undefined) bodies.set(k.id, body);
    else if (!known.rejectedIds.has(k.id)) {
      try {
        const res = await iam.send(
          new GetSSHPublicKeyCommand({ UserName: name, SSHPublicKeyId: k.id, Encoding: 'SSH' }),
        );
        const text = res.SSHPublicKey?.SSHPublicKeyBody;
        if (text === undefined)
          throw new IamReadError(`GetSSHPublicKey returned no body for ${name} ${k.id}`);
        bodies.set(k.id, text);
      } catch (e) {
        if (isGone(e)) continue; // deleted since the listing: its DeleteSSHPublicKey event follows
        throw wrap(`GetSSHPublicKey ${name} ${k.id}`, e);
      }
    }
  }
  return { user: { name: canonical, id, groups, keys, tags }, bodies };
}

/** A group (IAM's spelling of its name) and its members, fresh from IAM; undefined when IAM no longer has it. */
export async function readGroupMembers(
  iam: IAMClient,
  group: string,
): Promise<{ name: string; members: string[] } | undefined> {
  const members: string[] = [];
  let name = group;
  try {
    // 1000 is IAM's largest page: a 5,000-member group costs 5 calls.
    for await (const page of paginateGetGroup({ client: iam, pageSize: 1000 }, { GroupName: group })) {
      name = page.Group?.GroupName ?? name;
      for (const u of page.Users ?? []) {
        if (!u.UserName) throw new IamReadError(`GetGroup returned a member without a name in ${group}`);
        members.push(u.UserName);
      }
    }
  } catch (e) {
    if (isGone(e)) return undefined;
    throw wrap(`GetGroup ${group}`, e);
  }
  return { name, members };
}

export type TargetedSnapshot =
  | {
      readonly kind: 'snapshot';
      readonly snapshot: IamSnapshot;
      /** Expectations the reads still did not show after the retries (published as read). */
      readonly unconfirmed: readonly string[];
      /**
       * Touched users in a copied-key clash index.json has not decided: their part of the snapshot
       * holds only their removals (onlyRemovals); a full run publishes the rest.
       */
      readonly undecided: readonly UndecidedCopy[];
    }
  | { readonly kind: 'full'; readonly reason: string };

/** The expectations (what the events did) that fresh reads of their users do not show. */
export function unmetExpectations(
  expect: readonly Expectation[],
  users: ReadonlyMap<string, IamUser | undefined>,
): string[] {
  const out: string[] = [];
  for (const e of expect) {
    const u = users.get(e.user);
    if ('keyId' in e) {
      const key = u?.keys.find((k) => k.id === e.keyId);
      const ok =
        e.status === 'deleted'
          ? key === undefined
          : e.status === 'Active'
            ? key?.status === 'Active'
            : key?.status !== 'Active';
      if (!ok) out.push(`key ${e.keyId} of ${e.user} is not ${e.status} yet`);
    } else if ('group' in e) {
      if ((u?.groups.includes(e.group) ?? false) !== e.member)
        out.push(`${e.user} is ${e.member ? 'not yet' : 'still'} in ${e.group}`);
    } else if ((u !== undefined) !== e.exists)
      out.push(`${e.user} ${e.exists ? 'does not exist yet' : 'still exists'}`);
  }
  return out;
}

export interface TargetedReadOptions {
  /** Parallel user reads. @default 8 */
  readonly concurrency?: number;
  /**
   * Waits before re-reading when the reads do not show what the events did yet
   * (IAM is eventually consistent). @default [1000, 2000, 4000]
   */
  readonly retryDelaysMs?: readonly number[];
  readonly sleep?: (ms: number) => Promise<void>;
  /** User tags whose key starts with this hold public keys. @default 'ssh-key:' */
  readonly tagKeyPrefix?: string;
}

/**
 * Reads what the events name, then re-reads after each delay while IAM does not yet show what
 * they did (eventual consistency). A string: IAM spells a name otherwise than the event (full run).
 */
async function readUntilConfirmed(
  iam: IAMClient,
  targets: Targets,
  known: { readonly bodies: ReadonlyMap<string, string>; readonly rejectedIds: ReadonlySet<string> },
  opts: TargetedReadOptions,
) {
  const read = async () => {
    const groupMembers = new Map<string, Awaited<ReturnType<typeof readGroupMembers>>>();
    for (const g of targets.groups) groupMembers.set(g, await readGroupMembers(iam, g));
    const users = await mapLimit(targets.users, opts.concurrency ?? 8, (n) => readUser(iam, n, known));
    return { groupMembers, users };
  };
  const unmet = (r: Awaited<ReturnType<typeof read>>) =>
    unmetExpectations(targets.expect ?? [], new Map(targets.users.map((n, i) => [n, r.users[i]?.user])));
  let reads = await read();
  const respelled = respelledName(targets, reads);
  if (respelled) return respelled;
  const sleep = opts.sleep ?? ((ms: number) => new Promise<void>((res) => setTimeout(res, ms)));
  for (const delay of opts.retryDelaysMs ?? [1000, 2000, 4000]) {
    if (unmet(reads).length === 0) break;
    await sleep(delay);
    reads = await read();
  }
  return { reads, unconfirmed: unmet(reads) };
}

/**
 * The previous index with the targets re-read from IAM. Asks for a full run
 * when the index cannot describe the rest of IAM exactly enough: a name spelled
 * in another letter case than IAM's, a member or a user id the index does not
 * know (an event was missed). A public key the touched users share with anyone
 * stays targeted when index.json already decided who keeps it (undecidedCopies);
 * otherwise the user is `undecided`.
 */
export async function targetedSnapshot(
  iam: IAMClient,
  previous: PublishedIndex,
  targets: Targets,
  known: { readonly bodies: ReadonlyMap<string, string>; readonly rejectedIds: ReadonlySet<string> },
  opts: TargetedReadOptions = {},
): Promise<TargetedSnapshot> {
  const full = (reason: string): TargetedSnapshot => ({ kind: 'full', reason });
  const s = snapshotFromIndex(previous);
  if (!s)
    return full(
      `index.json (version ${previous.version}) cannot stand in for IAM: an entry lacks its IAM user id or a tag's recorded value`,
    );
  // Names resolve against index.json as IAM does, without regard to case: a name spelled otherwise
  // than IAM's would delete or create the wrong object, so that takes a full run.
  const mismatch =
    nameMismatch('user', targets.users, s.users.keys()) ?? nameMismatch('group', targets.groups, s.groups);
  if (mismatch) return full(mismatch);
  const touched = new Set(targets.users);

  const confirmed = await readUntilConfirmed(iam, targets, known, opts);
  if (typeof confirmed === 'string') return full(confirmed);
  const { reads, unconfirmed } = confirmed;

  // Groups first; a touched user's own fresh group list below is just as authoritative.
  for (const [g, got] of reads.groupMembers) {
    if (got === undefined) s.groups.delete(g);
    else s.groups.add(g);
    const set = new Set(got?.members ?? []);
    for (const m of set) {
      if (!s.users.has(m) && !touched.has(m))
        return full(`group ${g} has member ${m}, unknown to index.json`);
    }
    for (const [name, u] of s.users) {
      const others = u.groups.filter((x) => x !== g);
      s.users.set(name, { ...u, groups: set.has(name) ? [...others, g] : others });
    }
  }

  // Users: drop every touched name first, so a rename (old and new name) is seen whole.
  for (const n of targets.users) s.users.delete(n);
  const fresh: IamUser[] = [];
  for (const r of reads.users) {
    if (!r) continue;
    for (const [id, body] of r.bodies) s.bodies.set(id, body);
    fresh.push(r.user);
  }
  for (const u of fresh) {
    const clash = [...s.users.values()].find((o) => o.id === u.id);
    if (clash) return full(`IAM user ${u.name} has the id of ${clash.name} in index.json (a missed rename)`);
    s.users.set(u.name, u);
    for (const g of u.groups) s.groups.add(g);
  }
  // Groups' members are derived from users' lists in render: a touched user's fresh list
  // adds or removes them from any group, named by the event or not.

  // Copied keys: a clash index.json has decided stays decided; one it has not takes a full run.
  const prefix = opts.tagKeyPrefix ?? DEFAULT_TAG_KEY_PREFIX;
  const gone = targets.users.filter((n) => !fresh.some((u) => u.name === n));
  const undecided = undecidedCopies(previous, s, fresh, gone, prefix);
  for (const d of undecided) {
    const u = s.users.get(d.user);
    if (u) s.users.set(d.user, onlyRemovals(u, previous, prefix));
  }
  return { kind: 'snapshot', snapshot: frozen(s), unconfirmed, undecided };
}

// Pure: IAM snapshot (+ the previous index) -> the objects the bucket should
// hold and the new index.json. Same input, same bytes. `render` composes named
// pure phases, each with typed input and output: publishable users, keys parsed
// and copied-key keepers (render-keys.ts), local names, uids, users, groups.
import {
  DEFAULT_TAG_KEY_PREFIX,
  DIRECTORY_VERSION,
  type DirectoryUser,
  groupKey,
  IAM_GROUP_NAME,
  IAM_USER_NAME,
  INDEX_VERSION,
  type IndexUser,
  iamToLocalName,
  nullRecord,
  own,
  type PublishedIndex,
  serializeDirectory,
  TAG_ID_PREFIX,
  userKey,
} from '../contract/index.js';
import type { IamSnapshot, IamUser } from './iam-source.js';
import {
  byCodeUnit,
  type KeyContext,
  keyKeepers,
  type ParsedKeys,
  type PreviousEntry,
  type Problem,
  parseKeys,
  userKeys,
} from './render-keys.js';

export {
  activeSince,
  byCodeUnit,
  copiedKeyReason,
  DUPLICATE_KEY_REASON,
  duplicateOwnKeyReason,
  firstHolder,
  type KeyClaim,
  type Problem,
} from './render-keys.js';

export interface RenderOptions {
  readonly prefix: string;
  /** First uid handed out when the previous index has none. */
  readonly uidBase: number;
  readonly now: Date;
  /** User tags whose key starts with this hold public keys. @default 'ssh-key:' */
  readonly tagKeyPrefix?: string;
}

export interface Rendered {
  /** Object key -> body, for every user and group object (not index.json). */
  readonly objects: ReadonlyMap<string, string>;
  readonly index: PublishedIndex;
  /** directory.json: what hosts need of every user (no keys, no timestamp: it changes only with the data). */
  readonly directory: string;
  /** Active keys not published, and users without a usable local name. */
  readonly problems: readonly Problem[];
  readonly keyCount: number;
}

/**
 * Previous index's rejections of key bodies, by key id: those bodies are not
 * kept (so not fetched again), their reason is. Keys refused as copies have
 * their body in keyBodies and are not among them.
 */
function previousRejections(previous: PublishedIndex | undefined): Map<string, string> {
  const out = new Map<string, string>();
  for (const u of Object.values(previous?.users ?? {})) {
    for (const r of u.rejectedKeys ?? []) {
      // A tag's value can change under the same tag key: its rejection is never carried.
      if (r.tagKey !== undefined || r.id.startsWith(TAG_ID_PREFIX)) continue;
      if (r.fingerprint === undefined && own(previous?.keyBodies, r.id) === undefined)
        out.set(r.id, r.reason);
    }
  }
  return out;
}

/** Ids of Active keys whose bodies need not be fetched again: known ones and ones rejected for their body. */
export function knownKeyBodies(previous: PublishedIndex | undefined): {
  bodies: Map<string, string>;
  rejectedIds: Set<string>;
} {
  return {
    // Key-store ids only: a tag's value can change under the same tag key.
    bodies: new Map(
      Object.entries(previous?.keyBodies ?? {}).filter(([id]) => !id.startsWith(TAG_ID_PREFIX)),
    ),
    rejectedIds: new Set(previousRejections(previous).keys()),
  };
}

/**
 * Uids by IAM user id, and uids reserved under a name. A version 1 index keyed
 * them by name: each name still in IAM hands its uid to that user's id, the
 * others stay reserved under their name so they are never handed out again.
 */
function carriedUids(
  snapshot: IamSnapshot,
  previous: PublishedIndex | undefined,
): { uids: Record<string, number>; retired: Record<string, number> } {
  const retired = nullRecord(Object.entries(previous?.retiredUids ?? {}));
  if (previous === undefined || previous.version >= 2)
    return { uids: nullRecord(Object.entries(previous?.uids ?? {})), retired };
  const idByName = new Map(snapshot.users.map((u) => [u.name, u.id]));
  const uids = nullRecord<number>();
  for (const [name, uid] of Object.entries(previous.uids)) {
    const id = idByName.get(name);
    if (id !== undefined && !Object.hasOwn(uids, id)) uids[id] = uid;
    else retired[name] = uid;
  }
  return { uids, retired };
}

/** A user's local name, or why they have none. */
interface LocalName {
  readonly name: string | null;
  readonly problem?: string;
}

/** What the phases of render share: the run's options, the previous index, and what the key phases need. */
interface RenderContext extends KeyContext {
  readonly opts: RenderOptions;
  readonly previous: PublishedIndex | undefined;
}

/** Phase: the users whose names can be object keys, in code-unit order, and the others as problems. */
function publishableUsers(snapshot: IamSnapshot): { users: IamUser[]; problems: Problem[] } {
  const problems: Problem[] = [];
  for (const u of snapshot.users) {
    if (!IAM_USER_NAME.test(u.name))
      problems.push({ user: u.name, reason: 'user name cannot be an object key' });
  }
  const users = [...snapshot.users]
    .filter((u) => IAM_USER_NAME.test(u.name))
    .sort((a, b) => byCodeUnit(a.name, b.name));
  return { users, problems };
}

/**
 * A user's entry in the previous index: by user id from version 2 (it survives a rename and is
 * not inherited by a re-created name), by name before.
 */
function previousEntries(previous: PublishedIndex | undefined): PreviousEntry {
  const previousById = new Map<string, IndexUser>();
  for (const e of Object.values(previous?.users ?? {})) if (e.userId) previousById.set(e.userId, e);
  return (u) =>
    previous === undefined
      ? undefined
      : previous.version >= 2
        ? previousById.get(u.id)
        : own(previous.users, u.name);
}

/**
 * Phase: local names. Refuse names that are unusable or that two IAM users would share. A name
 * that already belonged to one of them stays with it: creating IAM user `a+b` must not
 * take `a.plus.b`'s login (and, through sync-users, its account) away.
 */
function localNamesOf(users: readonly IamUser[], previousEntry: PreviousEntry): Map<string, LocalName> {
  const localOwners = new Map<string, IamUser[]>();
  const localNames = new Map<string, LocalName>();
  for (const u of users) {
    const r = iamToLocalName(u.name);
    if (r.ok) localOwners.set(r.name, [...(localOwners.get(r.name) ?? []), u]);
    else localNames.set(u.name, { name: null, problem: r.reason });
  }
  for (const [local, owners] of localOwners) {
    const had = owners.filter((o) => previousEntry(o)?.localName === local);
    const keeper = owners.length === 1 ? owners[0] : had.length === 1 ? had[0] : undefined;
    for (const owner of owners) {
      localNames.set(
        owner.name,
        owner === keeper
          ? { name: local }
          : keeper !== undefined
            ? { name: null, problem: `local name ${local} already belongs to IAM user ${keeper.name}` }
            : {
                name: null,
                problem: `local name ${local} is shared by IAM users ${owners.map((o) => o.name).join(', ')}`,
              },
      );
    }
  }
  return localNames;
}

interface UidTable {
  /** IAM user id -> uid, for every current user (and carried ones). */
  readonly uids: Record<string, number>;
  /** Uids reserved under a name (version 1 entries whose user is gone). */
  readonly retired: Record<string, number>;
  readonly nextUid: number;
}

/**
 * Phase: stable uids, one per IAM user id: a rename keeps it, a re-created name gets a fresh one,
 * and none is ever handed out twice. New users get theirs in name order.
 */
function allocateUids(
  snapshot: IamSnapshot,
  previous: PublishedIndex | undefined,
  users: readonly IamUser[],
  uidBase: number,
): UidTable {
  const { uids, retired } = carriedUids(snapshot, previous);
  let nextUid = Math.max(previous?.nextUid ?? 0, uidBase);
  for (const uid of [...Object.values(uids), ...Object.values(retired)]) nextUid = Math.max(nextUid, uid + 1);
  for (const u of users) {
    if (!Object.hasOwn(uids, u.id)) uids[u.id] = nextUid++;
  }
  return { uids, retired, nextUid };
}

/** A user's groups as published: valid group names, code-unit order. */
function groupsOf(u: IamUser): string[] {
  return [...u.groups].filter((g) => IAM_GROUP_NAME.test(g)).sort(byCodeUnit);
}

interface RenderedUsers {
  /** User name -> their authorized_keys text (what their groups' objects concatenate). */
  readonly linesByUser: ReadonlyMap<string, string>;
  readonly indexUsers: Record<string, IndexUser>;
  readonly keyBodies: Record<string, string>;
  readonly problems: readonly Problem[];
  readonly keyCount: number;
}

/** Phase: every user's object text and index entry, from the decisions of the phases before. */
function renderUsers(
  users: readonly IamUser[],
  parsed: ParsedKeys,
  decided: {
    readonly keepers: ReadonlyMap<string, string | undefined>;
    readonly localNames: ReadonlyMap<string, LocalName>;
    readonly uids: UidTable;
  },
  ctx: RenderContext,
): RenderedUsers {
  const linesByUser = new Map<string, string>();
  const indexUsers = nullRecord<IndexUser>();
  const keyBodies = nullRecord<string>();
  const problems: Problem[] = [];
  let keyCount = 0;
  for (const u of users) {
    const k = userKeys(
      u,
      parsed.byUser.get(u.name) ?? [],
      { keepers: decided.keepers, holders: parsed.holders },
      ctx,
    );
    for (const [id, body] of k.bodies) keyBodies[id] = body;
    problems.push(...k.problems);
    keyCount += k.keys.length;
    const local = decided.localNames.get(u.name) ?? { name: null, problem: 'no local name' };
    if (local.problem) problems.push({ user: u.name, reason: local.problem });
    linesByUser.set(u.name, k.text);
    indexUsers[u.name] = {
      userId: u.id,
      localName: local.name,
      ...(local.problem ? { localNameProblem: local.problem } : {}),
      uid: own(decided.uids.uids, u.id) as number,
      groups: groupsOf(u),
      keys: [...k.keys],
      ...(k.rejectedKeys.length ? { rejectedKeys: [...k.rejectedKeys] } : {}),
    };
  }
  return { linesByUser, indexUsers, keyBodies, problems, keyCount };
}

/** Phase: every group's members (code-unit order) and its object: its members' lines, concatenated. */
function renderGroups(
  snapshot: IamSnapshot,
  users: readonly IamUser[],
  rendered: RenderedUsers,
  prefix: string,
): { indexGroups: Record<string, { members: string[] }>; objects: Map<string, string> } {
  const members = new Map<string, string[]>();
  for (const g of snapshot.groups) if (IAM_GROUP_NAME.test(g)) members.set(g, []);
  for (const u of users) {
    for (const g of own(rendered.indexUsers, u.name)?.groups ?? [])
      members.set(g, [...(members.get(g) ?? []), u.name]);
  }
  const indexGroups = nullRecord<{ members: string[] }>();
  const objects = new Map<string, string>();
  for (const g of [...members.keys()].sort(byCodeUnit)) {
    const m = (members.get(g) ?? []).sort(byCodeUnit);
    indexGroups[g] = { members: m };
    objects.set(groupKey(prefix, g), m.map((name) => rendered.linesByUser.get(name) ?? '').join(''));
  }
  return { indexGroups, objects };
}

export function render(
  snapshot: IamSnapshot,
  previous: PublishedIndex | undefined,
  opts: RenderOptions,
): Rendered {
  const ctx: RenderContext = {
    opts,
    previous,
    now: opts.now,
    previousEntry: previousEntries(previous),
    oldRejections: previousRejections(previous),
    tagPrefix: opts.tagKeyPrefix ?? DEFAULT_TAG_KEY_PREFIX,
  };
  const { users, problems: nameProblems } = publishableUsers(snapshot);
  const parsed = parseKeys(snapshot, users, ctx);
  const keepers = keyKeepers(users, parsed.holders, ctx.previousEntry);
  const localNames = localNamesOf(users, ctx.previousEntry);
  const uids = allocateUids(snapshot, previous, users, opts.uidBase);
  const rendered = renderUsers(users, parsed, { keepers, localNames, uids }, ctx);
  const groups = renderGroups(snapshot, users, rendered, opts.prefix);
  const objects = new Map<string, string>();
  for (const u of users) objects.set(userKey(opts.prefix, u.name), rendered.linesByUser.get(u.name) ?? '');
  for (const [key, body] of groups.objects) objects.set(key, body);
  return {
    objects,
    directory: renderDirectory(users, localNames, uids.uids, uids.retired),
    index: {
      version: INDEX_VERSION,
      generatedAt: opts.now.toISOString(),
      users: rendered.indexUsers,
      groups: groups.indexGroups,
      keyBodies: rendered.keyBodies,
      uids: uids.uids,
      ...(Object.keys(uids.retired).length ? { retiredUids: uids.retired } : {}),
      nextUid: uids.nextUid,
    },
    problems: [...nameProblems, ...rendered.problems],
    keyCount: rendered.keyCount,
  };
}

/**
 * directory.json from what render decided: built in a Map, so an IAM user named
 * `__proto__` or `toString` is plain data. Reserved: every uid ever allocated
 * (gone users, retired ones) that no current user holds.
 */
function renderDirectory(
  users: readonly IamUser[],
  localNames: ReadonlyMap<string, LocalName>,
  uids: Readonly<Record<string, number>>,
  retired: Readonly<Record<string, number>>,
): string {
  const directoryUsers = new Map<string, DirectoryUser>();
  for (const u of users) {
    const local = localNames.get(u.name) ?? { name: null, problem: 'no local name' };
    directoryUsers.set(u.name, directoryUser(u, local, uids[u.id] as number));
  }
  const current = new Set([...directoryUsers.values()].map((d) => d.uid));
  const reservedUids = [...Object.values(uids), ...Object.values(retired)].filter((n) => !current.has(n));
  return serializeDirectory({ version: DIRECTORY_VERSION, users: directoryUsers, reservedUids });
}

function directoryUser(u: IamUser, local: LocalName, uid: number): DirectoryUser {
  return {
    userId: u.id,
    localName: local.name,
    ...(local.problem ? { localNameProblem: local.problem } : {}),
    uid,
    groups: groupsOf(u),
  };
}

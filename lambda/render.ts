// Pure: IAM snapshot (+ the previous index) -> the objects the bucket should
// hold and the new index.json. Same input, same bytes.
import {
  DEFAULT_TAG_KEY_PREFIX,
  groupKey,
  IAM_GROUP_NAME,
  IAM_USER_NAME,
  INDEX_VERSION,
  type IndexKey,
  type IndexUser,
  iamToLocalName,
  nullRecord,
  own,
  type PublicKey,
  type PublishedIndex,
  parsePublicKeyText,
  type RejectedKey,
  renderLine,
  TAG_ID_PREFIX,
  tagBodyId,
  userKey,
} from '../contract/index.js';
import type { IamSnapshot, IamUser } from './iam-source.js';
import { tagKeysOf } from './tag-keys.js';

export interface RenderOptions {
  readonly prefix: string;
  /** First uid handed out when the previous index has none. */
  readonly uidBase: number;
  readonly now: Date;
  /** User tags whose key starts with this hold public keys. @default 'ssh-key:' */
  readonly tagKeyPrefix?: string;
}

export interface Problem {
  readonly user: string;
  readonly keyId?: string;
  /** The user tag holding the key, for a key from a tag (keyId is then `tag:` + tagKey). */
  readonly tagKey?: string;
  readonly reason: string;
  /** A refused copy of a key other IAM users registered too: its fingerprint... */
  readonly fingerprint?: string;
  /** ...the other users holding it (name order)... */
  readonly sharedWith?: readonly string[];
  /** ...and the one that keeps it (absent when the rule cannot decide and every copy is refused). */
  readonly firstHolder?: string;
}

export interface Rendered {
  /** Object key -> body, for every user and group object (not index.json). */
  readonly objects: ReadonlyMap<string, string>;
  readonly index: PublishedIndex;
  /** Active keys not published, and users without a usable local name. */
  readonly problems: readonly Problem[];
  readonly keyCount: number;
}

/** Every holder refused: same upload instant and the previous index published it for none (or several) of them. */
export const DUPLICATE_KEY_REASON =
  'the same public key is registered to several IAM users (ambiguous owner)';

export function copiedKeyReason(firstHolder: string): string {
  return `the same public key belongs to IAM user ${firstHolder}, whose claim came first (published for them, or Active earlier): this copy is not published`;
}

/** Plain code-unit order: locale-independent, so output never depends on the machine. */
export function byCodeUnit(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export function duplicateOwnKeyReason(publishedId: string): string {
  return `the same public key as ${publishedId} of this user, which is published: listed once`;
}

/**
 * One IAM user's claim on a public key: since when the publisher has seen it Active for them (their
 * earliest such key, key store or tag; recorded in index.json as a refused copy's activeSince), and
 * whether the previous index published it for them. IAM's UploadDate plays no part: an Inactive key keeps it,
 * so a copy uploaded early and activated later would claim an age it never had.
 */
export interface KeyClaim {
  readonly user: string;
  readonly since: Date;
  readonly publishedBefore: boolean;
}

/**
 * Who keeps a public key several IAM users registered (public keys are public:
 * anyone may upload or tag anyone's). A key published for someone stays theirs:
 * no new claim takes it. Only between claims never published the earliest one
 * wins. Undefined on a tie (several claims first seen by the same run): every
 * copy is refused. One claim per user.
 */
export function firstHolder(claims: readonly KeyClaim[]): string | undefined {
  const time = (c: KeyClaim) => {
    const t = c.since.getTime();
    return Number.isNaN(t) ? Number.POSITIVE_INFINITY : t;
  };
  const published = claims.filter((c) => c.publishedBefore);
  const pool = published.length > 0 ? published : claims;
  const earliest = pool.reduce((m, c) => Math.min(m, time(c)), Number.POSITIVE_INFINITY);
  const first = pool.filter((c) => time(c) === earliest);
  return first.length === 1 ? first[0]?.user : undefined;
}

/**
 * When the publisher first saw key `id` (with this fingerprint: a tag's value can change) Active
 * for this user: the previous index's record of it, else `now` (first seen by this run). Only
 * refused copies carry the record: a published key's date never decides anything.
 */
export function activeSince(
  previous: IndexUser | undefined,
  id: string,
  fingerprint: string,
  now: Date,
): Date {
  const e = previous?.rejectedKeys?.find((k) => k.id === id && k.fingerprint === fingerprint);
  return e?.activeSince !== undefined ? new Date(e.activeSince) : now;
}

/** Records a user's claim on a fingerprint: their earliest one counts. */
function addClaim(
  holders: Map<string, Map<string, Date>>,
  user: string,
  fingerprint: string,
  since: Date,
): void {
  const byUser = holders.get(fingerprint) ?? new Map<string, Date>();
  const seen = byUser.get(user);
  if (seen === undefined || since < seen) byUser.set(user, since);
  holders.set(fingerprint, byUser);
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

export function render(
  snapshot: IamSnapshot,
  previous: PublishedIndex | undefined,
  opts: RenderOptions,
): Rendered {
  const problems: Problem[] = [];
  const oldRejections = previousRejections(previous);
  for (const u of snapshot.users) {
    if (!IAM_USER_NAME.test(u.name))
      problems.push({ user: u.name, reason: 'user name cannot be an object key' });
  }
  const users = [...snapshot.users]
    .filter((u) => IAM_USER_NAME.test(u.name))
    .sort((a, b) => byCodeUnit(a.name, b.name));

  // A user's entry in the previous index: by user id from version 2 (it survives a rename and is
  // not inherited by a re-created name), by name before.
  const previousById = new Map<string, IndexUser>();
  for (const e of Object.values(previous?.users ?? {})) if (e.userId) previousById.set(e.userId, e);
  const previousEntry = (u: IamUser): IndexUser | undefined =>
    previous === undefined
      ? undefined
      : previous.version >= 2
        ? previousById.get(u.id)
        : own(previous.users, u.name);

  // Parse every active key once: key-store keys in id order, then tag keys in tag key order.
  const tagPrefix = opts.tagKeyPrefix ?? DEFAULT_TAG_KEY_PREFIX;
  type Parsed =
    | { id: string; tagKey?: string; value?: string; key: PublicKey }
    | { id: string; tagKey?: string; value?: string; reason: string };
  const parsedByUser = new Map<string, Parsed[]>();
  // fingerprint -> user name -> since when that user's claim on it stands (their earliest Active key)
  const holders = new Map<string, Map<string, Date>>();
  const claim = (u: IamUser, id: string, fingerprint: string) =>
    addClaim(holders, u.name, fingerprint, activeSince(previousEntry(u), id, fingerprint, opts.now));
  for (const u of users) {
    const parsed: Parsed[] = [];
    for (const k of [...u.keys].sort((a, b) => byCodeUnit(a.id, b.id))) {
      if (k.status !== 'Active') continue;
      const body = snapshot.bodies.get(k.id);
      if (body === undefined) {
        parsed.push({ id: k.id, reason: oldRejections.get(k.id) ?? 'key body unavailable' });
        continue;
      }
      const r = parsePublicKeyText(body);
      if (!r.ok) {
        parsed.push({ id: k.id, reason: r.reason });
        continue;
      }
      parsed.push({ id: k.id, key: r.key });
      claim(u, k.id, r.key.fingerprint);
    }
    for (const t of tagKeysOf(u, tagPrefix)) {
      parsed.push(t);
      if ('key' in t) claim(u, t.id, t.key.fingerprint);
    }
    parsedByUser.set(u.name, parsed);
  }

  // Keys several users registered: the first holder keeps theirs, later copies are refused.
  const userByName = new Map(users.map((u) => [u.name, u]));
  const keepers = new Map<string, string | undefined>();
  for (const [fingerprint, byUser] of holders) {
    if (byUser.size < 2) continue;
    const claims = [...byUser].map(([user, since]) => {
      const u = userByName.get(user) as IamUser;
      return {
        user,
        since,
        publishedBefore: previousEntry(u)?.keys.some((k) => k.fingerprint === fingerprint) ?? false,
      };
    });
    keepers.set(fingerprint, firstHolder(claims));
  }

  // Local names: refuse names that are unusable or that two IAM users would share. A name
  // that already belonged to one of them stays with it: creating IAM user `a+b` must not
  // take `a.plus.b`'s login (and, through sync-users, its account) away.
  const localOwners = new Map<string, IamUser[]>();
  const localNames = new Map<string, { name: string | null; problem?: string }>();
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

  // Stable uids, one per IAM user id: a rename keeps it, a re-created name gets a fresh one,
  // and none is ever handed out twice. New users get theirs in name order.
  const { uids, retired } = carriedUids(snapshot, previous);
  let nextUid = Math.max(previous?.nextUid ?? 0, opts.uidBase);
  for (const uid of [...Object.values(uids), ...Object.values(retired)]) nextUid = Math.max(nextUid, uid + 1);
  for (const u of users) {
    if (!Object.hasOwn(uids, u.id)) uids[u.id] = nextUid++;
  }

  const objects = new Map<string, string>();
  const linesByUser = new Map<string, string>();
  const indexUsers = nullRecord<IndexUser>();
  const keyBodies = nullRecord<string>();
  let keyCount = 0;
  for (const u of users) {
    let text = '';
    const keys: IndexKey[] = [];
    const rejectedKeys: RejectedKey[] = [];
    // fingerprint -> id of this user's published line: a key in both stores (or two tags) is listed once.
    const published = new Map<string, string>();
    for (const p of parsedByUser.get(u.name) ?? []) {
      const tag = p.tagKey !== undefined ? { tagKey: p.tagKey } : {};
      if ('reason' in p) {
        // A refused tag's value is kept as IAM holds it: a targeted run restores untouched users' tags from here.
        if (p.tagKey !== undefined && p.value !== undefined) keyBodies[tagBodyId(u.id, p.tagKey)] = p.value;
        rejectedKeys.push({ id: p.id, ...tag, reason: p.reason });
        problems.push({ user: u.name, keyId: p.id, ...tag, reason: p.reason });
        continue;
      }
      keyBodies[p.tagKey !== undefined ? tagBodyId(u.id, p.tagKey) : p.id] = `${p.key.type} ${p.key.blob}`;
      const { fingerprint } = p.key;
      const since = { activeSince: activeSince(previousEntry(u), p.id, fingerprint, opts.now).toISOString() };
      const publishedAs = published.get(fingerprint);
      if (publishedAs !== undefined) {
        const reason = duplicateOwnKeyReason(publishedAs);
        rejectedKeys.push({ id: p.id, ...tag, fingerprint, ...since, reason });
        problems.push({ user: u.name, keyId: p.id, ...tag, reason, fingerprint });
        continue;
      }
      if (keepers.has(fingerprint) && keepers.get(fingerprint) !== u.name) {
        const keeper = keepers.get(fingerprint);
        const reason = keeper === undefined ? DUPLICATE_KEY_REASON : copiedKeyReason(keeper);
        rejectedKeys.push({ id: p.id, ...tag, fingerprint, ...since, reason });
        problems.push({
          user: u.name,
          keyId: p.id,
          ...tag,
          reason,
          fingerprint,
          sharedWith: [...(holders.get(fingerprint)?.keys() ?? [])]
            .filter((n) => n !== u.name)
            .sort(byCodeUnit),
          ...(keeper === undefined ? {} : { firstHolder: keeper }),
        });
        continue;
      }
      text += renderLine(u.name, p.key);
      published.set(fingerprint, p.id);
      keys.push({ id: p.id, ...tag, type: p.key.type, fingerprint: p.key.fingerprint });
      keyCount++;
    }
    const local = localNames.get(u.name) ?? { name: null, problem: 'no local name' };
    if (local.problem) problems.push({ user: u.name, reason: local.problem });
    linesByUser.set(u.name, text);
    objects.set(userKey(opts.prefix, u.name), text);
    indexUsers[u.name] = {
      userId: u.id,
      localName: local.name,
      ...(local.problem ? { localNameProblem: local.problem } : {}),
      uid: own(uids, u.id) as number,
      groups: [...u.groups].filter((g) => IAM_GROUP_NAME.test(g)).sort(byCodeUnit),
      keys,
      ...(rejectedKeys.length ? { rejectedKeys } : {}),
    };
  }

  const members = new Map<string, string[]>();
  for (const g of snapshot.groups) if (IAM_GROUP_NAME.test(g)) members.set(g, []);
  for (const u of users) {
    for (const g of own(indexUsers, u.name)?.groups ?? [])
      members.set(g, [...(members.get(g) ?? []), u.name]);
  }
  const indexGroups = nullRecord<{ members: string[] }>();
  for (const g of [...members.keys()].sort(byCodeUnit)) {
    const m = (members.get(g) ?? []).sort(byCodeUnit);
    indexGroups[g] = { members: m };
    objects.set(groupKey(opts.prefix, g), m.map((name) => linesByUser.get(name) ?? '').join(''));
  }

  return {
    objects,
    index: {
      version: INDEX_VERSION,
      generatedAt: opts.now.toISOString(),
      users: indexUsers,
      groups: indexGroups,
      keyBodies,
      uids,
      ...(Object.keys(retired).length ? { retiredUids: retired } : {}),
      nextUid,
    },
    problems,
    keyCount,
  };
}

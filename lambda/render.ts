// Pure: IAM snapshot (+ the previous index) -> the objects the bucket should
// hold and the new index.json. Same input, same bytes.
import {
  groupKey,
  IAM_GROUP_NAME,
  IAM_USER_NAME,
  INDEX_VERSION,
  type IndexUser,
  iamToLocalName,
  type PublicKey,
  type PublishedIndex,
  parsePublicKeyText,
  renderLine,
  userKey,
} from '../contract/index.js';
import type { IamSnapshot } from './iam-source.js';

export interface RenderOptions {
  readonly prefix: string;
  /** First uid handed out when the previous index has none. */
  readonly uidBase: number;
  readonly now: Date;
}

export interface Problem {
  readonly user: string;
  readonly keyId?: string;
  readonly reason: string;
}

export interface Rendered {
  /** Object key -> body, for every user and group object (not index.json). */
  readonly objects: ReadonlyMap<string, string>;
  readonly index: PublishedIndex;
  /** Active keys not published, and users without a usable local name. */
  readonly problems: readonly Problem[];
  readonly keyCount: number;
}

export const DUPLICATE_KEY_REASON =
  'the same public key is registered to several IAM users (ambiguous owner)';

/** Plain code-unit order: locale-independent, so output never depends on the machine. */
export function byCodeUnit(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Previous index's rejections by key id: bodies of rejected keys are not kept, their reason is. */
function previousRejections(previous: PublishedIndex | undefined): Map<string, string> {
  const out = new Map<string, string>();
  for (const u of Object.values(previous?.users ?? {})) {
    for (const r of u.rejectedKeys ?? []) if (r.reason !== DUPLICATE_KEY_REASON) out.set(r.id, r.reason);
  }
  return out;
}

/** Ids of Active keys whose bodies need not be fetched again: published ones and ones rejected for their body. */
export function knownKeyBodies(previous: PublishedIndex | undefined): {
  bodies: Map<string, string>;
  rejectedIds: Set<string>;
} {
  return {
    bodies: new Map(Object.entries(previous?.keyBodies ?? {})),
    rejectedIds: new Set(previousRejections(previous).keys()),
  };
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

  // Parse every active key once.
  type Parsed = { id: string; key: PublicKey } | { id: string; reason: string };
  const parsedByUser = new Map<string, Parsed[]>();
  const holders = new Map<string, Set<string>>(); // fingerprint -> users holding it
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
      const set = holders.get(r.key.fingerprint) ?? new Set<string>();
      set.add(u.name);
      holders.set(r.key.fingerprint, set);
    }
    parsedByUser.set(u.name, parsed);
  }

  // Local names: refuse names that are unusable or that two IAM users would share. A name
  // that already belonged to one of them stays with it: creating IAM user `a+b` must not
  // take `a.plus.b`'s login (and, through sync-users, its account) away.
  const localOwners = new Map<string, string[]>();
  const localNames = new Map<string, { name: string | null; problem?: string }>();
  for (const u of users) {
    const r = iamToLocalName(u.name);
    if (r.ok) localOwners.set(r.name, [...(localOwners.get(r.name) ?? []), u.name]);
    else localNames.set(u.name, { name: null, problem: r.reason });
  }
  for (const [local, owners] of localOwners) {
    const holders = owners.filter((o) => previous?.users[o]?.localName === local);
    const keeper = owners.length === 1 ? owners[0] : holders.length === 1 ? holders[0] : undefined;
    for (const owner of owners) {
      localNames.set(
        owner,
        owner === keeper
          ? { name: local }
          : keeper !== undefined
            ? { name: null, problem: `local name ${local} already belongs to IAM user ${keeper}` }
            : { name: null, problem: `local name ${local} is shared by IAM users ${owners.join(', ')}` },
      );
    }
  }

  // Stable uids: a name keeps its uid forever, new names get fresh ones in name order.
  const uids: Record<string, number> = { ...(previous?.uids ?? {}) };
  let nextUid = Math.max(previous?.nextUid ?? 0, opts.uidBase);
  for (const u of users) {
    if (uids[u.name] === undefined) uids[u.name] = nextUid++;
  }

  const objects = new Map<string, string>();
  const linesByUser = new Map<string, string>();
  const indexUsers: Record<string, IndexUser> = {};
  const keyBodies: Record<string, string> = {};
  let keyCount = 0;
  for (const u of users) {
    let text = '';
    const keys: { id: string; type: string; fingerprint: string }[] = [];
    const rejectedKeys: { id: string; reason: string }[] = [];
    for (const p of parsedByUser.get(u.name) ?? []) {
      if ('reason' in p) {
        rejectedKeys.push({ id: p.id, reason: p.reason });
        continue;
      }
      keyBodies[p.id] = `${p.key.type} ${p.key.blob}`;
      if ((holders.get(p.key.fingerprint)?.size ?? 0) > 1) {
        rejectedKeys.push({ id: p.id, reason: DUPLICATE_KEY_REASON });
        continue;
      }
      text += renderLine(u.name, p.key);
      keys.push({ id: p.id, type: p.key.type, fingerprint: p.key.fingerprint });
      keyCount++;
    }
    for (const r of rejectedKeys) problems.push({ user: u.name, keyId: r.id, reason: r.reason });
    const local = localNames.get(u.name) ?? { name: null, problem: 'no local name' };
    if (local.problem) problems.push({ user: u.name, reason: local.problem });
    linesByUser.set(u.name, text);
    objects.set(userKey(opts.prefix, u.name), text);
    indexUsers[u.name] = {
      localName: local.name,
      ...(local.problem ? { localNameProblem: local.problem } : {}),
      uid: uids[u.name] as number,
      groups: [...u.groups].filter((g) => IAM_GROUP_NAME.test(g)).sort(byCodeUnit),
      keys,
      ...(rejectedKeys.length ? { rejectedKeys } : {}),
    };
  }

  const members = new Map<string, string[]>();
  for (const g of snapshot.groups) if (IAM_GROUP_NAME.test(g)) members.set(g, []);
  for (const u of users) {
    for (const g of indexUsers[u.name]?.groups ?? []) members.set(g, [...(members.get(g) ?? []), u.name]);
  }
  const indexGroups: Record<string, { members: string[] }> = {};
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
      nextUid,
    },
    problems,
    keyCount,
  };
}

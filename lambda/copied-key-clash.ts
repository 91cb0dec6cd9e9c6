// Pure: copied-key clashes a targeted run meets. A touched user holding a key
// another user also holds keeps the previous index.json's decision when the key
// ids are the same; otherwise the clash is "undecided" and only that user's
// removals apply until a full run (bounded by lambda/full-run-budget.ts) decides.
import {
  type IndexUser,
  own,
  type PublishedIndex,
  parsePublicKeyText,
  tagBodyId,
  tagKeyId,
} from '../contract/index.js';
import type { IamUser } from './iam-source.js';
import { tagKeysOf } from './tag-keys.js';

/** A touched user whose keys clash with another user's in a way index.json has not decided. */
export interface UndecidedCopy {
  /** The IAM user whose own changes (or deletion) reopened the clash. */
  readonly user: string;
  readonly reason: string;
}

/** Fingerprint -> ids of one user's active keys with that fingerprint (key store and tags). */
type Claims = Map<string, Set<string>>;

function claim(out: Claims, fingerprint: string, id: string): void {
  const ids = out.get(fingerprint) ?? new Set<string>();
  ids.add(id);
  out.set(fingerprint, ids);
}

/** The claims the previous index recorded for a user: published keys and refused copies. */
function indexClaims(e: IndexUser | undefined): Claims {
  const out: Claims = new Map();
  for (const k of e?.keys ?? []) claim(out, k.fingerprint, k.id);
  for (const k of e?.rejectedKeys ?? []) if (k.fingerprint) claim(out, k.fingerprint, k.id);
  return out;
}

/** A fresh user's claims, as render parses them. */
function freshClaims(u: IamUser, bodies: ReadonlyMap<string, string>, prefix: string): Claims {
  const out: Claims = new Map();
  for (const k of u.keys) {
    if (k.status !== 'Active') continue;
    const body = bodies.get(k.id);
    const parsed = body === undefined ? undefined : parsePublicKeyText(body);
    if (parsed?.ok) claim(out, parsed.key.fingerprint, k.id);
  }
  for (const t of tagKeysOf(u, prefix)) if ('key' in t) claim(out, t.key.fingerprint, t.id);
  return out;
}

const sameIds = (a: ReadonlySet<string> | undefined, b: ReadonlySet<string> | undefined) =>
  (a?.size ?? 0) === (b?.size ?? 0) && [...(a ?? [])].every((x) => b?.has(x));

/**
 * Who keeps a public key several users hold: a touched user in such a clash
 * asks for a full run (the targeted path does not re-decide clashes). But when their claims on it (key ids) are those index.json recorded, the
 * index's decision (who has it published, who has it refused) is the one a
 * full run would make again: render keeps it from the index. Only a touched
 * user whose claims on a shared key changed (or who was deleted) is undecided.
 */
export function undecidedCopies(
  previous: PublishedIndex,
  s: { readonly users: ReadonlyMap<string, IamUser>; readonly bodies: ReadonlyMap<string, string> },
  fresh: readonly IamUser[],
  gone: readonly string[],
  prefix: string,
): UndecidedCopy[] {
  const entryOf = (name: string) => (Object.hasOwn(previous.users, name) ? previous.users[name] : undefined);
  const byId = new Map<string, IndexUser>();
  for (const e of Object.values(previous.users)) if (e.userId) byId.set(e.userId, e);
  const freshById = new Map(fresh.map((u) => [u.id, u]));
  // Holders of each fingerprint, before (index) and now (composed snapshot): IAM user id -> name.
  const holders = new Map<string, Map<string, string>>();
  const hold = (f: string, id: string, name: string) =>
    holders.set(f, (holders.get(f) ?? new Map<string, string>()).set(id, name));
  for (const [name, e] of Object.entries(previous.users))
    for (const f of indexClaims(e).keys()) hold(f, e.userId ?? name, name);
  for (const [name, u] of s.users) {
    const c = freshById.get(u.id) === u ? freshClaims(u, s.bodies, prefix) : indexClaims(entryOf(name));
    for (const f of c.keys()) hold(f, u.id, name);
  }
  const out: UndecidedCopy[] = [];
  const check = (user: string, id: string, before: Claims, after: Claims) => {
    for (const f of new Set([...before.keys(), ...after.keys()])) {
      const others = [...(holders.get(f) ?? [])].filter(([i]) => i !== id).map(([, n]) => n);
      if (others.length === 0 || sameIds(before.get(f), after.get(f))) continue;
      out.push({
        user,
        reason: `a key ${user} ${after.has(f) ? 'holds' : 'held'} is also registered to ${[...new Set(others)].sort().join(', ')}, and ${user}'s copies of it changed since index.json decided who keeps it (a full run decides)`,
      });
      return;
    }
  };
  for (const u of fresh) check(u.name, u.id, indexClaims(byId.get(u.id)), freshClaims(u, s.bodies, prefix));
  // Deleted users (a renamed user is checked under the new name, by id).
  for (const n of gone) {
    const e = entryOf(n);
    if (e?.userId && !freshById.has(e.userId)) check(n, e.userId, indexClaims(e), new Map());
  }
  return out;
}

/**
 * An undecided user as far as the index allows: their removals (keys deleted
 * or deactivated, tags and memberships removed) apply at once, their additions
 * wait for a full run. Never more than index.json published for them.
 */
export function onlyRemovals(u: IamUser, previous: PublishedIndex, prefix: string): IamUser {
  const before = Object.values(previous.users).find((e) => e.userId === u.id);
  const ids = new Set([...(before?.keys ?? []), ...(before?.rejectedKeys ?? [])].map((k) => k.id));
  const tagValue = (key: string) =>
    before?.userId ? own(previous.keyBodies, tagBodyId(before.userId, key)) : undefined;
  return {
    ...u,
    groups: u.groups.filter((g) => before?.groups.includes(g) ?? false),
    keys: u.keys.filter((k) => ids.has(k.id)),
    tags: u.tags.filter(
      (t) => !t.key.startsWith(prefix) || (ids.has(tagKeyId(t.key)) && tagValue(t.key) === t.value),
    ),
  };
}

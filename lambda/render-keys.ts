// Pure: the key phases of render (render.ts). Every Active key of every user
// parsed once; who keeps a public key several IAM users registered (a copy never
// takes a key from its first holder); which of a user's keys are published.
import {
  type IndexKey,
  type IndexUser,
  type PublicKey,
  parsePublicKeyText,
  type RejectedKey,
  renderLine,
  tagBodyId,
} from '../contract/index.js';
import type { IamSnapshot, IamUser } from './iam-source.js';
import { tagKeysOf } from './tag-keys.js';

/** What the key phases need of the run: its clock, the previous index's entries and refusals, the tag prefix. */
export interface KeyContext {
  readonly now: Date;
  readonly previousEntry: PreviousEntry;
  /** Key id -> why the previous index refused its body (not fetched again, the reason is kept). */
  readonly oldRejections: ReadonlyMap<string, string>;
  /** User tags whose key starts with this hold public keys. */
  readonly tagPrefix: string;
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

/** A user's Active key as parsed, or why it cannot be published. */
export type ParsedKey =
  | { readonly id: string; readonly tagKey?: string; readonly value?: string; readonly key: PublicKey }
  | { readonly id: string; readonly tagKey?: string; readonly value?: string; readonly reason: string };

/** The previous index's entry of an IAM user (by user id from version 2, by name before). */
export type PreviousEntry = (u: IamUser) => IndexUser | undefined;

export interface ParsedKeys {
  /** User name -> their Active keys: key-store keys in id order, then tag keys in tag key order. */
  readonly byUser: ReadonlyMap<string, readonly ParsedKey[]>;
  /** Fingerprint -> user name -> since when that user's claim on it stands (their earliest Active key). */
  readonly holders: ReadonlyMap<string, ReadonlyMap<string, Date>>;
}

/** Phase: every Active key parsed once, and who claims each fingerprint since when. */
export function parseKeys(snapshot: IamSnapshot, users: readonly IamUser[], ctx: KeyContext): ParsedKeys {
  const { oldRejections, tagPrefix } = ctx;
  const byUser = new Map<string, ParsedKey[]>();
  const holders = new Map<string, Map<string, Date>>();
  const claim = (u: IamUser, id: string, fingerprint: string) =>
    addClaim(holders, u.name, fingerprint, activeSince(ctx.previousEntry(u), id, fingerprint, ctx.now));
  for (const u of users) {
    const parsed: ParsedKey[] = [];
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
    byUser.set(u.name, parsed);
  }
  return { byUser, holders };
}

/**
 * Phase: keys several users registered: fingerprint -> the user who keeps it
 * (undefined: every copy is refused). Later copies are refused.
 */
export function keyKeepers(
  users: readonly IamUser[],
  holders: ParsedKeys['holders'],
  previousEntry: PreviousEntry,
): ReadonlyMap<string, string | undefined> {
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
  return keepers;
}

/** One user's keys as published: the lines, the index's keys and refusals, and the problems. */
export interface UserKeys {
  readonly text: string;
  readonly keys: readonly IndexKey[];
  readonly rejectedKeys: readonly RejectedKey[];
  readonly problems: readonly Problem[];
  /** Key bodies to remember (key-store id or tag body id -> body). */
  readonly bodies: ReadonlyMap<string, string>;
}

/**
 * Phase (per user): which of one user's parsed keys are published. A key listed twice (both stores,
 * two tags) is listed once; a copy of a key another user keeps is refused.
 */
export function userKeys(
  u: IamUser,
  parsed: readonly ParsedKey[],
  shared: {
    readonly keepers: ReadonlyMap<string, string | undefined>;
    readonly holders: ParsedKeys['holders'];
  },
  ctx: KeyContext,
): UserKeys {
  let text = '';
  const keys: IndexKey[] = [];
  const rejectedKeys: RejectedKey[] = [];
  const problems: Problem[] = [];
  const bodies = new Map<string, string>();
  // fingerprint -> id of this user's published line: a key in both stores (or two tags) is listed once.
  const published = new Map<string, string>();
  for (const p of parsed) {
    const tag = p.tagKey !== undefined ? { tagKey: p.tagKey } : {};
    if ('reason' in p) {
      // A refused tag's value is kept as IAM holds it: a targeted run restores untouched users' tags from here.
      if (p.tagKey !== undefined && p.value !== undefined) bodies.set(tagBodyId(u.id, p.tagKey), p.value);
      rejectedKeys.push({ id: p.id, ...tag, reason: p.reason });
      problems.push({ user: u.name, keyId: p.id, ...tag, reason: p.reason });
      continue;
    }
    bodies.set(p.tagKey !== undefined ? tagBodyId(u.id, p.tagKey) : p.id, `${p.key.type} ${p.key.blob}`);
    const { fingerprint } = p.key;
    const since = {
      activeSince: activeSince(ctx.previousEntry(u), p.id, fingerprint, ctx.now).toISOString(),
    };
    const publishedAs = published.get(fingerprint);
    if (publishedAs !== undefined) {
      const reason = duplicateOwnKeyReason(publishedAs);
      rejectedKeys.push({ id: p.id, ...tag, fingerprint, ...since, reason });
      problems.push({ user: u.name, keyId: p.id, ...tag, reason, fingerprint });
      continue;
    }
    if (shared.keepers.has(fingerprint) && shared.keepers.get(fingerprint) !== u.name) {
      const keeper = shared.keepers.get(fingerprint);
      const reason = keeper === undefined ? DUPLICATE_KEY_REASON : copiedKeyReason(keeper);
      rejectedKeys.push({ id: p.id, ...tag, fingerprint, ...since, reason });
      problems.push({
        user: u.name,
        keyId: p.id,
        ...tag,
        reason,
        fingerprint,
        sharedWith: [...(shared.holders.get(fingerprint)?.keys() ?? [])]
          .filter((n) => n !== u.name)
          .sort(byCodeUnit),
        ...(keeper === undefined ? {} : { firstHolder: keeper }),
      });
      continue;
    }
    text += renderLine(u.name, p.key);
    published.set(fingerprint, p.id);
    keys.push({ id: p.id, ...tag, type: p.key.type, fingerprint: p.key.fingerprint });
  }
  return { text, keys, rejectedKeys, problems, bodies };
}

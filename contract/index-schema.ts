// index.json: the publisher's record of a run, its state (docs/architecture.md
// "Bucket layout"). Hosts read directory.json and heartbeat.json instead
// (directory.ts); index.json keeps its host-facing fields for agents of the
// previous release.
import { IAM_GROUP_NAME, IAM_USER_NAME } from './layout.js';
import { isValidLocalName } from './names.js';
import { isRecord, nullRecord } from './records.js';
import { IAM_TAG_KEY, tagKeyId } from './tags.js';

/**
 * The version the publisher writes. 2: uids are keyed by IAM user id (`uids`,
 * each user's `userId`), no longer by name; `retiredUids` holds the name-keyed
 * uids of version 1 whose user was gone when the index was migrated.
 */
export const INDEX_VERSION = 2;
/** Versions readers accept: hosts keep working while the publisher is upgraded. */
export const READABLE_INDEX_VERSIONS: readonly number[] = [1, 2];

/** An IAM user id (`AIDA...`): IAM's pattern `[\w]+` (IAM's are 16-128 long; shorter ones are accepted for test doubles). */
export const IAM_USER_ID = /^\w{1,128}$/;

export interface IndexKey {
  /** IAM's SSH key id (`APKA...`), or `tag:<tag key>` for a key from a user tag. */
  readonly id: string;
  readonly type: string;
  readonly fingerprint: string;
  /** The user tag that holds the key (then id is `tag:` + tagKey); absent for the key store. */
  readonly tagKey?: string;
  /**
   * ISO start of the key's age (key lifecycle): IAM's UploadDate for a key-store key; for a tag key,
   * when the publisher first published it (kept across runs and renames: the entry is found by user id).
   */
  readonly start?: string;
  /** ISO time the key's lines expire (start + maximum key age); absent when no maximum age is set. */
  readonly expires?: string;
}

export interface RejectedKey {
  readonly id: string;
  readonly reason: string;
  /** As in IndexKey: the user tag, for a refused tag key. */
  readonly tagKey?: string;
  /** Set when the key itself is valid (e.g. a copy of another user's key), absent when its body was refused. */
  readonly fingerprint?: string;
  /**
   * On a refused valid key (a copy): the ISO time the publisher first saw it Active for this user
   * (this entry's user id and key id; for a tag, the same key in it). It dates the user's claim,
   * should the key's holder drop it (a published key needs no date: no claim takes it). Absent in
   * indexes written before it was recorded.
   */
  readonly activeSince?: string;
  /** As in IndexKey: the start of the key's age (a key refused as `expired` keeps it). */
  readonly start?: string;
  /** As in IndexKey: when the key expired or expires. */
  readonly expires?: string;
}

/** RejectedKey reason of a key past the maximum key age. */
export const EXPIRED_REASON = 'expired';

/** A time-boxed grant (user tag `<grant prefix><IAM group>` = `<UTC ISO 8601 end>`), as the last run judged it. */
export interface IndexGrant {
  readonly iamUser: string;
  readonly iamUserId: string;
  /** The IAM group named by the tag key (after the prefix), as spelled there. */
  readonly group: string;
  /** The grant's end (ISO, UTC); null when the tag's value is not a UTC ISO 8601 time. */
  readonly until: string | null;
  /** active: the user's keys are in the group's file until `until`; refused: they are not (see reason). */
  readonly status: 'active' | 'refused';
  /** Why a grant is refused (GRANT_REASONS); absent on an active one. */
  readonly reason?: string;
  /** The tag as IAM holds it: a targeted run restores untouched users' grant tags from here. */
  readonly tagKey: string;
  readonly value: string;
  /** ISO time the publisher first saw this tag value: a grant's length is `until` minus this. */
  readonly since: string;
}

/** Reasons a grant is refused (IndexGrant.reason). */
export const GRANT_REASONS = {
  tooLong: (maxHours: number) => `longer than the maximum grant of ${maxHours} h`,
  malformed: 'the value is not a UTC ISO 8601 time (e.g. 2027-01-31T12:00:00Z)',
  unknownGroup: 'no such IAM group',
  ended: 'ended',
} as const;

/** Why a member's key is left out of a group's file (IndexGroup.omittedKeys). */
export const NOT_FIDO_REASON =
  'the group requires verify-required: only FIDO (sk-*) keys are published in it';

export interface IndexGroup {
  readonly members: readonly string[];
  /** The group is in verifyRequiredGroups: its file holds only sk-* keys, each with verify-required. */
  readonly verifyRequired?: boolean;
  /** Members' (and grantees') published keys left out of this group's file, with the reason. */
  readonly omittedKeys?: readonly { readonly user: string; readonly id: string; readonly reason: string }[];
}

export interface IndexUser {
  /** The IAM user id: the person's identity (a rename keeps it, a re-created name gets a new one). Version 2 on. */
  readonly userId?: string;
  /** Local user name on hosts, or null when the name cannot be used (too long, or two IAM users map to it). */
  readonly localName: string | null;
  /** Why localName is null. */
  readonly localNameProblem?: string;
  /** Stable POSIX uid, allocated once per IAM user id (per name before version 2) and never reused. */
  readonly uid: number;
  readonly groups: readonly string[];
  /** Active, published keys in line order. */
  readonly keys: readonly IndexKey[];
  /** Active keys that were not published, with the reason. */
  readonly rejectedKeys?: readonly RejectedKey[];
}

export interface PublishedIndex {
  readonly version: number;
  /** ISO time of the run: the heartbeat hosts judge staleness by. */
  readonly generatedAt: string;
  readonly users: Readonly<Record<string, IndexUser>>;
  readonly groups: Readonly<Record<string, IndexGroup>>;
  /**
   * Key id -> 'type base64' for every valid key (refused copies included): a key-store id's body never
   * changes, so known ids are never fetched again. Tag keys are under `tag:<IAM user id>:<tag key>`
   * (a tag's value can change: they are a record, never a cache), refused tags too, with their value as
   * IAM holds it (a targeted run rebuilds untouched users' tags from this record).
   */
  readonly keyBodies: Readonly<Record<string, string>>;
  /**
   * Every uid ever allocated (deleted users included), so none is reused: by
   * IAM user id from version 2, by IAM user name in version 1.
   */
  readonly uids: Readonly<Record<string, number>>;
  /** Version 2: uids allocated by name under version 1 to users gone before the migration; reserved forever. */
  readonly retiredUids?: Readonly<Record<string, number>>;
  readonly nextUid: number;
  /** Time-boxed grants found in user tags, active and refused (user name, then tag key order). */
  readonly grants?: readonly IndexGrant[];
}

export class IndexFormatError extends Error {
  override name = 'IndexFormatError';
}

/** Absent, or an ISO time Date can read. */
function optionalTime(v: unknown): boolean {
  return v === undefined || (typeof v === 'string' && !Number.isNaN(Date.parse(v)));
}

/** A grant entry: names and ids as IAM writes them, times readable, status one of the two. */
function validGrant(g: unknown): boolean {
  if (!isRecord(g)) return false;
  const { iamUser, iamUserId, group, until, status, reason, tagKey, value, since } = g;
  return (
    typeof iamUser === 'string' &&
    IAM_USER_NAME.test(iamUser) &&
    typeof iamUserId === 'string' &&
    IAM_USER_ID.test(iamUserId) &&
    typeof group === 'string' &&
    (until === null || (typeof until === 'string' && optionalTime(until))) &&
    (status === 'active' || (status === 'refused' && typeof reason === 'string')) &&
    (reason === undefined || typeof reason === 'string') &&
    typeof tagKey === 'string' &&
    IAM_TAG_KEY.test(tagKey) &&
    typeof value === 'string' &&
    typeof since === 'string' &&
    optionalTime(since)
  );
}

/**
 * A key entry has a string id; one from a user tag (indexes written before tag keys have none)
 * names its tag key, and its id is `tag:` + that key.
 */
function validKeyEntry(k: unknown): boolean {
  if (!isRecord(k) || typeof k.id !== 'string') return false;
  if (![k.activeSince, k.start, k.expires].every(optionalTime)) return false;
  if (k.tagKey === undefined) return true;
  return typeof k.tagKey === 'string' && IAM_TAG_KEY.test(k.tagKey) && k.id === tagKeyId(k.tagKey);
}

/**
 * Parses and checks index.json. Throws IndexFormatError on anything that does
 * not have the expected shape: callers must not act on a half-understood index.
 */
export function parseIndex(text: string): PublishedIndex {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (cause) {
    throw new IndexFormatError('index.json is not valid JSON', { cause });
  }
  if (!isRecord(v)) throw new IndexFormatError('index.json is not an object');
  if (typeof v.version !== 'number' || !READABLE_INDEX_VERSIONS.includes(v.version))
    throw new IndexFormatError(`index.json has unsupported version ${String(v.version)}`);
  const byUserId = v.version >= 2;
  if (typeof v.generatedAt !== 'string' || Number.isNaN(Date.parse(v.generatedAt))) {
    throw new IndexFormatError('index.json has no valid generatedAt');
  }
  const { users, groups, keyBodies, uids, nextUid } = v;
  if (!isRecord(users) || !isRecord(groups) || !isRecord(keyBodies) || !isRecord(uids)) {
    throw new IndexFormatError('index.json lacks users, groups, keyBodies or uids');
  }
  if (typeof nextUid !== 'number' || !Number.isSafeInteger(nextUid))
    throw new IndexFormatError('index.json has no nextUid');
  for (const [name, u] of Object.entries(users)) {
    if (!IAM_USER_NAME.test(name) || !isRecord(u))
      throw new IndexFormatError(`index.json: bad user entry ${name}`);
    if (u.localName !== null && (typeof u.localName !== 'string' || !isValidLocalName(u.localName))) {
      throw new IndexFormatError(`index.json: bad localName for ${name}`);
    }
    if (typeof u.uid !== 'number' || !Number.isSafeInteger(u.uid) || u.uid <= 0) {
      throw new IndexFormatError(`index.json: bad uid for ${name}`);
    }
    if (!Array.isArray(u.groups) || !u.groups.every((g) => typeof g === 'string' && IAM_GROUP_NAME.test(g))) {
      throw new IndexFormatError(`index.json: bad groups for ${name}`);
    }
    if (!Array.isArray(u.keys) || !u.keys.every(validKeyEntry))
      throw new IndexFormatError(`index.json: bad keys for ${name}`);
    if (
      u.rejectedKeys !== undefined &&
      (!Array.isArray(u.rejectedKeys) || !u.rejectedKeys.every(validKeyEntry))
    )
      throw new IndexFormatError(`index.json: bad rejectedKeys for ${name}`);
    if (
      (byUserId || u.userId !== undefined) &&
      (typeof u.userId !== 'string' || !IAM_USER_ID.test(u.userId))
    ) {
      throw new IndexFormatError(`index.json: bad userId for ${name}`);
    }
  }
  for (const [name, g] of Object.entries(groups)) {
    if (!IAM_GROUP_NAME.test(name) || !isRecord(g) || !Array.isArray(g.members)) {
      throw new IndexFormatError(`index.json: bad group entry ${name}`);
    }
    if (g.verifyRequired !== undefined && typeof g.verifyRequired !== 'boolean')
      throw new IndexFormatError(`index.json: bad verifyRequired for group ${name}`);
    if (g.omittedKeys !== undefined && !Array.isArray(g.omittedKeys))
      throw new IndexFormatError(`index.json: bad omittedKeys for group ${name}`);
  }
  if (v.grants !== undefined && (!Array.isArray(v.grants) || !v.grants.every(validGrant)))
    throw new IndexFormatError('index.json: bad grants');
  const retiredUids = v.retiredUids ?? {};
  if (!isRecord(retiredUids) || (!byUserId && v.retiredUids !== undefined))
    throw new IndexFormatError('index.json: bad retiredUids');
  for (const [owner, uid] of [...Object.entries(uids), ...Object.entries(retiredUids)]) {
    if (typeof uid !== 'number' || !Number.isSafeInteger(uid))
      throw new IndexFormatError(`index.json: bad uid for ${owner}`);
  }
  if (byUserId && !Object.keys(uids).every((id) => IAM_USER_ID.test(id)))
    throw new IndexFormatError('index.json: uids are not keyed by IAM user id');
  for (const body of Object.values(keyBodies)) {
    if (typeof body !== 'string') throw new IndexFormatError('index.json: bad key body');
  }
  // Name-keyed records without a prototype: `index.users.constructor` is a user or nothing.
  const index = { ...v } as Record<string, unknown>;
  index.users = nullRecord(Object.entries(users));
  index.groups = nullRecord(Object.entries(groups));
  index.keyBodies = nullRecord(Object.entries(keyBodies));
  index.uids = nullRecord(Object.entries(uids));
  if (v.retiredUids !== undefined) index.retiredUids = nullRecord(Object.entries(retiredUids));
  return index as unknown as PublishedIndex;
}

/** Serialises deterministically (sorted keys at every level) so equal data gives equal bytes. */
export function serializeIndex(index: PublishedIndex): string {
  return `${JSON.stringify(sortDeep(index), null, 1)}\n`;
}

function sortDeep(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortDeep);
  if (isRecord(v)) {
    // No prototype: a user named `__proto__` stays a key (JSON.stringify writes own properties).
    const out = nullRecord<unknown>();
    for (const k of Object.keys(v).sort()) out[k] = sortDeep(v[k]);
    return out;
  }
  return v;
}

// Pure: the key lifecycle rules (docs/key-lifecycle.md): a key's age and expiry,
// time-boxed grants from user tags, and the lines of groups that require FIDO
// user verification. Render calls these; nothing here reads a clock or IAM.
import {
  EXPIRED_REASON,
  formatExpiryTime,
  GRANT_REASONS,
  IAM_GROUP_NAME,
  type IndexGrant,
  type IndexUser,
  isExpired,
  NOT_FIDO_REASON,
  type PublicKey,
  type PublishedIndex,
  renderLine,
} from '../contract/index.js';
import type { IamUser } from './iam-source.js';

/** The PublishConfig fields render needs (lambda/publish.ts). */
export interface LifecycleSettings {
  /** Keys expire this many days after their start. Undefined: never. */
  readonly maxKeyAgeDays?: number;
  readonly maxGrantHours: number;
  readonly verifyRequiredGroups: readonly string[];
  readonly grantTagPrefix: string;
}

const DAY_MS = 86_400_000;
const HOUR_MS = 3_600_000;

/** One key as render found it: its id (and tag key), its fingerprint, and IAM's UploadDate for the key store. */
export interface AgedKey {
  readonly id: string;
  readonly tagKey?: string;
  readonly fingerprint: string;
  readonly uploadDate?: Date;
}

export interface KeyAge {
  /** ISO start of the key's age. */
  readonly start: string;
  /** ISO expiry (start + maximum age, whole seconds), when a maximum age is set. */
  readonly expires?: string;
  /** Past its expiry: not published (rejectedKeys reason EXPIRED_REASON). */
  readonly expired: boolean;
}

/**
 * When a key's age starts: IAM's UploadDate for a key-store key; for a tag key (a tag has no date)
 * the start the previous index recorded for the same tag key holding the same key, else now (it is
 * first published by this run). The previous entry is the user's by IAM user id, so a rename keeps it.
 */
export function keyStart(k: AgedKey, previous: IndexUser | undefined, now: Date): Date {
  if (k.tagKey === undefined && k.uploadDate !== undefined) return k.uploadDate;
  const same = (e: { id: string; fingerprint?: string; start?: string }) =>
    e.id === k.id && e.fingerprint === k.fingerprint && e.start !== undefined;
  const recorded = previous?.keys.find(same)?.start ?? previous?.rejectedKeys?.find(same)?.start;
  // A key-store key without an UploadDate: one restored from an index that recorded its start.
  return recorded !== undefined ? new Date(recorded) : now;
}

/** A key's start, expiry and whether it has expired at `now` (sshd's rule, contract/line.ts isExpired). */
export function keyAge(
  k: AgedKey,
  previous: IndexUser | undefined,
  settings: Pick<LifecycleSettings, 'maxKeyAgeDays'>,
  now: Date,
): KeyAge {
  const start = keyStart(k, previous, now);
  if (settings.maxKeyAgeDays === undefined) return { start: start.toISOString(), expired: false };
  const end = new Date(Math.floor((start.getTime() + settings.maxKeyAgeDays * DAY_MS) / 1000) * 1000);
  return {
    start: start.toISOString(),
    expires: end.toISOString(),
    expired: isExpired(formatExpiryTime(end), now.getTime()),
  };
}

/**
 * A grant tag's value: a UTC ISO 8601 time, `YYYY-MM-DDTHH:MM[:SS[.fff]]Z` (a zone other than Z is
 * refused: one form, no arithmetic on offsets). Undefined when it is not one or names no calendar time.
 */
export function parseGrantEnd(value: string): Date | undefined {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(\.\d{1,3})?)?Z$/.exec(value.trim());
  if (!m) return undefined;
  const [y, mo, d, h, mi, s] = m.slice(1, 7).map((x) => Number(x ?? 0)) as number[];
  const t = new Date(Date.parse(value.trim()));
  if (
    Number.isNaN(t.getTime()) ||
    t.getUTCFullYear() !== y ||
    t.getUTCMonth() + 1 !== mo ||
    t.getUTCDate() !== d ||
    t.getUTCHours() !== h ||
    t.getUTCMinutes() !== mi ||
    t.getUTCSeconds() !== s
  )
    return undefined;
  return t;
}

/**
 * A user's grants: every tag `<prefix><IAM group>` = `<UTC ISO 8601 end>`, judged at `now`. A grant
 * is refused when its value is not such a time, its group does not exist (names as IAM spells them),
 * it lasts longer than maxGrantHours counted from when the publisher first saw this value (so a far
 * end cannot wait until it fits), or it has ended. In tag key order.
 */
export function userGrants(
  user: Pick<IamUser, 'name' | 'id' | 'tags'>,
  groups: ReadonlySet<string>,
  previous: PublishedIndex | undefined,
  settings: Pick<LifecycleSettings, 'grantTagPrefix' | 'maxGrantHours'>,
  now: Date,
): IndexGrant[] {
  const out: IndexGrant[] = [];
  const tags = user.tags
    .filter((t) => t.key.startsWith(settings.grantTagPrefix))
    .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  for (const t of tags) {
    const group = t.key.slice(settings.grantTagPrefix.length);
    const seen = previous?.grants?.find(
      (g) => g.iamUserId === user.id && g.tagKey === t.key && g.value === t.value,
    );
    const since = seen !== undefined ? new Date(seen.since) : now;
    const end = parseGrantEnd(t.value);
    const reason =
      end === undefined
        ? GRANT_REASONS.malformed
        : !IAM_GROUP_NAME.test(group) || !groups.has(group)
          ? GRANT_REASONS.unknownGroup
          : end.getTime() - since.getTime() > settings.maxGrantHours * HOUR_MS
            ? GRANT_REASONS.tooLong(settings.maxGrantHours)
            : isExpired(formatExpiryTime(end), now.getTime())
              ? GRANT_REASONS.ended
              : undefined;
    out.push({
      iamUser: user.name,
      iamUserId: user.id,
      group,
      until: end?.toISOString() ?? null,
      status: reason === undefined ? 'active' : 'refused',
      ...(reason !== undefined ? { reason } : {}),
      tagKey: t.key,
      value: t.value,
      since: since.toISOString(),
    });
  }
  return out;
}

/** A key render publishes for a user, with its own expiry (ISO) if any. */
export interface PublishedKey {
  readonly id: string;
  readonly key: Pick<PublicKey, 'type' | 'blob'>;
  readonly expires?: string;
}

/** The earlier of two optional ISO times. */
function earlier(a: string | undefined, b: string | undefined): string | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return Date.parse(a) <= Date.parse(b) ? a : b;
}

/** A user's own object: every published key, each with its expiry. */
export function userLines(owner: string, keys: readonly PublishedKey[]): string {
  return keys
    .map((k) =>
      renderLine(
        owner,
        k.key,
        k.expires !== undefined ? { expiryTime: formatExpiryTime(new Date(k.expires)) } : {},
      ),
    )
    .join('');
}

export interface GroupObject {
  readonly text: string;
  /** Keys of members and grantees left out of this group's file (verify-required), in line order. */
  readonly omitted: { user: string; id: string; reason: string }[];
}

/**
 * A group's object: its members' keys (name order), then the keys of users granted the group who
 * are not members (name order), each line expiring at the earlier of the grant's end and the key's.
 * A group in verifyRequiredGroups holds only sk-* keys, each with verify-required; the others are
 * listed in `omitted`.
 */
export function groupObject(
  group: string,
  members: readonly string[],
  grants: readonly IndexGrant[],
  keysByUser: ReadonlyMap<string, readonly PublishedKey[]>,
  settings: Pick<LifecycleSettings, 'verifyRequiredGroups'>,
): GroupObject {
  const verify = settings.verifyRequiredGroups.includes(group);
  const memberSet = new Set(members);
  const granted = new Map<string, string>();
  for (const g of grants) {
    if (g.status !== 'active' || g.group !== group || memberSet.has(g.iamUser) || g.until === null) continue;
    granted.set(g.iamUser, earlier(granted.get(g.iamUser), g.until) as string);
  }
  const grantees = [...granted.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  let text = '';
  const omitted: GroupObject['omitted'] = [];
  for (const user of [...members, ...grantees]) {
    for (const k of keysByUser.get(user) ?? []) {
      if (verify && !k.key.type.startsWith('sk-')) {
        omitted.push({ user, id: k.id, reason: NOT_FIDO_REASON });
        continue;
      }
      const until = earlier(k.expires, granted.get(user));
      text += renderLine(user, k.key, {
        ...(until !== undefined ? { expiryTime: formatExpiryTime(new Date(until)) } : {}),
        ...(verify ? { verifyRequired: true } : {}),
      });
    }
  }
  return { text, omitted };
}

/** Published keys expiring within `withinDays` of now, and keys refused as expired (the metrics). */
export function lifecycleCounts(
  index: Pick<PublishedIndex, 'users'>,
  now: Date,
  withinDays: number,
): { expiringSoon: number; expired: number } {
  let expiringSoon = 0;
  let expired = 0;
  const horizon = now.getTime() + withinDays * DAY_MS;
  for (const u of Object.values(index.users)) {
    for (const k of u.keys) if (k.expires !== undefined && Date.parse(k.expires) <= horizon) expiringSoon++;
    for (const r of u.rejectedKeys ?? []) if (r.reason === EXPIRED_REASON) expired++;
  }
  return { expiringSoon, expired };
}

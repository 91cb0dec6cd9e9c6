// Pure: the key lifecycle phase of a render (docs/key-lifecycle.md). It takes what
// the earlier phases decided (which keys each user publishes, the groups and
// their members) and applies the lifecycle: each key's start and expiry, expired
// keys refused, grants added to group objects, verify-required groups' filter.
// Directory and uids are untouched: a grant gives a group's key file, never membership.
import {
  EXPIRED_REASON,
  groupKey,
  type IndexGrant,
  type IndexGroup,
  type IndexKey,
  type IndexUser,
  isSupportedKeyType,
  nullRecord,
  own,
  type PublishedIndex,
  type RejectedKey,
  tagBodyId,
  userKey,
} from '../contract/index.js';
import type { IamSnapshot, IamUser } from './iam-source.js';
import {
  groupObject,
  keyAge,
  keyStart,
  type LifecycleSettings,
  type PublishedKey,
  userGrants,
  userLines,
} from './lifecycle.js';
import type { PreviousEntry, Problem } from './render-keys.js';

/** What the earlier phases of render produce and this phase rewrites (render.ts Rendered has these). */
export interface PhaseResult {
  readonly objects: ReadonlyMap<string, string>;
  readonly index: PublishedIndex;
  readonly problems: readonly Problem[];
  readonly keyCount: number;
}

/** A published key whose body render did not record: a bug, never a line without its key. */
export class LifecycleBodyMissingError extends Error {
  override name = 'LifecycleBodyMissingError';
}

/** One user's keys after the lifecycle: published ones (with start and expiry) and the ones that expired. */
function ageKeys(
  name: string,
  entry: IndexUser,
  iamUser: IamUser | undefined,
  ctx: { previous: IndexUser | undefined; keyBodies: Readonly<Record<string, string>> },
  settings: LifecycleSettings,
  now: Date,
): { keys: IndexKey[]; expired: RejectedKey[]; published: PublishedKey[] } {
  const keys: IndexKey[] = [];
  const expired: RejectedKey[] = [];
  const published: PublishedKey[] = [];
  for (const k of entry.keys) {
    const uploadDate =
      k.tagKey === undefined ? iamUser?.keys.find((x) => x.id === k.id)?.uploadDate : undefined;
    const age = keyAge(
      {
        id: k.id,
        fingerprint: k.fingerprint,
        ...(k.tagKey !== undefined ? { tagKey: k.tagKey } : {}),
        ...(uploadDate ? { uploadDate } : {}),
      },
      ctx.previous,
      settings,
      now,
    );
    const dates = { start: age.start, ...(age.expires !== undefined ? { expires: age.expires } : {}) };
    if (age.expired) {
      const tag = k.tagKey !== undefined ? { tagKey: k.tagKey } : {};
      expired.push({ id: k.id, ...tag, fingerprint: k.fingerprint, ...dates, reason: EXPIRED_REASON });
      continue;
    }
    keys.push({ ...k, ...dates });
    const bodyId = k.tagKey !== undefined && entry.userId ? tagBodyId(entry.userId, k.tagKey) : k.id;
    const [type = '', blob = ''] = (own(ctx.keyBodies, bodyId) ?? '').split(' ');
    if (!isSupportedKeyType(type) || blob === '')
      throw new LifecycleBodyMissingError(`no recorded body for ${name} ${k.id}`);
    published.push({
      id: k.id,
      key: { type, blob },
      ...(age.expires !== undefined ? { expires: age.expires } : {}),
    });
  }
  return { keys, expired, published };
}

/**
 * The earlier phases' refusals, each valid key (a copy, a duplicate: it has a fingerprint) with the
 * start of its age, so that a run that publishes it later (a targeted run, which has no UploadDate
 * for users it did not read) dates it as a full run would.
 */
function datedRejections(
  entry: IndexUser,
  iamUser: IamUser | undefined,
  previous: IndexUser | undefined,
  now: Date,
): RejectedKey[] {
  return (entry.rejectedKeys ?? []).map((r) => {
    if (r.fingerprint === undefined || r.start !== undefined) return r;
    const uploadDate =
      r.tagKey === undefined ? iamUser?.keys.find((x) => x.id === r.id)?.uploadDate : undefined;
    const k = {
      id: r.id,
      fingerprint: r.fingerprint,
      ...(r.tagKey !== undefined ? { tagKey: r.tagKey } : {}),
    };
    return { ...r, start: keyStart(uploadDate ? { ...k, uploadDate } : k, previous, now).toISOString() };
  });
}

/** What the lifecycle phase reads besides the earlier phases' result. */
export interface LifecycleInput {
  readonly snapshot: IamSnapshot;
  /** The previous index (its grants: since when each grant value is known). */
  readonly previous: PublishedIndex | undefined;
  /** A user's entry in the previous index (by IAM user id: a rename keeps it), as render finds it. */
  readonly previousEntry: PreviousEntry;
  readonly settings: LifecycleSettings & { readonly prefix: string };
  readonly now: Date;
}

/**
 * The lifecycle phase: `rendered` as the earlier phases made it -> the same with expired keys
 * refused (rejectedKeys reason `expired`), every key's start and expiry recorded, user objects with
 * expiry-time, group objects with grantees and the verify-required filter, and index.json's grants.
 */
export function applyLifecycle<R extends PhaseResult>(rendered: R, input: LifecycleInput): R {
  const { snapshot, previous, previousEntry, settings, now } = input;
  const objects = new Map(rendered.objects);
  const problems: Problem[] = [...rendered.problems];
  const iamUsers = new Map(snapshot.users.map((u) => [u.name, u]));
  const groupNames = new Set(Object.keys(rendered.index.groups));
  const users = nullRecord<IndexUser>();
  const keysByUser = new Map<string, PublishedKey[]>();
  const grants: IndexGrant[] = [];
  let keyCount = rendered.keyCount;
  for (const [name, entry] of Object.entries(rendered.index.users)) {
    const iamUser = iamUsers.get(name);
    const ctx = {
      previous: iamUser ? previousEntry(iamUser) : undefined,
      keyBodies: rendered.index.keyBodies,
    };
    const aged = ageKeys(name, entry, iamUser, ctx, settings, now);
    for (const e of aged.expired) {
      const tag = e.tagKey !== undefined ? { tagKey: e.tagKey } : {};
      problems.push({ user: name, keyId: e.id, ...tag, reason: `${EXPIRED_REASON} (${e.expires})` });
    }
    keyCount -= aged.expired.length;
    const rejectedKeys = [...datedRejections(entry, iamUser, ctx.previous, now), ...aged.expired];
    users[name] = { ...entry, keys: aged.keys, ...(rejectedKeys.length ? { rejectedKeys } : {}) };
    keysByUser.set(name, aged.published);
    objects.set(userKey(settings.prefix, name), userLines(name, aged.published));
    if (iamUser) grants.push(...userGrants(iamUser, groupNames, previous, settings, now));
  }
  const groups = nullRecord<IndexGroup>();
  for (const [g, entry] of Object.entries(rendered.index.groups)) {
    const o = groupObject(g, entry.members, grants, keysByUser, settings);
    objects.set(groupKey(settings.prefix, g), o.text);
    groups[g] = {
      members: entry.members,
      ...(settings.verifyRequiredGroups.includes(g) ? { verifyRequired: true } : {}),
      ...(o.omitted.length ? { omittedKeys: o.omitted } : {}),
    };
  }
  return {
    ...rendered,
    objects,
    problems,
    keyCount,
    index: { ...rendered.index, users, groups, ...(grants.length ? { grants } : {}) },
  };
}

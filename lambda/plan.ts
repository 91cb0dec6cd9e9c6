// Pure: desired objects vs what the bucket holds -> puts, deletes and the
// guards that refuse a run that looks like an outage rather than a change.
import { createHash } from 'node:crypto';
import { type PublishedIndex, parseLayoutKey } from '../contract/index.js';
import { byCodeUnit } from './render.js';

export interface ExistingObject {
  readonly key: string;
  /** S3 ETag; for single-part SSE-S3 objects it is the MD5 of the bytes. */
  readonly etag?: string;
  /**
   * S3 keeps a SHA-256 checksum of the object (the listing's ChecksumAlgorithm). Hosts verify
   * bodies against it; an object without one is rewritten even when its bytes are unchanged.
   */
  readonly sha256?: boolean;
}

export interface PlanOptions {
  readonly prefix: string;
  /** Largest share of existing principals one run may delete. @default 0.5 */
  readonly maxDeleteShare: number;
  /** Lift the empty-snapshot and mass-delete guards. */
  readonly allowMassDelete: boolean;
}

export interface Put {
  readonly key: string;
  readonly body: string;
  readonly change: 'add' | 'change';
}

export interface Plan {
  readonly puts: readonly Put[];
  readonly deletes: readonly string[];
  readonly unchanged: readonly string[];
  /** Set when a guard refuses the run: nothing may be written or deleted. */
  readonly refusal?: string;
}

export function md5Etag(body: string): string {
  return `"${createHash('md5').update(body, 'utf8').digest('hex')}"`;
}

/** The object holds these bytes, with the SHA-256 checksum hosts verify: no need to write it again. */
export function upToDate(existing: ExistingObject, body: string): boolean {
  // A multipart ETag ("...-N") is not an MD5: treat as changed and rewrite.
  return existing.sha256 === true && existing.etag !== undefined && existing.etag === md5Etag(body);
}

export function plan(
  desired: ReadonlyMap<string, string>,
  existing: readonly ExistingObject[],
  opts: PlanOptions,
): Plan {
  const current = new Map<string, ExistingObject>();
  for (const o of existing) {
    const layout = parseLayoutKey(opts.prefix, o.key);
    if (layout?.type === 'principal') current.set(o.key, o); // index.json and foreign objects are not ours to plan
  }

  const puts: Put[] = [];
  const unchanged: string[] = [];
  for (const key of [...desired.keys()].sort(byCodeUnit)) {
    const body = desired.get(key) as string;
    const have = current.get(key);
    if (!have) puts.push({ key, body, change: 'add' });
    else if (upToDate(have, body)) unchanged.push(key);
    else puts.push({ key, body, change: 'change' });
  }
  const deletes = [...current.keys()].filter((k) => !desired.has(k)).sort(byCodeUnit);

  const result: Plan = { puts, deletes, unchanged };
  if (opts.allowMassDelete) return result;

  const isUser = (k: string) => k.startsWith(`${opts.prefix}users/`);
  const existingUsers = [...current.keys()].filter(isUser).length;
  const desiredUsers = [...desired.keys()].filter(isUser).length;
  if (desiredUsers === 0 && existingUsers > 0) {
    return {
      ...result,
      refusal: `refusing to publish: IAM returned no users while the bucket holds ${existingUsers}; if that is really so, allow mass deletion (--allow-mass-delete / ALLOW_MASS_DELETE=true)`,
    };
  }
  // Deleting a single principal is never "mass"; beyond that, a share of the existing ones.
  const share = current.size === 0 ? 0 : deletes.length / current.size;
  if (deletes.length > 1 && share > opts.maxDeleteShare) {
    return {
      ...result,
      refusal: `refusing to publish: it would delete ${deletes.length} of ${current.size} principal objects (${Math.round(
        share * 100,
      )}% > ${Math.round(opts.maxDeleteShare * 100)}%); if that is intended, allow mass deletion (--allow-mass-delete / ALLOW_MASS_DELETE=true) or raise the share (--max-delete-share / MAX_DELETE_SHARE)`,
    };
  }
  return result;
}

/**
 * Fewer users than this losing every published key is never "mass": one IAM
 * user can only change their own keys and tags (self-service), so one user,
 * or one user and an admin's revocation in the same run, can never refuse a run.
 */
export const KEY_LOSS_MIN_USERS = 3;

/**
 * What the IAM events of a run say was revoked (CloudTrail: an admin or the user
 * did it): key ids deleted or deactivated, users deleted. A loss they explain
 * is a change, not a broken read.
 */
export interface Revocations {
  readonly keyIds: readonly string[];
  readonly users: readonly string[];
}

/**
 * Users of `previous` who had published keys and would have none (emptied
 * lists, and users gone), less those whose every lost key (or whose deletion)
 * the events explain.
 */
export function usersLosingAllKeys(
  previous: PublishedIndex | undefined,
  next: PublishedIndex,
  revoked?: Revocations,
): { readonly holders: number; readonly lost: readonly string[] } {
  const revokedIds = new Set(revoked?.keyIds ?? []);
  const deleted = new Set(revoked?.users ?? []);
  const nextById = new Map<string, number>();
  for (const e of Object.values(next.users)) if (e.userId) nextById.set(e.userId, e.keys.length);
  const nextByName = new Map(Object.entries(next.users).map(([n, e]) => [n, e.keys.length]));
  let holders = 0;
  const lost: string[] = [];
  for (const [name, e] of Object.entries(previous?.users ?? {})) {
    if (e.keys.length === 0) continue;
    holders++;
    // By IAM user id (a rename is not a loss); a version 1 entry has only its name.
    const now = e.userId ? nextById.get(e.userId) : nextByName.get(name);
    if (now) continue;
    const gone = e.userId ? !nextById.has(e.userId) : !nextByName.has(name);
    if ((gone && deleted.has(name)) || e.keys.every((k) => revokedIds.has(k.id))) continue;
    lost.push(name);
  }
  return { holders, lost: lost.sort(byCodeUnit) };
}

/**
 * Refuses a run that looks like a broken IAM read rather than a change: many
 * users' key lists emptying at once, or users vanishing (e.g. every
 * ListSSHPublicKeys answering an empty list). It counts users, not keys: a user
 * who adds and then removes 30 keys of their own is one user, and can never
 * hold back anyone else's change (a revocation above all). Refuses only when at
 * least KEY_LOSS_MIN_USERS users lose every key and they are more than
 * maxDeleteShare of the users who had keys. An event run passes what its events
 * revoked: a revocation CloudTrail recorded is never held back.
 */
export function keyLossRefusal(
  previous: PublishedIndex | undefined,
  next: PublishedIndex,
  opts: PlanOptions,
  revoked?: Revocations,
): string | undefined {
  if (opts.allowMassDelete) return undefined;
  const { holders, lost } = usersLosingAllKeys(previous, next, revoked);
  if (lost.length < KEY_LOSS_MIN_USERS || lost.length / holders <= opts.maxDeleteShare) return undefined;
  const shown = lost.length > 5 ? `${lost.slice(0, 5).join(', ')}, ...` : lost.join(', ');
  return `refusing to publish: ${lost.length} of the ${holders} users with published keys would have none left (${Math.round(
    (lost.length / holders) * 100,
  )}% > ${Math.round(opts.maxDeleteShare * 100)}%: ${shown}), which looks like an incomplete IAM read; if that is intended, allow mass deletion (--allow-mass-delete / ALLOW_MASS_DELETE=true) or raise the share (--max-delete-share / MAX_DELETE_SHARE)`;
}

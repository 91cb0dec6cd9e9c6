// Pure: desired objects vs what the bucket holds -> puts, deletes and the
// guards that refuse a run that looks like an outage rather than a change.
import { createHash } from 'node:crypto';
import { parseLayoutKey } from '../contract/index.js';
import { byCodeUnit } from './render.js';

export interface ExistingObject {
  readonly key: string;
  /** S3 ETag; for single-part SSE-S3 objects it is the MD5 of the bytes. */
  readonly etag?: string;
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

function sameBytes(existing: ExistingObject, body: string): boolean {
  // A multipart ETag ("...-N") is not an MD5: treat as changed and rewrite.
  return existing.etag !== undefined && existing.etag === md5Etag(body);
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
    else if (sameBytes(have, body)) unchanged.push(key);
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

/** Below this many published keys a drop is never "mass": small teams change by whole people. */
export const KEY_GUARD_MIN = 10;

/**
 * Refuses a run that would empty authorized_keys files wholesale without
 * deleting them (e.g. every ListSSHPublicKeys answering an empty list): the
 * share of published keys that disappear is held to the same limit as deletions.
 */
export function keyLossRefusal(previousKeys: number, keys: number, opts: PlanOptions): string | undefined {
  if (opts.allowMassDelete || previousKeys < KEY_GUARD_MIN) return undefined;
  const lost = previousKeys - keys;
  if (lost <= 0 || lost / previousKeys <= opts.maxDeleteShare) return undefined;
  return `refusing to publish: the number of published keys would drop from ${previousKeys} to ${keys} (${Math.round(
    (lost / previousKeys) * 100,
  )}% > ${Math.round(opts.maxDeleteShare * 100)}%); if that is intended, allow mass deletion (--allow-mass-delete / ALLOW_MASS_DELETE=true) or raise the share (--max-delete-share / MAX_DELETE_SHARE)`;
}

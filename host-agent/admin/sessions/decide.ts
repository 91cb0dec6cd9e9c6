// Which live sessions `sessions --end-revoked` ends (pure): a session is kept
// while its owner still holds access through the principal it came through,
// ended when the current published objects say that access is gone, and left
// alone ("unknown") whenever those objects could not be read.
import type { AuditRecord } from '../../../contract/audit.js';

/** sessions.endRevoked: `access` (the IAM user holds no key in the principal any more), `key` (that key is gone). */
export const END_MODES = ['off', 'access', 'key'] as const;
export type EndMode = (typeof END_MODES)[number];

/** The reasons an `ended` record carries. */
export const END_REASONS = ['access-revoked', 'key-revoked'] as const;
export type EndReason = (typeof END_REASONS)[number];

/** What the current published object of one principal says. */
export type PrincipalKeys =
  /** The lines the login path would serve for it (owner and fingerprint of each). */
  | { readonly state: 'found'; readonly lines: readonly { owner: string; fingerprint: string }[] }
  /** S3 says there is no such object: nobody holds a key through it. */
  | { readonly state: 'absent' }
  /** Neither S3 nor a fresh cache entry answered: nothing can be decided from it. */
  | { readonly state: 'unreadable'; readonly why: string };

/**
 * The principals that map a local user now, as the login path would map it: the config's `users`, and in
 * iamUsers mode the IAM user directory.json names for it (uid and allowGroups checked). `unreadable`: what could
 * not be read and why (directory.json, the local accounts), so a principal outside `principals` may still map it.
 */
export interface Mapping {
  readonly principals: ReadonlySet<string>;
  readonly unreadable?: string;
}

export type Decision =
  | { readonly kind: 'keep'; readonly why: string }
  | { readonly kind: 'end'; readonly reason: EndReason }
  | { readonly kind: 'unknown'; readonly why: string };

/** The fields of a login record the decision reads. */
export type SessionOwner = Pick<
  AuditRecord,
  'iamUser' | 'fingerprint' | 'principal' | 'keySource' | 'verifiedBy'
>;

/** The principals a login came through (the agent logs them comma-separated when one key came through several). */
export function sessionPrincipals(s: Pick<AuditRecord, 'principal'>): string[] {
  return (s.principal ?? '').split(',').filter((p) => p !== '');
}

/** Every principal object the decisions for these sessions need. */
export function principalsToRead(sessions: readonly SessionOwner[]): string[] {
  return [...new Set(sessions.filter(isOurs).flatMap(sessionPrincipals))].sort();
}

function isOurs(s: SessionOwner): boolean {
  return s.keySource === 'iam' && s.iamUser !== null && sessionPrincipals(s).length > 0;
}

/**
 * mode `access`: kept while any principal the session came through still maps
 * its local user and publishes a key of its IAM user (a rotated key keeps the
 * session); mode `key`: kept while one of them still publishes that very key.
 * A principal that no longer maps the local user (removed from the config's
 * `users`, or in iamUsers mode no longer the user's IAM user, out of
 * allowGroups, the account's uid changed) grants nothing. Any readable
 * principal that keeps it wins over an unreadable one; otherwise an unreadable
 * one makes the answer `unknown`, never `end`.
 */
export function decide(
  s: SessionOwner,
  objects: ReadonlyMap<string, PrincipalKeys>,
  mode: Exclude<EndMode, 'off'>,
  mapping: Mapping,
): Decision {
  if (!isOurs(s)) return { kind: 'keep', why: 'not a key published from IAM' };
  // A log file line no cached object confirmed: any local user could have written it.
  if (s.verifiedBy !== 'journal' && s.verifiedBy !== 'cache')
    return { kind: 'keep', why: 'IAM owner not verified (log file, no cached object)' };
  const owner = s.iamUser as string;
  let unreadable: string | undefined;
  let holdsOther = false;
  for (const p of sessionPrincipals(s)) {
    if (!mapping.principals.has(p)) {
      if (mapping.unreadable !== undefined) unreadable ??= mapping.unreadable;
      continue;
    }
    const o = objects.get(p);
    if (o === undefined || o.state === 'unreadable') {
      unreadable ??= `${p}: ${o?.why ?? 'not read'}`;
      continue;
    }
    if (o.state === 'absent') continue;
    const own = o.lines.filter((l) => l.owner === owner);
    if (own.some((l) => l.fingerprint === s.fingerprint)) return { kind: 'keep', why: `key still in ${p}` };
    if (own.length > 0) {
      if (mode === 'access') return { kind: 'keep', why: `${owner} still holds a key in ${p}` };
      holdsOther = true;
    }
  }
  if (unreadable !== undefined) return { kind: 'unknown', why: `cannot read ${unreadable}` };
  return { kind: 'end', reason: holdsOther ? 'key-revoked' : 'access-revoked' };
}

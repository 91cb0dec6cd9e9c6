// Bucket layout shared by the publisher and the host agent (docs/architecture.md "Bucket layout").
import { allIn, CLASS, isIamNameOf } from './charset.js';

/**
 * IAM user names: 1-64 of [A-Za-z0-9+=,.@_-] (IAM's own rule), except '.' and
 * '..', which IAM allows but which URL clients normalise away as path segments.
 */
export const IAM_USER_NAME = /^(?!\.\.?$)[A-Za-z0-9+=,.@_-]{1,64}$/;
/** IAM group names: 1-128 of the same characters, with the same exception. */
export const IAM_GROUP_NAME = /^(?!\.\.?$)[A-Za-z0-9+=,.@_-]{1,128}$/;

/** The longest IAM user name. */
export const IAM_USER_NAME_MAX = 64;

/** IAM_USER_NAME without a regular expression (a cache hit runs none: contract/charset.ts). */
export function isIamUserName(s: string): boolean {
  return isIamNameOf(s, IAM_USER_NAME_MAX);
}

/** IAM_GROUP_NAME without a regular expression. */
export function isIamGroupName(s: string): boolean {
  return isIamNameOf(s, 128);
}

export type PrincipalKind = 'users' | 'groups';

export interface Principal {
  readonly kind: PrincipalKind;
  readonly name: string;
}

export class InvalidPrefixError extends Error {
  override name = 'InvalidPrefixError';
}

export class InvalidPrincipalError extends Error {
  override name = 'InvalidPrincipalError';
}

/**
 * Normalises a key prefix to '' or 'a/b/' form. Rejects what would make object
 * keys ambiguous or escape the layout ('..', '//', leading '/').
 */
export function normalizePrefix(prefix: string | undefined): string {
  if (prefix === undefined || prefix === '') return '';
  const p = prefix.endsWith('/') ? prefix : `${prefix}/`;
  if (p.startsWith('/') || p.includes('//') || !allIn(p, CLASS.prefix)) {
    throw new InvalidPrefixError(
      `invalid key prefix ${JSON.stringify(prefix)}: use letters, digits and !_.*'()-/`,
    );
  }
  if (hasDotSegment(p)) {
    throw new InvalidPrefixError(
      `invalid key prefix ${JSON.stringify(prefix)}: '.' and '..' segments are not allowed`,
    );
  }
  return p;
}

/** A `.` or `..` segment between slashes. */
function hasDotSegment(p: string): boolean {
  for (const seg of p.split('/')) if (seg === '.' || seg === '..') return true;
  return false;
}

export function isValidName(kind: PrincipalKind, name: string): boolean {
  return kind === 'users' ? isIamUserName(name) : isIamGroupName(name);
}

/** Parses 'users/alice' or 'groups/Admins'. */
export function parsePrincipal(text: string): Principal {
  const slash = text.indexOf('/');
  const kind = text.slice(0, slash);
  const name = text.slice(slash + 1);
  if ((kind === 'users' || kind === 'groups') && isValidName(kind, name)) return { kind, name };
  throw new InvalidPrincipalError(
    `invalid principal ${JSON.stringify(text)}: expected users/<IAM user name> or groups/<IAM group name>`,
  );
}

export function principalId(p: Principal): string {
  return `${p.kind}/${p.name}`;
}

export function principalKey(prefix: string, p: Principal): string {
  return `${prefix}${p.kind}/${p.name}/authorized_keys`;
}

export function userKey(prefix: string, user: string): string {
  return principalKey(prefix, { kind: 'users', name: user });
}

export function groupKey(prefix: string, group: string): string {
  return principalKey(prefix, { kind: 'groups', name: group });
}

export function indexKey(prefix: string): string {
  return `${prefix}index.json`;
}

export type LayoutObject =
  | { readonly type: 'index' }
  | { readonly type: 'directory' }
  | { readonly type: 'heartbeat' }
  | { readonly type: 'principal'; readonly principal: Principal };

/**
 * Classifies an object key under the prefix. Anything that is not exactly part
 * of the layout returns undefined: the publisher never touches such objects.
 */
export function parseLayoutKey(prefix: string, key: string): LayoutObject | undefined {
  if (!key.startsWith(prefix)) return undefined;
  const rest = key.slice(prefix.length);
  if (rest === 'index.json') return { type: 'index' };
  if (rest === 'directory.json') return { type: 'directory' };
  if (rest === 'heartbeat.json') return { type: 'heartbeat' };
  const m = /^(users|groups)\/([^/]+)\/authorized_keys$/.exec(rest);
  if (!m) return undefined;
  const kind = m[1] as PrincipalKind;
  const name = m[2] as string;
  return isValidName(kind, name) ? { type: 'principal', principal: { kind, name } } : undefined;
}

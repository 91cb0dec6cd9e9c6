// Keys from IAM user tags (docs/architecture.md "Keys from IAM user tags"): a user tag
// whose key starts with a prefix (default `ssh-key:`) holds one public key as
// `<type> <base64>`. IAM's SSH key store takes ssh-rsa and PEM only; ed25519,
// ECDSA and FIDO (sk-*) keys fit a tag value.
import { type KeyResult, validateKey } from './keys.js';

export const DEFAULT_TAG_KEY_PREFIX = 'ssh-key:';
/** IAM's tag key rule: 1-128 letters, separators, digits and `_.:/=+-@`. */
export const IAM_TAG_KEY = /^[\p{L}\p{Z}\p{N}_.:/=+\-@]{1,128}$/u;
/** The characters IAM allows in a tag key (and value), one at a time. */
const TAG_KEY_CHAR = /[\p{L}\p{Z}\p{N}_.:/=+\-@]/u;
export const MAX_TAG_KEY_LENGTH = 128;
/** IAM's longest tag value: an ssh-rsa key of 2048 bits (~380 characters) never fits. */
export const MAX_TAG_VALUE_LENGTH = 256;
/** Index ids of tag keys start with this; key-store ids (`APKA...`) never do. */
export const TAG_ID_PREFIX = 'tag:';

export class InvalidTagKeyPrefixError extends Error {
  override name = 'InvalidTagKeyPrefixError';
}

/**
 * Checks a tag key prefix: IAM tag key characters only (so no `*` or `?`, which
 * IAM policies read as wildcards in `aws:TagKeys`), at most 127 characters (a
 * label must still fit), ending in `:` or `/`, and not `aws:` (IAM reserves it).
 */
export function parseTagKeyPrefix(value: string | undefined): string {
  if (value === undefined || value === '') return DEFAULT_TAG_KEY_PREFIX;
  if (value.length >= MAX_TAG_KEY_LENGTH || !IAM_TAG_KEY.test(value)) {
    throw new InvalidTagKeyPrefixError(
      `invalid tag key prefix ${JSON.stringify(value.slice(0, 140))}: use 1-127 letters, digits, spaces and _.:/=+-@`,
    );
  }
  // The self-service policy lets members set any tag key matching `<prefix>*`: a prefix without a
  // separator (`ssh`) would also match unrelated tags (`ssh-access-level`, an ABAC attribute, say).
  if (!/[:/]$/.test(value)) {
    throw new InvalidTagKeyPrefixError(
      `invalid tag key prefix ${JSON.stringify(value)}: end it with : or / (e.g. ${JSON.stringify(`${value}:`)}), so that it matches no unrelated tag`,
    );
  }
  if (value.toLowerCase().startsWith('aws:')) {
    throw new InvalidTagKeyPrefixError(`invalid tag key prefix ${JSON.stringify(value)}: IAM reserves aws:`);
  }
  return value;
}

/** The index id of a tag key of one user (`tag:ssh-key:laptop`): unique per user, as tag keys are. */
export function tagKeyId(tagKey: string): string {
  return `${TAG_ID_PREFIX}${tagKey}`;
}

/** The keyBodies id of a tag key: keyBodies is global, so the IAM user id makes it unique. */
export function tagBodyId(userId: string, tagKey: string): string {
  return `${TAG_ID_PREFIX}${userId}:${tagKey}`;
}

/**
 * Parses a tag value: exactly `<type> <base64>` (no comment, no options, no
 * PEM), then validates the key like any other.
 */
export function parseTagValue(value: string): KeyResult {
  if (value.length > MAX_TAG_VALUE_LENGTH) return { ok: false, reason: 'tag value longer than IAM allows' };
  const m = /^([a-z0-9@.-]{1,40}) ([A-Za-z0-9+/=]+)$/.exec(value.trim());
  if (!m) return { ok: false, reason: "tag value is not '<key type> <base64>'" };
  return validateKey(m[1] as string, m[2] as string);
}

/**
 * A tag label from free text (a key comment such as `alice@laptop`): characters
 * IAM refuses in a tag key become `-`, runs of them collapse, and the result is
 * cut to fit `maxLength`. Empty when nothing usable is left.
 */
export function sanitizeTagLabel(text: string, maxLength: number): string {
  let out = '';
  for (const ch of text.normalize('NFC')) out += TAG_KEY_CHAR.test(ch) ? ch : '-';
  out = out
    .replace(/\s+/gu, '-')
    .replace(/-{2,}/g, '-')
    .replace(/^-+|-+$/g, '');
  return [...out].slice(0, Math.max(0, maxLength)).join('').replace(/-+$/, '');
}

/**
 * Checks the grant tag prefix (default `ssh-grant:`) by parseTagKeyPrefix's rules, and refuses one
 * that overlaps the key tag prefix in any letter case (IAM tag keys are matched without regard to
 * case in policies' `aws:TagKeys`): members may set `<key prefix>*` on themselves, so a grant prefix
 * under it (`ssh:` and `ssh:grant:`) would let them grant themselves any group.
 */
export function parseGrantTagPrefix(value: string | undefined, tagKeyPrefix: string, dflt: string): string {
  const prefix = value === undefined || value === '' ? dflt : parseTagKeyPrefix(value);
  const [a, b] = [prefix.toLowerCase(), tagKeyPrefix.toLowerCase()];
  if (a.startsWith(b) || b.startsWith(a)) {
    throw new InvalidTagKeyPrefixError(
      `grant tag prefix ${JSON.stringify(prefix)} overlaps the key tag prefix ${JSON.stringify(tagKeyPrefix)}: members may set key tags on themselves`,
    );
  }
  return prefix;
}

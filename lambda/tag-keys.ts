// Pure: the keys an IAM user keeps in tags (docs/architecture.md "Keys from IAM user tags").
import { type PublicKey, parseTagValue, tagKeyId } from '../contract/index.js';
import type { IamUser } from './iam-source.js';

/** `value`: the tag's value as IAM holds it (kept in index.json so a targeted run can restore the tag). */
export type TagKey =
  | { readonly id: string; readonly tagKey: string; readonly value: string; readonly key: PublicKey }
  | { readonly id: string; readonly tagKey: string; readonly value: string; readonly reason: string };

/** Plain code-unit order, as render's. */
function byCodeUnit(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * The user's tags whose key starts with `prefix`, in tag key order, each
 * parsed and validated as `<type> <base64>` (or refused with a reason).
 */
export function tagKeysOf(user: Pick<IamUser, 'tags'>, prefix: string): TagKey[] {
  return user.tags
    .filter((t) => t.key.startsWith(prefix))
    .sort((a, b) => byCodeUnit(a.key, b.key))
    .map((t) => {
      const r = parseTagValue(t.value);
      const id = tagKeyId(t.key);
      return r.ok
        ? { id, tagKey: t.key, value: t.value, key: r.key }
        : { id, tagKey: t.key, value: t.value, reason: r.reason };
    });
}

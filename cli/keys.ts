// `iam-ssh-keys keys ...`: one's keys in both stores. ssh-rsa keys go to IAM's
// SSH key store (which takes RSA and PEM only); every other type goes to a user
// tag under the tag key prefix (docs/architecture.md "Keys from IAM user tags").
import { readFileSync } from 'node:fs';
import {
  DeleteSSHPublicKeyCommand,
  type IAMClient,
  ListSSHPublicKeysCommand,
  ListUserTagsCommand,
  TagUserCommand,
  UntagUserCommand,
  UpdateSSHPublicKeyCommand,
  UploadSSHPublicKeyCommand,
} from '@aws-sdk/client-iam';
import { GetCallerIdentityCommand, type STSClient } from '@aws-sdk/client-sts';
import {
  IAM_TAG_KEY,
  MAX_TAG_KEY_LENGTH,
  MAX_TAG_VALUE_LENGTH,
  type PublicKey,
  parsePublicKeyText,
  parseTagValue,
  sanitizeTagLabel,
  TAG_ID_PREFIX,
  tagKeyId,
} from '../contract/index.js';
import type { Command } from './args.js';

export class KeysError extends Error {
  override name = 'KeysError';
}

type Out = (line: string) => void;
export type KeysCommand = Extract<Command, { cmd: 'keys' }>;
export interface Tag {
  readonly key: string;
  readonly value: string;
}

async function currentUser(sts: STSClient): Promise<string> {
  const id = await sts.send(new GetCallerIdentityCommand({}));
  const m = /:user\/(?:.*\/)?([^/]+)$/.exec(id.Arn ?? '');
  if (!m?.[1]) throw new KeysError(`the caller ${id.Arn ?? '?'} is not an IAM user: pass --user NAME`);
  return m[1];
}

/** The user's tags (all of them: the caller filters). */
async function listTags(iam: IAMClient, user: string): Promise<Tag[]> {
  const tags: Tag[] = [];
  let marker: string | undefined;
  do {
    const page = await iam.send(
      new ListUserTagsCommand({ UserName: user, ...(marker ? { Marker: marker } : {}) }),
    );
    for (const t of page.Tags ?? []) if (t.Key !== undefined) tags.push({ key: t.Key, value: t.Value ?? '' });
    marker = page.IsTruncated ? page.Marker : undefined;
  } while (marker);
  return tags;
}

/** The tag key a `keys delete` argument names, or undefined for a key-store id. */
export function tagKeyOf(arg: string, prefix: string): string | undefined {
  if (arg.startsWith(TAG_ID_PREFIX)) return arg.slice(TAG_ID_PREFIX.length);
  return arg.startsWith(prefix) ? arg : undefined;
}

/** One line per key tag: `tag:<tag key>`, `Tag` or `Invalid`, then type and fingerprint or the reason. */
export function tagKeyLines(tags: readonly Tag[], prefix: string): string[] {
  return tags
    .filter((t) => t.key.startsWith(prefix))
    .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
    .map((t) => {
      const r = parseTagValue(t.value);
      return r.ok
        ? `${tagKeyId(t.key)}\tTag\t${r.key.type}\t${r.key.fingerprint}`
        : `${tagKeyId(t.key)}\tInvalid\t${r.reason}`;
    });
}

/**
 * The tag key for an upload: `--label` as given (refused unless IAM accepts it),
 * else the key comment made into tag-key characters, else a piece of the
 * fingerprint.
 */
export function uploadTagKey(
  prefix: string,
  label: string | undefined,
  comment: string,
  key: PublicKey,
): string {
  const room = MAX_TAG_KEY_LENGTH - prefix.length;
  if (label !== undefined) {
    const tagKey = `${prefix}${label}`;
    if (label === '' || !IAM_TAG_KEY.test(tagKey)) {
      throw new KeysError(
        `--label ${JSON.stringify(label)}: a tag key holds 1-128 letters, digits, spaces and _.:/=+-@ (${room} left after the prefix ${prefix})`,
      );
    }
    return tagKey;
  }
  const fromComment = sanitizeTagLabel(comment, room);
  return `${prefix}${fromComment || sanitizeTagLabel(`${key.type.replace(/@.*/, '')}-${key.fingerprint.slice(7, 19)}`, room)}`;
}

async function upload(
  c: Extract<KeysCommand, { action: 'upload' }>,
  iam: IAMClient,
  user: string,
  prefix: string,
  out: Out,
): Promise<void> {
  const text = readFileSync(c.file, 'utf8');
  // Validate first: IAM would accept keys that our hosts will refuse to serve.
  const parsed = parsePublicKeyText(text);
  if (!parsed.ok) throw new KeysError(`${c.file}: ${parsed.reason}`);
  const { key } = parsed;
  const body = `${key.type} ${key.blob}`;
  if (key.type === 'ssh-rsa') {
    if (c.label !== undefined)
      throw new KeysError("--label applies to keys kept in a tag: ssh-rsa keys go to IAM's SSH key store");
    const res = await iam.send(new UploadSSHPublicKeyCommand({ UserName: user, SSHPublicKeyBody: body }));
    out(`uploaded ${res.SSHPublicKey?.SSHPublicKeyId ?? '?'} (${key.fingerprint}) for ${user}`);
    return;
  }
  if (body.length > MAX_TAG_VALUE_LENGTH) {
    throw new KeysError(
      `${c.file}: this ${key.type} key is ${body.length} characters, more than an IAM tag value holds (${MAX_TAG_VALUE_LENGTH}); IAM's SSH key store takes ssh-rsa keys only: use an ssh-rsa key there`,
    );
  }
  const comment = text.trim().startsWith('-----')
    ? ''
    : text
        .trim()
        .split(/[ \t]+/)
        .slice(2)
        .join(' ');
  const tagKey = uploadTagKey(prefix, c.label, comment, key);
  const existing = await listTags(iam, user);
  const same = existing.find((t) => {
    if (!t.key.startsWith(prefix)) return false;
    const r = parseTagValue(t.value);
    return r.ok && r.key.fingerprint === key.fingerprint;
  });
  if (same) {
    out(`already uploaded as ${tagKeyId(same.key)} (${key.fingerprint}) for ${user}`);
    return;
  }
  if (existing.some((t) => t.key === tagKey)) {
    throw new KeysError(
      `${tagKeyId(tagKey)} already holds another key of ${user}: choose another --label, or delete it first (keys delete ${tagKeyId(tagKey)})`,
    );
  }
  await iam.send(new TagUserCommand({ UserName: user, Tags: [{ Key: tagKey, Value: body }] }));
  out(`uploaded ${tagKeyId(tagKey)} (${key.fingerprint}) for ${user}`);
}

export async function runKeys(
  c: KeysCommand,
  deps: { readonly iam: IAMClient; readonly sts: STSClient; readonly tagKeyPrefix: string },
  out: Out,
): Promise<number> {
  const { iam, tagKeyPrefix: prefix } = deps;
  const user = c.user ?? (await currentUser(deps.sts));
  if (c.action === 'list') {
    const keys = [];
    let marker: string | undefined;
    do {
      const page = await iam.send(
        new ListSSHPublicKeysCommand({ UserName: user, ...(marker ? { Marker: marker } : {}) }),
      );
      keys.push(...(page.SSHPublicKeys ?? []));
      marker = page.IsTruncated ? page.Marker : undefined;
    } while (marker);
    const tagLines = tagKeyLines(await listTags(iam, user), prefix);
    if (keys.length === 0 && tagLines.length === 0) out(`${user} has no SSH public keys`);
    for (const k of keys) out(`${k.SSHPublicKeyId}\t${k.Status}\t${k.UploadDate?.toISOString() ?? ''}`);
    for (const l of tagLines) out(l);
    return 0;
  }
  if (c.action === 'upload') {
    await upload(c, iam, user, prefix, out);
    return 0;
  }
  const tagKey = tagKeyOf(c.keyId, prefix);
  if (tagKey !== undefined) {
    if (c.action !== 'delete') {
      throw new KeysError(
        `${c.keyId} is kept in a tag, which has no Active/Inactive status: delete it to revoke it`,
      );
    }
    // Only key tags: `keys delete tag:team` must not remove an unrelated tag.
    if (!tagKey.startsWith(prefix))
      throw new KeysError(`${c.keyId} is not a key tag (tag key prefix ${prefix})`);
    if (!(await listTags(iam, user)).some((t) => t.key === tagKey)) {
      throw new KeysError(`${user} has no tag ${tagKey}`);
    }
    await iam.send(new UntagUserCommand({ UserName: user, TagKeys: [tagKey] }));
    out(`deleted ${tagKeyId(tagKey)} of ${user}`);
    return 0;
  }
  if (c.action === 'delete') {
    await iam.send(new DeleteSSHPublicKeyCommand({ UserName: user, SSHPublicKeyId: c.keyId }));
    out(`deleted ${c.keyId} of ${user}`);
    return 0;
  }
  const Status = c.action === 'activate' ? 'Active' : 'Inactive';
  await iam.send(new UpdateSSHPublicKeyCommand({ UserName: user, SSHPublicKeyId: c.keyId, Status }));
  out(`${c.keyId} of ${user} is now ${Status}`);
  return 0;
}

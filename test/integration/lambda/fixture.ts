// An IAM fixture built in moto over HTTP, and the bucket contents the contract
// says it must produce, written out independently of the publisher's renderer.
import {
  AddUserToGroupCommand,
  CreateGroupCommand,
  CreateUserCommand,
  type IAMClient,
  UpdateSSHPublicKeyCommand,
  UploadSSHPublicKeyCommand,
} from '@aws-sdk/client-iam';
import { GetObjectCommand, paginateListObjectsV2, type S3Client } from '@aws-sdk/client-s3';
import { makeKey, type TestKey } from '../../../dev/keys.js';

export interface FixtureUser {
  readonly name: string;
  readonly groups: string[];
  /** Uploaded keys in upload order, with IAM's key id and final status. */
  readonly keys: { id: string; key: TestKey; status: 'Active' | 'Inactive' }[];
}

export interface Fixture {
  readonly users: FixtureUser[];
  readonly groups: string[];
}

/** Names using every character IAM allows: + = , . @ _ - */
export const ODD_NAMES = ['bob+ops@example.com', 'carol.smith', 'dave_x-y', 'eve=admin', 'frank,jr'];

export async function buildFixture(iam: IAMClient): Promise<Fixture> {
  const groups = ['admins', 'developers', 'ops', 'empty-group', 'Team.Alpha+1'];
  for (const g of groups) await iam.send(new CreateGroupCommand({ GroupName: g }));
  const names = [...ODD_NAMES, ...Array.from({ length: 27 }, (_, i) => `user${String(i).padStart(2, '0')}`)];
  const users: FixtureUser[] = [];
  for (const [i, name] of names.entries()) {
    await iam.send(new CreateUserCommand({ UserName: name }));
    const memberOf = [
      ...(i % 3 === 0 ? ['admins'] : []),
      ...(i % 2 === 0 ? ['developers'] : []),
      ...(i % 5 === 1 ? ['ops', 'Team.Alpha+1'] : []),
    ];
    for (const g of memberOf) await iam.send(new AddUserToGroupCommand({ GroupName: g, UserName: name }));
    // user00: 5 keys (rsa and ed25519); every 7th: no keys; every 4th: one inactive key too.
    const kinds: ('ed25519' | 'rsa')[] =
      name === 'user00' ? ['rsa', 'ed25519', 'rsa', 'ed25519', 'ed25519'] : i % 7 === 3 ? [] : ['ed25519'];
    if (i % 4 === 2) kinds.push('ed25519');
    const keys: FixtureUser['keys'] = [];
    for (const [k, kind] of kinds.entries()) {
      const key = makeKey(kind);
      // IAM keeps the uploaded comment; the contract says it is dropped.
      const res = await iam.send(
        new UploadSSHPublicKeyCommand({ UserName: name, SSHPublicKeyBody: `${key.openssh} laptop-${k}` }),
      );
      const id = res.SSHPublicKey?.SSHPublicKeyId as string;
      const inactive = i % 4 === 2 && k === kinds.length - 1;
      if (inactive) {
        await iam.send(
          new UpdateSSHPublicKeyCommand({ UserName: name, SSHPublicKeyId: id, Status: 'Inactive' }),
        );
      }
      keys.push({ id, key, status: inactive ? 'Inactive' : 'Active' });
    }
    users.push({ name, groups: memberOf, keys });
  }
  return { users, groups };
}

const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** The contract's line format, spelled out here rather than imported. */
export function expectedUserObject(u: FixtureUser): string {
  return [...u.keys]
    .filter((k) => k.status === 'Active')
    .sort((a, b) => cmp(a.id, b.id))
    .map((k) => `environment="SSH_KEY_OWNER=${u.name}" ${k.key.type} ${k.key.blob} ${u.name}\n`)
    .join('');
}

export function expectedObjects(f: Fixture, prefix: string): Map<string, string> {
  const out = new Map<string, string>();
  const sorted = [...f.users].sort((a, b) => cmp(a.name, b.name));
  for (const u of sorted) out.set(`${prefix}users/${u.name}/authorized_keys`, expectedUserObject(u));
  for (const g of f.groups) {
    out.set(
      `${prefix}groups/${g}/authorized_keys`,
      sorted
        .filter((u) => u.groups.includes(g))
        .map(expectedUserObject)
        .join(''),
    );
  }
  return out;
}

/** Every object under the prefix: key -> body. */
export async function bucketContents(
  s3: S3Client,
  bucket: string,
  prefix = '',
): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for await (const page of paginateListObjectsV2({ client: s3 }, { Bucket: bucket, Prefix: prefix })) {
    for (const o of page.Contents ?? []) {
      const res = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: o.Key }));
      out.set(o.Key as string, (await res.Body?.transformToString('utf8')) ?? '');
    }
  }
  return out;
}

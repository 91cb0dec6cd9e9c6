// The publisher against moto: a copied public key stays with its first holder,
// and uids follow the IAM user id (renames, re-created names, a version 1 index).
import {
  CreateUserCommand,
  DeleteSSHPublicKeyCommand,
  DeleteUserCommand,
  type IAMClient,
  UpdateUserCommand,
  UploadSSHPublicKeyCommand,
} from '@aws-sdk/client-iam';
import { CreateBucketCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type PublishedIndex, parseIndex } from '../../../contract/index.js';
import { type AwsProxy, startAwsProxy } from '../../../dev/aws-proxy.js';
import { makeKey } from '../../../dev/keys.js';
import { type Moto, startMoto } from '../../../dev/moto.js';
import { clientsFor, completed } from '../../../dev/publisher.js';
import { DEFAULT_PUBLISH_CONFIG, publish } from '../../../lambda/publish.js';
import { bucketContents } from './fixture.js';

const BUCKET = 'identity-keys';
let moto: Moto;
let proxy: AwsProxy;
let direct: { iam: IAMClient; s3: S3Client };
let viaProxy: { iam: IAMClient; s3: S3Client };

const run = (prefix: string) =>
  publish({ ...DEFAULT_PUBLISH_CONFIG, bucket: BUCKET, prefix }, { ...viaProxy, now: () => new Date() }).then(
    completed,
  );

async function readIndex(prefix: string): Promise<PublishedIndex> {
  return parseIndex(
    (await bucketContents(direct.s3, BUCKET, `${prefix}index.json`)).get(`${prefix}index.json`) ?? '',
  );
}
async function object(prefix: string, user: string): Promise<string | undefined> {
  return (await bucketContents(direct.s3, BUCKET, `${prefix}users/${user}/`)).get(
    `${prefix}users/${user}/authorized_keys`,
  );
}
async function upload(user: string, body: string): Promise<string> {
  const r = await direct.iam.send(new UploadSSHPublicKeyCommand({ UserName: user, SSHPublicKeyBody: body }));
  return r.SSHPublicKey?.SSHPublicKeyId as string;
}
async function removeUser(user: string): Promise<void> {
  const { ListSSHPublicKeysCommand } = await import('@aws-sdk/client-iam');
  const keys = await direct.iam.send(new ListSSHPublicKeysCommand({ UserName: user }));
  for (const k of keys.SSHPublicKeys ?? [])
    await direct.iam.send(
      new DeleteSSHPublicKeyCommand({ UserName: user, SSHPublicKeyId: k.SSHPublicKeyId }),
    );
  await direct.iam.send(new DeleteUserCommand({ UserName: user }));
}
const line = (owner: string, k: { type: string; blob: string }) =>
  `environment="SSH_KEY_OWNER=${owner}" ${k.type} ${k.blob} ${owner}\n`;
const tick = () => new Promise((r) => setTimeout(r, 5)); // moto's UploadDate has millisecond precision

beforeAll(async () => {
  moto = await startMoto();
  proxy = await startAwsProxy(moto.endpoint);
  direct = clientsFor(moto.endpoint);
  viaProxy = clientsFor(proxy.endpoint);
  await direct.s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
});

afterAll(async () => {
  await proxy?.stop();
  await moto?.stop();
});

// Each describe builds its own IAM users and removes them, so the next one starts from an empty IAM.
describe('a public key uploaded by a second IAM user', () => {
  const key = makeKey('ed25519');
  const other = makeKey('ed25519');

  afterAll(async () => {
    for (const u of ['alice', 'mallory']) await removeUser(u);
  });

  it("B uploads A's key after A: A's line is still published, B's is not, index.json says why", async () => {
    const prefix = 'copy/';
    await direct.iam.send(new CreateUserCommand({ UserName: 'alice' }));
    await direct.iam.send(new CreateUserCommand({ UserName: 'mallory' }));
    await upload('alice', `${key.openssh} alice@laptop`);
    await run(prefix);
    expect(await object(prefix, 'alice')).toBe(line('alice', key));

    await tick();
    const copyId = await upload('mallory', `${key.openssh} not-mine`);
    await upload('mallory', other.openssh);
    const result = await run(prefix);
    expect(await object(prefix, 'alice')).toBe(line('alice', key));
    expect(await object(prefix, 'mallory')).toBe(line('mallory', other));
    const index = await readIndex(prefix);
    expect(index.users.alice?.rejectedKeys).toBeUndefined();
    expect(index.users.mallory?.rejectedKeys).toEqual([
      {
        id: copyId,
        fingerprint: key.fingerprint,
        activeSince: expect.any(String),
        // The key lifecycle dates a valid refused key too (its UploadDate: docs/key-lifecycle.md).
        start: expect.any(String),
        reason:
          'the same public key belongs to IAM user alice, whose claim came first (published for them, or Active earlier): this copy is not published',
      },
    ]);
    expect(result.summary).toMatchObject({ copiedKeysRefused: 1, rejectedKeys: 1, keys: 2 });
    expect(result.problems).toEqual([expect.objectContaining({ user: 'mallory', firstHolder: 'alice' })]);

    // Steady state: nothing but the heartbeat is written, no key body is fetched again.
    proxy.clear();
    const again = await run(prefix);
    expect(proxy.count('s3', 'PutObject')).toBe(2); // index.json and heartbeat.json
    expect(proxy.count('iam', 'GetSSHPublicKey')).toBe(0);
    expect(again.summary.copiedKeysRefused).toBe(1);
    const { generatedAt: _a, ...before } = index;
    const { generatedAt: _b, ...after } = await readIndex(prefix);
    expect(after).toEqual(before);
  });

  it('on a first publish (no previous index) both claims are first seen together: every copy is refused, whatever the upload dates', async () => {
    const prefix = 'copy-first-run/';
    const result = await run(prefix);
    expect(await object(prefix, 'alice')).toBe('');
    expect(await object(prefix, 'mallory')).toBe(line('mallory', other));
    expect(result.summary.copiedKeysRefused).toBe(2);
    expect(result.problems.map((p) => p.firstHolder)).toEqual([undefined, undefined]);
  });
});

describe('uids follow the IAM user id', () => {
  afterAll(async () => {
    for (const u of ['dora.new', 'erin']) await removeUser(u);
  });

  it('a renamed user keeps its uid; a re-created name gets a new one, never the old', async () => {
    const prefix = 'ids/';
    const k = makeKey('ed25519');
    await direct.iam.send(new CreateUserCommand({ UserName: 'dora' }));
    await direct.iam.send(new CreateUserCommand({ UserName: 'erin' }));
    await upload('dora', k.openssh);
    await run(prefix);
    const first = await readIndex(prefix);
    const dora = first.users.dora;
    expect(dora?.userId).toMatch(/^\w+$/);
    expect(first.uids).toEqual({
      [dora?.userId as string]: dora?.uid,
      [first.users.erin?.userId as string]: first.users.erin?.uid,
    });

    await direct.iam.send(new UpdateUserCommand({ UserName: 'dora', NewUserName: 'dora.new' }));
    const renamed = await run(prefix);
    expect(renamed.plan.deletes).toEqual([`${prefix}users/dora/authorized_keys`]);
    const second = await readIndex(prefix);
    expect(second.users.dora).toBeUndefined();
    expect(second.users['dora.new']).toMatchObject({
      userId: dora?.userId,
      uid: dora?.uid,
      localName: 'dora.new',
    });
    expect(await object(prefix, 'dora.new')).toBe(line('dora.new', k));

    await direct.iam.send(new CreateUserCommand({ UserName: 'dora' })); // somebody else
    await run(prefix);
    const third = await readIndex(prefix);
    expect(third.users.dora?.userId).not.toBe(dora?.userId);
    expect(third.users.dora?.uid).toBe(second.nextUid);
    expect(third.users['dora.new']?.uid).toBe(dora?.uid);
    await removeUser('dora');
  });

  it('migrates a version 1 index.json (uids by name) without changing any uid', async () => {
    const prefix = 'v1/';
    await run(prefix); // the objects a v1 publisher would have written
    const current = await readIndex(prefix);
    const v1 = {
      version: 1,
      generatedAt: current.generatedAt,
      users: Object.fromEntries(
        Object.entries(current.users).map(([name, { userId: _id, ...u }], i) => [
          name,
          { ...u, uid: 30000 + i },
        ]),
      ),
      groups: current.groups,
      keyBodies: current.keyBodies,
      uids: {
        ...Object.fromEntries(Object.keys(current.users).map((name, i) => [name, 30000 + i])),
        'gone.user': 30010,
      },
      nextUid: 30011,
    };
    await direct.s3.send(
      new PutObjectCommand({ Bucket: BUCKET, Key: `${prefix}index.json`, Body: JSON.stringify(v1) }),
    );
    await run(prefix);
    const migrated = await readIndex(prefix);
    expect(migrated.version).toBe(2);
    for (const [name, u] of Object.entries(v1.users)) {
      expect(migrated.users[name]?.uid).toBe(u.uid);
      expect(migrated.uids[migrated.users[name]?.userId as string]).toBe(u.uid);
    }
    expect(migrated.retiredUids).toEqual({ 'gone.user': 30010 });
    expect(migrated.nextUid).toBe(30011);
  });
});

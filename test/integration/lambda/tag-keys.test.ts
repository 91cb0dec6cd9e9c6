// Keys from IAM user tags, published against a real moto_server over HTTP
// (moto's GetAccountAuthorizationDetails returns each user's Tags, as IAM does).
import {
  AddUserToGroupCommand,
  CreateGroupCommand,
  CreateUserCommand,
  type IAMClient,
  TagUserCommand,
  UntagUserCommand,
  UploadSSHPublicKeyCommand,
} from '@aws-sdk/client-iam';
import { CreateBucketCommand, type S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type PublishedIndex, parseIndex } from '../../../contract/index.js';
import { type AwsProxy, startAwsProxy } from '../../../dev/aws-proxy.js';
import { makeKey, makeSkKey } from '../../../dev/keys.js';
import { type Moto, startMoto } from '../../../dev/moto.js';
import { clientsFor, completed } from '../../../dev/publisher.js';
import { DEFAULT_PUBLISH_CONFIG, publish } from '../../../lambda/publish.js';
import { bucketContents } from './fixture.js';

const BUCKET = 'tag-keys';
let moto: Moto;
let proxy: AwsProxy;
let direct: { iam: IAMClient; s3: S3Client };
let viaProxy: { iam: IAMClient; s3: S3Client };

const ed = makeKey('ed25519');
const ed2 = makeKey('ed25519');
const rsa = makeKey('rsa');
const sk = makeSkKey('ecdsa');
let rsaId = '';

/** The contract's line format, spelled out. */
const line = (owner: string, k: { type: string; blob: string }) =>
  `environment="SSH_KEY_OWNER=${owner}" ${k.type} ${k.blob} ${owner}\n`;

const run = (tagKeyPrefix?: string) =>
  publish(
    { ...DEFAULT_PUBLISH_CONFIG, bucket: BUCKET, prefix: '', ...(tagKeyPrefix ? { tagKeyPrefix } : {}) },
    { ...viaProxy, now: () => new Date() },
  ).then(completed);
async function objects(): Promise<{ files: Map<string, string>; index: PublishedIndex }> {
  const files = await bucketContents(direct.s3, BUCKET);
  return { files, index: parseIndex(files.get('index.json') ?? '') };
}
const tag = (user: string, Key: string, Value: string) =>
  direct.iam.send(new TagUserCommand({ UserName: user, Tags: [{ Key, Value }] }));

beforeAll(async () => {
  moto = await startMoto();
  proxy = await startAwsProxy(moto.endpoint);
  direct = clientsFor(moto.endpoint);
  viaProxy = clientsFor(proxy.endpoint);
  await direct.s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
  await direct.iam.send(new CreateGroupCommand({ GroupName: 'devs' }));
  for (const u of ['alice', 'bob', 'mallory']) {
    await direct.iam.send(new CreateUserCommand({ UserName: u }));
    await direct.iam.send(new AddUserToGroupCommand({ GroupName: 'devs', UserName: u }));
  }
  const up = await direct.iam.send(
    new UploadSSHPublicKeyCommand({ UserName: 'alice', SSHPublicKeyBody: `${rsa.openssh} alice@old` }),
  );
  rsaId = up.SSHPublicKey?.SSHPublicKeyId as string;
  await direct.iam.send(
    new TagUserCommand({
      UserName: 'alice',
      Tags: [
        { Key: 'ssh-key:laptop', Value: ed.openssh },
        { Key: 'ssh-key:broken', Value: 'ssh-ed25519 AAAA' },
        { Key: 'cost-center', Value: '42' },
      ],
    }),
  );
  await tag('bob', 'ssh-key:yubikey', sk.openssh);
});

afterAll(async () => {
  await proxy?.stop();
  await moto?.stop();
});

describe('publishing keys from user tags', () => {
  it('publishes tag keys beside the key store in the same line format, with no extra IAM call', async () => {
    proxy.clear();
    await run();
    const { files, index } = await objects();
    expect(files.get('users/alice/authorized_keys')).toBe(line('alice', rsa) + line('alice', ed));
    expect(files.get('users/bob/authorized_keys')).toBe(line('bob', sk));
    expect(files.get('groups/devs/authorized_keys')).toBe(
      line('alice', rsa) + line('alice', ed) + line('bob', sk),
    );
    // `start`: the key lifecycle's record of when each key's age began (docs/key-lifecycle.md).
    expect(index.users.alice?.keys).toEqual([
      { id: rsaId, type: 'ssh-rsa', fingerprint: rsa.fingerprint, start: expect.any(String) },
      {
        id: 'tag:ssh-key:laptop',
        tagKey: 'ssh-key:laptop',
        type: 'ssh-ed25519',
        fingerprint: ed.fingerprint,
        start: expect.any(String),
      },
    ]);
    expect(index.users.alice?.rejectedKeys).toEqual([
      {
        id: 'tag:ssh-key:broken',
        tagKey: 'ssh-key:broken',
        reason: 'key blob does not hold a ssh-ed25519 key',
      },
    ]);
    const aliceId = index.users.alice?.userId as string;
    expect(index.keyBodies[`tag:${aliceId}:ssh-key:laptop`]).toBe(ed.openssh);
    // Tags come with GetAccountAuthorizationDetails: nothing per user beyond the key store's list.
    expect(proxy.count('iam', 'GetAccountAuthorizationDetails')).toBe(1);
    expect(proxy.count('iam', 'ListUserTags')).toBe(0);
    expect(proxy.count('iam', 'GetUser')).toBe(0);
    expect(proxy.count('iam', 'ListSSHPublicKeys')).toBe(3);
  });

  it('a steady-state run writes only index.json and heartbeat.json', async () => {
    proxy.clear();
    await run();
    expect(proxy.count('s3', 'PutObject')).toBe(2);
    expect(proxy.count('iam', 'GetSSHPublicKey')).toBe(0);
  });

  it('a new value under the same tag key is published (a tag body is never taken from the last index)', async () => {
    await tag('alice', 'ssh-key:laptop', ed2.openssh);
    await run();
    const { files } = await objects();
    expect(files.get('users/alice/authorized_keys')).toBe(line('alice', rsa) + line('alice', ed2));
  });

  it("a tag copy of another user's published key is refused; its first holder keeps it", async () => {
    await tag('mallory', 'ssh-key:mine', ed2.openssh);
    const r = await run();
    const { files, index } = await objects();
    expect(files.get('users/alice/authorized_keys')).toBe(line('alice', rsa) + line('alice', ed2));
    expect(files.get('users/mallory/authorized_keys')).toBe('');
    expect(index.users.mallory?.rejectedKeys).toEqual([
      expect.objectContaining({
        id: 'tag:ssh-key:mine',
        tagKey: 'ssh-key:mine',
        fingerprint: ed2.fingerprint,
      }),
    ]);
    expect(r.summary.copiedKeysRefused).toBe(1);
  });

  it('a key-store copy of a published tag key is refused too, whatever its upload date', async () => {
    await direct.iam.send(
      new UploadSSHPublicKeyCommand({ UserName: 'mallory', SSHPublicKeyBody: sk.openssh }),
    );
    await run();
    const { files, index } = await objects();
    expect(files.get('users/bob/authorized_keys')).toBe(line('bob', sk));
    expect(files.get('users/mallory/authorized_keys')).toBe('');
    expect(index.users.mallory?.rejectedKeys?.map((k) => k.reason)).toEqual([
      expect.stringContaining('belongs to IAM user bob'),
      expect.stringContaining('belongs to IAM user alice'),
    ]);
  });

  it('honours another tag key prefix', async () => {
    await tag('bob', 'corp/ssh:desk', ed.openssh);
    await run('corp/ssh:');
    const { files } = await objects();
    expect(files.get('users/bob/authorized_keys')).toBe(line('bob', ed));
  });

  it('removing the tag removes the key', async () => {
    await direct.iam.send(new UntagUserCommand({ UserName: 'alice', TagKeys: ['ssh-key:laptop'] }));
    await run();
    const { files, index } = await objects();
    expect(files.get('users/alice/authorized_keys')).toBe(line('alice', rsa));
    expect(index.users.alice?.keys.map((k) => k.id)).toEqual([rsaId]);
  });
});

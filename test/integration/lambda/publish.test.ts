// The publisher against a real moto_server over HTTP, through a recording proxy.

import {
  DeleteSSHPublicKeyCommand,
  DeleteUserCommand,
  type IAMClient,
  RemoveUserFromGroupCommand,
} from '@aws-sdk/client-iam';
import {
  CreateBucketCommand,
  DeleteObjectCommand,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  MAX_HOST_OBJECT_BYTES,
  parseDirectory,
  parseHeartbeat,
  parseIndex,
} from '../../../contract/index.js';
import { type AwsProxy, emptyKeyListResponse, iamError, startAwsProxy } from '../../../dev/aws-proxy.js';
import { syntheticRsaKey } from '../../../dev/keys.js';
import { type Moto, startMoto } from '../../../dev/moto.js';
import { clientsFor, completed } from '../../../dev/publisher.js';
import { listExisting } from '../../../lambda/bucket.js';
import { IamReadError, type IamSnapshot } from '../../../lambda/iam-source.js';
import {
  DEFAULT_PUBLISH_CONFIG,
  ObjectsTooLargeError,
  type PublishConfig,
  PublishRefusedError,
  publish,
} from '../../../lambda/publish.js';
import { renderAndWrite } from '../../../lambda/render-and-write.js';
import {
  bucketContents,
  buildFixture,
  expectedObjects,
  expectedUserObject,
  type Fixture,
} from './fixture.js';

const BUCKET = 'ssh-keys';
let moto: Moto;
let proxy: AwsProxy;
let direct: { iam: IAMClient; s3: S3Client };
let viaProxy: { iam: IAMClient; s3: S3Client };
let fixture: Fixture;

function config(prefix: string, extra: Partial<PublishConfig> = {}): PublishConfig {
  return { ...DEFAULT_PUBLISH_CONFIG, bucket: BUCKET, prefix, ...extra };
}

const run = (prefix: string, extra: Partial<PublishConfig> = {}) =>
  publish(config(prefix, extra), { ...viaProxy, now: () => new Date() }).then(completed);

beforeAll(async () => {
  moto = await startMoto();
  proxy = await startAwsProxy(moto.endpoint);
  direct = clientsFor(moto.endpoint);
  viaProxy = clientsFor(proxy.endpoint);
  await direct.s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
  fixture = await buildFixture(direct.iam);
});

afterAll(async () => {
  await proxy?.stop();
  await moto?.stop();
});

describe('publish into moto', () => {
  const prefix = 'team/';

  it('writes exactly the contract layout, byte for byte', async () => {
    expect(fixture.users.length).toBeGreaterThanOrEqual(30);
    const result = await run(prefix);
    const contents = await bucketContents(direct.s3, BUCKET, prefix);
    const expected = expectedObjects(fixture, prefix);
    const indexText = contents.get(`${prefix}index.json`);
    const directoryText = contents.get(`${prefix}directory.json`);
    const heartbeatText = contents.get(`${prefix}heartbeat.json`);
    for (const k of ['index.json', 'directory.json', 'heartbeat.json']) contents.delete(`${prefix}${k}`);
    expect(Object.fromEntries(contents)).toEqual(Object.fromEntries(expected));
    expect(result.summary.added).toBe(expected.size);

    const index = parseIndex(indexText ?? '');
    expect(Object.keys(index.users).sort()).toEqual(fixture.users.map((u) => u.name).sort());
    expect(index.users['bob+ops@example.com']?.localName).toBe('bob.plus.ops.at.example.com');
    expect(index.users['eve=admin']?.localName).toBe('eve.equal.admin');
    expect(index.users['frank,jr']?.localName).toBe('frank.comma.jr');
    expect(index.groups['empty-group']?.members).toEqual([]);
    // uids: unique, stable across runs (checked below)
    const uids = Object.values(index.users).map((u) => u.uid);
    expect(new Set(uids).size).toBe(uids.length);
    const user00 = fixture.users.find((u) => u.name === 'user00');
    expect(index.users.user00?.keys.map((k) => k.fingerprint).sort()).toEqual(
      user00?.keys.map((k) => k.key.fingerprint).sort(),
    );
    expect(new Set(index.users.user00?.keys.map((k) => k.type))).toEqual(new Set(['ssh-rsa', 'ssh-ed25519']));

    // What hosts read: every user with the index's local name, uid and groups; no keys; the heartbeat.
    const directory = parseDirectory(directoryText ?? '');
    expect([...directory.users.keys()].sort()).toEqual(Object.keys(index.users).sort());
    for (const [name, u] of directory.users) {
      const i = index.users[name];
      expect(u).toEqual({ userId: i?.userId, localName: i?.localName, uid: i?.uid, groups: i?.groups });
    }
    expect(directoryText).not.toMatch(/APKA|SHA256:/);
    expect(parseHeartbeat(heartbeatText ?? '').generatedAt).toBe(index.generatedAt);
    expect(result.summary.directoryWritten).toBe(true);
  });

  it('a steady-state run writes only index.json and heartbeat.json (heartbeat last), no directory.json, and fetches no key bodies', async () => {
    const before = parseIndex(
      (await bucketContents(direct.s3, BUCKET, `${prefix}index.json`)).get(`${prefix}index.json`) ?? '',
    );
    proxy.clear();
    const result = await run(prefix);
    // index.json stays for agents of the previous release (their heartbeat); hosts now read heartbeat.json.
    expect(
      proxy.requests
        .filter((r) => r.action === 'PutObject')
        .map((r) => r.path.split('/').pop()?.split('?')[0]),
    ).toEqual(['index.json', 'heartbeat.json']);
    expect(result.summary.directoryWritten).toBe(false);
    expect(proxy.count('s3', 'DeleteObject')).toBe(0);
    expect(proxy.count('iam', 'GetSSHPublicKey')).toBe(0);
    expect(proxy.count('iam', 'ListSSHPublicKeys')).toBe(fixture.users.length);
    expect(result.summary.unchanged).toBe(fixture.users.length + fixture.groups.length);
    const after = parseIndex(
      (await bucketContents(direct.s3, BUCKET, `${prefix}index.json`)).get(`${prefix}index.json`) ?? '',
    );
    expect(after.uids).toEqual(before.uids);
    expect(after.generatedAt >= before.generatedAt).toBe(true);
  });

  it('writes every object with a SHA-256 checksum; one without (an older publisher) is rewritten once', async () => {
    const listed = await listExisting(direct.s3, BUCKET, prefix);
    expect(listed.length).toBeGreaterThan(fixture.users.length);
    expect(listed.filter((o) => !o.sha256).map((o) => o.key)).toEqual([]);
    // The same bytes, written as the SDK writes by default (a CRC32, no SHA-256).
    const key = `${prefix}users/${fixture.users[0]?.name}/authorized_keys`;
    const directory = `${prefix}directory.json`;
    for (const k of [key, directory]) {
      const body = (await bucketContents(direct.s3, BUCKET, k)).get(k) ?? '';
      await direct.s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: k, Body: body }));
    }
    const checksummed = async () =>
      (await listExisting(direct.s3, BUCKET, prefix))
        .filter((o) => o.key === key || o.key === directory)
        .map((o) => o.sha256);
    expect(await checksummed()).toEqual([false, false]);
    const before = await bucketContents(direct.s3, BUCKET, prefix);
    const puts = async () => {
      proxy.clear();
      await run(prefix);
      return proxy.requests
        .filter((r) => r.action === 'PutObject')
        .map((r) => decodeURIComponent(r.path.split('?')[0] ?? ''));
    };
    expect(await puts()).toEqual(
      [key, directory, `${prefix}index.json`, `${prefix}heartbeat.json`].map((k) => `/${BUCKET}/${k}`),
    );
    expect(await checksummed()).toEqual([true, true]);
    const after = await bucketContents(direct.s3, BUCKET, prefix);
    for (const k of [key, directory]) expect(after.get(k)).toBe(before.get(k));
    expect(await puts()).toHaveLength(2);
  });

  it('never touches objects outside the layout', async () => {
    const foreign = [
      `${prefix}README.txt`,
      `${prefix}users/alice/notes`,
      `${prefix}users/bad name/authorized_keys`,
      'other/index.json',
    ];
    for (const Key of foreign)
      await direct.s3.send(new PutObjectCommand({ Bucket: BUCKET, Key, Body: 'keep me' }));
    await run(prefix);
    const contents = await bucketContents(direct.s3, BUCKET);
    for (const key of foreign) expect(contents.get(key)).toBe('keep me');
  });

  it('an IAM failure in the middle of a run changes nothing in the bucket', async () => {
    // A real change is pending, so a completed run would write.
    const victim = fixture.users.find(
      (u) => u.name !== 'user00' && u.keys.some((k) => k.status === 'Active'),
    );
    const key = victim?.keys.find((k) => k.status === 'Active');
    if (!victim || !key) throw new Error('fixture has no user with an active key');
    await direct.iam.send(new DeleteSSHPublicKeyCommand({ UserName: victim.name, SSHPublicKeyId: key.id }));
    const before = await bucketContents(direct.s3, BUCKET, prefix);
    let listed = 0;
    proxy.options = {
      fault: (r) =>
        r.service === 'iam' && r.action === 'ListSSHPublicKeys' && ++listed === 12
          ? iamError('AccessDenied', 'injected', 403)
          : undefined,
    };
    proxy.clear();
    await expect(run(prefix)).rejects.toBeInstanceOf(IamReadError);
    proxy.options = {};
    expect(proxy.count('s3', 'PutObject') + proxy.count('s3', 'DeleteObject')).toBe(0);
    expect(await bucketContents(direct.s3, BUCKET, prefix)).toEqual(before);
    // And the next healthy run applies the change.
    await run(prefix);
    const after = await bucketContents(direct.s3, BUCKET, prefix);
    victim.keys.splice(victim.keys.indexOf(key), 1);
    expect(after.get(`${prefix}users/${victim.name}/authorized_keys`)).toBe(expectedUserObject(victim));
    expect(after.get(`${prefix}users/${victim.name}/authorized_keys`)).not.toContain(key.key.blob);
  });

  it('deleting a user removes its object and its lines from its groups', async () => {
    const u = fixture.users.find((x) => x.name === 'carol.smith') as Fixture['users'][number];
    const readIndex = async () =>
      parseIndex(
        (await bucketContents(direct.s3, BUCKET, `${prefix}index.json`)).get(`${prefix}index.json`) ?? '',
      );
    const carol = (await readIndex()).users['carol.smith'];
    expect(carol?.userId).toMatch(/^\w+$/);
    for (const k of u.keys)
      await direct.iam.send(new DeleteSSHPublicKeyCommand({ UserName: u.name, SSHPublicKeyId: k.id }));
    for (const g of u.groups)
      await direct.iam.send(new RemoveUserFromGroupCommand({ GroupName: g, UserName: u.name }));
    await direct.iam.send(new DeleteUserCommand({ UserName: u.name }));
    fixture.users.splice(fixture.users.indexOf(u), 1);
    proxy.clear();
    const result = await run(prefix);
    expect(result.plan.deletes).toEqual([`${prefix}users/carol.smith/authorized_keys`]);
    expect(proxy.count('s3', 'DeleteObject')).toBe(1);
    const contents = await bucketContents(direct.s3, BUCKET, prefix);
    for (const k of ['index.json', 'directory.json', 'heartbeat.json']) contents.delete(`${prefix}${k}`);
    for (const k of [
      `${prefix}README.txt`,
      `${prefix}users/alice/notes`,
      `${prefix}users/bad name/authorized_keys`,
    ]) {
      contents.delete(k);
    }
    expect(Object.fromEntries(contents)).toEqual(Object.fromEntries(expectedObjects(fixture, prefix)));
    // Its uid stays allocated (by IAM user id) so it is never handed to someone else.
    const index = await readIndex();
    expect(index.uids[carol?.userId as string]).toBe(carol?.uid);
    expect(index.users['carol.smith']).toBeUndefined();
  });

  it('throttling on ~30% of IAM calls still yields the same bucket contents', async () => {
    let seed = 42;
    const random = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    let throttled = 0;
    proxy.options = {
      fault: (r) => {
        if (r.service !== 'iam' || random() >= 0.3) return undefined;
        throttled++;
        return iamError('Throttling', 'Rate exceeded');
      },
    };
    const tprefix = 'throttled/';
    try {
      await run(tprefix);
    } finally {
      proxy.options = {};
    }
    expect(throttled).toBeGreaterThan(5);
    const contents = await bucketContents(direct.s3, BUCKET, tprefix);
    for (const k of ['index.json', 'directory.json', 'heartbeat.json']) contents.delete(`${tprefix}${k}`);
    expect(Object.fromEntries(contents)).toEqual(Object.fromEntries(expectedObjects(fixture, tprefix)));
  });

  it('follows every IAM and S3 page (proxy splits IAM lists into pages of 2)', async () => {
    proxy.options = { iamPageSize: 2 };
    proxy.clear();
    const pprefix = 'paged/';
    try {
      await run(pprefix, { pageSize: 3 });
      proxy.clear();
      await run(pprefix, { pageSize: 3 }); // second run lists the bucket in pages of 3
    } finally {
      proxy.options = {};
    }
    const users = fixture.users.length;
    const groups = fixture.groups.length;
    expect(proxy.count('iam', 'GetAccountAuthorizationDetails')).toBe(Math.ceil(Math.max(users, groups) / 2));
    expect(proxy.count('s3', 'ListObjectsV2')).toBe(Math.ceil((users + groups + 3) / 3));
    const contents = await bucketContents(direct.s3, BUCKET, pprefix);
    for (const k of ['index.json', 'directory.json', 'heartbeat.json']) contents.delete(`${pprefix}${k}`);
    expect(Object.fromEntries(contents)).toEqual(Object.fromEntries(expectedObjects(fixture, pprefix)));
  });
});

describe('guards', () => {
  it('refuses an empty IAM snapshot when the bucket has users, and deletes nothing', async () => {
    const prefix = 'team/';
    const before = await bucketContents(direct.s3, BUCKET, prefix);
    proxy.options = {
      fault: (r) =>
        r.action === 'GetAccountAuthorizationDetails'
          ? {
              status: 200,
              headers: { 'content-type': 'text/xml' },
              body: '<GetAccountAuthorizationDetailsResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/"><GetAccountAuthorizationDetailsResult><UserDetailList/><GroupDetailList/><IsTruncated>false</IsTruncated></GetAccountAuthorizationDetailsResult></GetAccountAuthorizationDetailsResponse>',
            }
          : undefined,
    };
    try {
      await expect(run(prefix)).rejects.toThrow(/IAM returned no users/);
      expect(await bucketContents(direct.s3, BUCKET, prefix)).toEqual(before);
    } finally {
      proxy.options = {};
    }
  });

  it('refuses when IAM suddenly lists no keys for anyone (files would be emptied, not deleted)', async () => {
    const prefix = 'team/';
    const before = await bucketContents(direct.s3, BUCKET, prefix);
    proxy.options = {
      fault: (r) => (r.action === 'ListSSHPublicKeys' ? emptyKeyListResponse() : undefined),
    };
    try {
      await expect(run(prefix)).rejects.toThrow(
        /(\d+) of the \1 users with published keys would have none left/,
      );
      expect(await bucketContents(direct.s3, BUCKET, prefix)).toEqual(before);
    } finally {
      proxy.options = {};
    }
  });

  it('refuses to delete more than the allowed share, unless allowed', async () => {
    const prefix = 'mass/';
    // Seed principals that IAM does not have.
    for (let i = 0; i < 60; i++) {
      await direct.s3.send(
        new PutObjectCommand({ Bucket: BUCKET, Key: `${prefix}users/ghost${i}/authorized_keys`, Body: '' }),
      );
    }
    await expect(run(prefix, { allowIndexReset: true })).rejects.toThrow(/would delete 60 of 60/);
    expect((await bucketContents(direct.s3, BUCKET, prefix)).size).toBe(60);
    const result = await run(prefix, { allowIndexReset: true, allowMassDelete: true });
    expect(result.summary.deleted).toBe(60);
  });

  it('refuses when index.json is missing but principal objects exist (uids would be reallocated)', async () => {
    const prefix = 'noindex/';
    await run(prefix);
    await direct.s3.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: `${prefix}index.json` }));
    proxy.clear();
    const err = await run(prefix).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PublishRefusedError);
    expect(String((err as Error).message)).toMatch(/index.json is missing/);
    expect(proxy.count('s3', 'PutObject')).toBe(0);
    expect(proxy.count('iam')).toBe(0);
  });

  it('a dry run writes nothing', async () => {
    const prefix = 'dry/';
    proxy.clear();
    const result = await run(prefix, { dryRun: true });
    expect(result.summary.added).toBe(fixture.users.length + fixture.groups.length);
    expect(proxy.count('s3', 'PutObject')).toBe(0);
    expect((await bucketContents(direct.s3, BUCKET, prefix)).size).toBe(0);
  });
});

describe("objects over the hosts' limit", () => {
  it('are refused (previous versions deleted), the rest is written, no heartbeat, the run fails', async () => {
    const prefix = 'huge/';
    // IAM would never hold 20,000 keys for one user, but a group of thousands of users
    // does: one synthetic user stands for them (render does not care whose keys they are).
    const bodies = new Map<string, string>([['S1', syntheticRsaKey(0)]]);
    const bigKeys = Array.from({ length: 21_000 }, (_, i) => {
      const id = `K${String(i).padStart(5, '0')}`;
      bodies.set(id, syntheticRsaKey(i + 1));
      return { id, status: 'Active' as const };
    });
    const snapshot: IamSnapshot = {
      users: [
        { name: 'big', id: 'AIDABIG', groups: ['Huge'], keys: bigKeys, tags: [] },
        {
          name: 'small',
          id: 'AIDASMALL',
          groups: ['Small'],
          keys: [{ id: 'S1', status: 'Active' }],
          tags: [],
        },
      ],
      groups: ['Huge', 'Small'],
      bodies,
    };
    // Earlier, smaller versions of the objects that are now too large.
    for (const Key of [`${prefix}users/big/authorized_keys`, `${prefix}groups/Huge/authorized_keys`])
      await direct.s3.send(new PutObjectCommand({ Bucket: BUCKET, Key, Body: 'an old line\n' }));
    const existing = await listExisting(direct.s3, BUCKET, prefix);
    proxy.clear();
    const err = await renderAndWrite({
      snapshot,
      state: { previous: undefined, existing },
      config: config(prefix),
      deps: { ...viaProxy, now: () => new Date() },
      started: new Date(),
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ObjectsTooLargeError);
    const tooLarge = (err as ObjectsTooLargeError).objects;
    expect(tooLarge.map((o) => o.key).sort()).toEqual([
      `${prefix}groups/Huge/authorized_keys`,
      `${prefix}users/big/authorized_keys`,
    ]);
    for (const o of tooLarge) expect(o.bytes).toBeGreaterThan(MAX_HOST_OBJECT_BYTES);
    expect((err as Error).message).toMatch(/over the hosts' 8388608-byte limit/);

    const contents = await bucketContents(direct.s3, BUCKET, prefix);
    expect([...contents.keys()].sort()).toEqual(
      ['directory.json', 'groups/Small/authorized_keys', 'index.json', 'users/small/authorized_keys'].map(
        (k) => `${prefix}${k}`,
      ),
    );
    expect(parseDirectory(contents.get(`${prefix}directory.json`) ?? '').users.size).toBe(2);
    expect(proxy.count('s3', 'DeleteObject')).toBe(2);
    // No PUT ever carried an object hosts could not read.
    expect(proxy.requests.filter((r) => r.action === 'PutObject' && /big|Huge/.test(r.path))).toEqual([]);
  });
});

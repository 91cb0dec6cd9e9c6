// The core property of targeted runs: after each kind of IAM change, applying
// its CloudTrail event leaves the bucket byte-identical (index.json included)
// to what a full run publishes for the same IAM state. Prefix a/ only ever gets
// targeted runs after the first full one; prefix b/ only full runs.
import {
  AddUserToGroupCommand,
  CreateGroupCommand,
  CreateUserCommand,
  DeleteGroupCommand,
  DeleteSSHPublicKeyCommand,
  DeleteUserCommand,
  type IAMClient,
  ListSSHPublicKeysCommand,
  RemoveUserFromGroupCommand,
  TagUserCommand,
  UntagUserCommand,
  UpdateGroupCommand,
  UpdateSSHPublicKeyCommand,
  UpdateUserCommand,
  UploadSSHPublicKeyCommand,
} from '@aws-sdk/client-iam';
import { CreateBucketCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AwsProxy, iamError, startAwsProxy } from '../../../dev/aws-proxy.js';
import { cloudTrailEvent } from '../../../dev/cloudtrail.js';
import { makeKey } from '../../../dev/keys.js';
import { type Moto, startMoto } from '../../../dev/moto.js';
import { clientsFor } from '../../../dev/publisher.js';
import { targetsOf } from '../../../lambda/event-targets.js';
import { DEFAULT_EVENT_FULL_RUN_INTERVAL_MS } from '../../../lambda/full-run-budget.js';
import { parseProgress, serializeProgress } from '../../../lambda/progress.js';
import { DEFAULT_PUBLISH_CONFIG, PublishIncomplete, publish } from '../../../lambda/publish.js';
import { publishForEvents, type TargetedOutcome } from '../../../lambda/publish-targeted.js';
import { bucketContents, buildFixture, type Fixture } from './fixture.js';

const BUCKET = 'ev-targeted';
let moto: Moto;
let proxy: AwsProxy;
let direct: { iam: IAMClient; s3: S3Client };
let viaProxy: { iam: IAMClient; s3: S3Client };
let fixture: Fixture;
let clock = Date.parse('2026-11-30T00:00:00Z');

const cfg = (prefix: string) => ({ ...DEFAULT_PUBLISH_CONFIG, bucket: BUCKET, prefix });

/** Bodies under a prefix, keyed without it. */
async function under(prefix: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const [k, v] of await bucketContents(direct.s3, BUCKET, prefix)) out[k.slice(prefix.length)] = v;
  // Only the event path keeps its full-run budget (lambda/full-run-budget.ts): not part of what is compared.
  delete out['publisher/event-full-run.json'];
  return out;
}

interface Applied {
  outcome: TargetedOutcome;
  iamCalls: number;
  s3Writes: number;
  iamActions: string[];
}

/** Applies the event to a/ (targeted), runs a full run on b/, and checks they agree. */
async function applyAndCompare(event: unknown): Promise<Applied> {
  clock += 60_000;
  const now = () => new Date(clock);
  proxy.clear();
  const outcome = await publishForEvents(cfg('a/'), { ...viaProxy, now }, targetsOf(event));
  const iam = proxy.requests.filter((r) => r.service === 'iam');
  const s3Writes = proxy.requests.filter(
    (r) => r.service === 's3' && (r.action === 'PutObject' || r.action === 'DeleteObject'),
  ).length;
  if (outcome.mode !== 'none') await publish(cfg('b/'), { ...direct, now });
  const [a, b] = [await under('a/'), await under('b/')];
  for (const k of ['index.json', 'heartbeat.json']) {
    if (outcome.mode === 'none') delete b[k];
    if (outcome.mode === 'none') delete a[k];
  }
  expect(a).toEqual(b);
  return { outcome, iamCalls: iam.length, s3Writes, iamActions: iam.map((r) => r.action) };
}

async function uploadKey(user: string, openssh = makeKey().openssh): Promise<string> {
  const res = await direct.iam.send(
    new UploadSSHPublicKeyCommand({ UserName: user, SSHPublicKeyBody: openssh }),
  );
  return res.SSHPublicKey?.SSHPublicKeyId as string;
}

beforeAll(async () => {
  moto = await startMoto();
  proxy = await startAwsProxy(moto.endpoint);
  direct = clientsFor(moto.endpoint);
  viaProxy = clientsFor(proxy.endpoint);
  await direct.s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
  fixture = await buildFixture(direct.iam);
  const now = () => new Date(clock);
  await publish(cfg('a/'), { ...direct, now });
  await publish(cfg('b/'), { ...direct, now });
}, 120_000);

afterAll(async () => {
  await proxy?.stop();
  await moto?.stop();
});

describe('targeted runs equal full runs', () => {
  // user04: one active key, member of admins only (fixture rule: index 9).
  const U = 'user04';
  let keyId = '';

  it('the fixture user has one group', () => {
    expect(fixture.users.find((u) => u.name === U)?.groups).toEqual(['admins']);
  });

  it('UploadSSHPublicKey: 4 IAM calls, 4 writes (user, its group, index.json, heartbeat.json)', async () => {
    keyId = await uploadKey(U);
    const r = await applyAndCompare(
      cloudTrailEvent('UploadSSHPublicKey', { userName: U, sSHPublicKeyBody: '...' }),
    );
    expect(r.outcome.mode).toBe('targeted');
    expect(r.iamActions.sort()).toEqual([
      'GetSSHPublicKey',
      'GetUser',
      'ListGroupsForUser',
      'ListSSHPublicKeys',
    ]);
    expect(r.s3Writes).toBe(4);
  });

  it('UpdateSSHPublicKey Inactive: no key body fetched, 4 writes', async () => {
    await direct.iam.send(
      new UpdateSSHPublicKeyCommand({ UserName: U, SSHPublicKeyId: keyId, Status: 'Inactive' }),
    );
    const r = await applyAndCompare(
      cloudTrailEvent('UpdateSSHPublicKey', { userName: U, sSHPublicKeyId: keyId, status: 'Inactive' }),
    );
    expect(r.outcome.mode).toBe('targeted');
    expect(r.iamCalls).toBe(3);
    expect(r.s3Writes).toBe(4);
  });

  it('DeleteSSHPublicKey of an inactive key: only index.json and heartbeat.json are written', async () => {
    await direct.iam.send(new DeleteSSHPublicKeyCommand({ UserName: U, SSHPublicKeyId: keyId }));
    const r = await applyAndCompare(
      cloudTrailEvent('DeleteSSHPublicKey', { userName: U, sSHPublicKeyId: keyId }),
    );
    expect(r.outcome.mode).toBe('targeted');
    expect(r.s3Writes).toBe(2);
  });

  it('AddUserToGroup and RemoveUserFromGroup', async () => {
    await direct.iam.send(new AddUserToGroupCommand({ UserName: U, GroupName: 'developers' }));
    let r = await applyAndCompare(
      cloudTrailEvent('AddUserToGroup', { userName: U, groupName: 'developers' }),
    );
    expect(r.outcome.mode).toBe('targeted');
    expect(r.s3Writes).toBe(4); // the group object, directory.json (groups changed), index.json, heartbeat.json
    await direct.iam.send(new RemoveUserFromGroupCommand({ UserName: U, GroupName: 'admins' }));
    r = await applyAndCompare(cloudTrailEvent('RemoveUserFromGroup', { userName: U, groupName: 'admins' }));
    expect(r.outcome.mode).toBe('targeted');
    expect(r.iamCalls).toBeLessThanOrEqual(20);
    expect(r.s3Writes).toBe(4);
  });

  it('CreateUser, a key, a rename (uid kept), DeleteUser', async () => {
    await direct.iam.send(new CreateUserCommand({ UserName: 'ev-carl' }));
    let r = await applyAndCompare(cloudTrailEvent('CreateUser', { userName: 'ev-carl' }));
    expect(r.outcome.mode).toBe('targeted');
    expect(r.s3Writes).toBe(4); // the user object, directory.json (a new user), index.json, heartbeat.json
    await uploadKey('ev-carl');
    r = await applyAndCompare(
      cloudTrailEvent('UploadSSHPublicKey', { userName: 'ev-carl', sSHPublicKeyBody: '.' }),
    );
    expect(r.outcome.mode).toBe('targeted');
    const uidBefore = JSON.parse((await under('a/'))['index.json'] as string).users['ev-carl'].uid;
    await direct.iam.send(new UpdateUserCommand({ UserName: 'ev-carl', NewUserName: 'ev-karl' }));
    r = await applyAndCompare(cloudTrailEvent('UpdateUser', { userName: 'ev-carl', newUserName: 'ev-karl' }));
    expect(r.outcome.mode).toBe('targeted');
    const index = JSON.parse((await under('a/'))['index.json'] as string);
    expect(index.users['ev-karl'].uid).toBe(uidBefore);
    expect(index.users['ev-carl']).toBeUndefined();
    const keys = await direct.iam.send(new ListSSHPublicKeysCommand({ UserName: 'ev-karl' }));
    for (const k of keys.SSHPublicKeys ?? [])
      await direct.iam.send(
        new DeleteSSHPublicKeyCommand({ UserName: 'ev-karl', SSHPublicKeyId: k.SSHPublicKeyId }),
      );
    await direct.iam.send(new DeleteUserCommand({ UserName: 'ev-karl' }));
    r = await applyAndCompare(cloudTrailEvent('DeleteUser', { userName: 'ev-karl' }));
    expect(r.outcome.mode).toBe('targeted');
    expect((await under('a/'))['users/ev-karl/authorized_keys']).toBeUndefined();
  });

  it('CreateGroup, UpdateGroup (rename with members), DeleteGroup', async () => {
    await direct.iam.send(new CreateGroupCommand({ GroupName: 'ev-team' }));
    let r = await applyAndCompare(cloudTrailEvent('CreateGroup', { groupName: 'ev-team' }));
    expect(r.outcome.mode).toBe('targeted');
    await direct.iam.send(new AddUserToGroupCommand({ UserName: 'user00', GroupName: 'ev-team' }));
    r = await applyAndCompare(
      cloudTrailEvent('AddUserToGroup', { userName: 'user00', groupName: 'ev-team' }),
    );
    expect(r.outcome.mode).toBe('targeted');
    await direct.iam.send(new UpdateGroupCommand({ GroupName: 'ev-team', NewGroupName: 'ev-crew' }));
    r = await applyAndCompare(
      cloudTrailEvent('UpdateGroup', { groupName: 'ev-team', newGroupName: 'ev-crew' }),
    );
    expect(r.outcome.mode).toBe('targeted');
    expect((await under('a/'))['groups/ev-crew/authorized_keys']).toContain('SSH_KEY_OWNER=user00');
    await direct.iam.send(new RemoveUserFromGroupCommand({ UserName: 'user00', GroupName: 'ev-crew' }));
    await direct.iam.send(new DeleteGroupCommand({ GroupName: 'ev-crew' }));
    r = await applyAndCompare(cloudTrailEvent('DeleteGroup', { groupName: 'ev-crew' }));
    expect(r.outcome.mode).toBe('targeted');
    // The membership change had no event of its own: the group's fresh read covers it.
    expect((await under('a/'))['groups/ev-crew/authorized_keys']).toBeUndefined();
  });

  it('TagUser and UntagUser re-read the user', async () => {
    await direct.iam.send(new TagUserCommand({ UserName: U, Tags: [{ Key: 'team', Value: 'ev' }] }));
    let r = await applyAndCompare(
      cloudTrailEvent('TagUser', { userName: U, tags: [{ key: 'team', value: 'ev' }] }),
    );
    expect(r.outcome.mode).toBe('targeted');
    await direct.iam.send(new UntagUserCommand({ UserName: U, TagKeys: ['team'] }));
    r = await applyAndCompare(cloudTrailEvent('UntagUser', { userName: U, tagKeys: ['team'] }));
    expect(r.outcome.mode).toBe('targeted');
  });

  it('tag keys: a TagUser adds one (targeted); an untouched user keeps published and refused tag keys', async () => {
    // Another user's tags (one key, one refused value) are restored from index.json, not re-read.
    const other = 'user08';
    const ed = makeKey('ed25519');
    await direct.iam.send(
      new TagUserCommand({
        UserName: other,
        Tags: [
          { Key: 'ssh-key:laptop', Value: `${ed.type} ${ed.blob}` },
          { Key: 'ssh-key:broken', Value: 'ssh-dss AAAA' },
        ],
      }),
    );
    let r = await applyAndCompare(
      cloudTrailEvent('TagUser', { userName: other, tags: [{ key: 'ssh-key:laptop', value: '...' }] }),
    );
    expect(r.outcome.mode).toBe('targeted');
    const index = JSON.parse((await under('a/'))['index.json'] as string);
    expect(index.users[other].keys.map((k: { id: string }) => k.id)).toContain('tag:ssh-key:laptop');
    expect(index.users[other].rejectedKeys.map((k: { id: string }) => k.id)).toContain('tag:ssh-key:broken');

    const sk = makeKey('ed25519');
    await direct.iam.send(
      new TagUserCommand({ UserName: U, Tags: [{ Key: 'ssh-key:yubikey', Value: `${sk.type} ${sk.blob}` }] }),
    );
    r = await applyAndCompare(
      cloudTrailEvent('TagUser', { userName: U, tags: [{ key: 'ssh-key:yubikey', value: '...' }] }),
    );
    expect(r.outcome.mode).toBe('targeted');
    expect(r.iamActions).not.toContain('GetAccountAuthorizationDetails');
    expect((await under('a/'))[`users/${U}/authorized_keys`]).toContain(sk.blob);
    expect((await under('a/'))[`users/${other}/authorized_keys`]).toContain(ed.blob);

    await direct.iam.send(new UntagUserCommand({ UserName: U, TagKeys: ['ssh-key:yubikey'] }));
    r = await applyAndCompare(cloudTrailEvent('UntagUser', { userName: U, tagKeys: ['ssh-key:yubikey'] }));
    expect(r.outcome.mode).toBe('targeted');
    expect((await under('a/'))[`users/${U}/authorized_keys`]).not.toContain(sk.blob);
  });

  it('while a run cut short has saved its progress, an event makes a full run that continues it', async () => {
    // A run out of time before it read anything: it saves progress.json and publishes nothing.
    const cut = await publish(
      { ...cfg('a/'), deadline: clock },
      { ...direct, now: () => new Date(clock) },
    ).catch((e: Error) => e);
    expect(cut).toBeInstanceOf(PublishIncomplete);
    expect(Object.keys(await under('a/'))).toContain('publisher/progress.json');
    await uploadKey(U);
    const r = await applyAndCompare(
      cloudTrailEvent('UploadSSHPublicKey', { userName: U, sSHPublicKeyBody: '...' }),
    );
    expect(r.outcome).toMatchObject({ mode: 'full', reason: expect.stringMatching(/progress/) });
    // The full run completed the series: progress.json is gone.
    expect(Object.keys(await under('a/'))).not.toContain('publisher/progress.json');
  });

  it("an event during a saved series drops that user's saved key list: a revoked key is not republished", async () => {
    const id = await uploadKey(U);
    await applyAndCompare(cloudTrailEvent('UploadSSHPublicKey', { userName: U, sSHPublicKeyBody: '...' }));
    const userId = JSON.parse((await under('a/'))['index.json'] as string).users[U].userId;
    // A run cut short saved U's key list while the key was Active...
    await publish({ ...cfg('a/'), deadline: clock }, { ...direct, now: () => new Date(clock) }).catch(
      (e: Error) => e,
    );
    const saved = parseProgress((await under('a/'))['publisher/progress.json'] as string);
    const withList = {
      ...saved,
      keyLists: { ...saved.keyLists, [U]: { userId, keys: [{ id, status: 'Active' as const }] } },
      usersRead: Object.keys(saved.keyLists).length + 1,
    };
    await direct.s3.send(
      new PutObjectCommand({
        Bucket: BUCKET,
        Key: 'a/publisher/progress.json',
        Body: serializeProgress(withList),
      }),
    );
    // ...then the key is deactivated: the full run that continues the series must list U again.
    await direct.iam.send(
      new UpdateSSHPublicKeyCommand({ UserName: U, SSHPublicKeyId: id, Status: 'Inactive' }),
    );
    const r = await applyAndCompare(
      cloudTrailEvent('UpdateSSHPublicKey', { userName: U, sSHPublicKeyId: id, status: 'Inactive' }),
    );
    expect(r.outcome).toMatchObject({ mode: 'full', reason: expect.stringMatching(/progress/) });
    expect(
      JSON.parse((await under('a/'))['index.json'] as string).users[U].keys.map((k: { id: string }) => k.id),
    ).not.toContain(id);
  });

  it('a key copied from another user falls back to a full run', async () => {
    const holder = fixture.users.find((u) => u.name === 'user06');
    const original = holder?.keys.find((k) => k.status === 'Active');
    if (!original) throw new Error('fixture user06 has no active key');
    await uploadKey('user07', original.key.openssh);
    const r = await applyAndCompare(
      cloudTrailEvent('UploadSSHPublicKey', { userName: 'user07', sSHPublicKeyBody: '.' }),
    );
    expect(r.outcome).toMatchObject({ mode: 'full', causedBy: [{ user: 'user07' }] });
    expect((r.outcome as { reason: string }).reason).toMatch(/also registered to user06/);
  });

  it('once index.json decided that clash, events naming either user stay targeted (issue 17, finding 10)', async () => {
    await direct.iam.send(
      new TagUserCommand({ UserName: 'user07', Tags: [{ Key: 'ssh-key:laptop', Value: makeKey().openssh }] }),
    );
    const tagged = await applyAndCompare(
      cloudTrailEvent('TagUser', { userName: 'user07', tags: [{ key: 'ssh-key:laptop', value: '.' }] }),
    );
    expect(tagged.outcome).toMatchObject({ mode: 'targeted', deferred: [] });
    // GetUser, ListGroupsForUser, ListSSHPublicKeys: no account-wide read.
    expect(tagged.iamCalls).toBe(3);
    await direct.iam.send(new UntagUserCommand({ UserName: 'user07', TagKeys: ['ssh-key:laptop'] }));
    const untagged = await applyAndCompare(
      cloudTrailEvent('UntagUser', { userName: 'user07', tagKeys: ['ssh-key:laptop'] }),
    );
    expect(untagged.outcome).toMatchObject({ mode: 'targeted' });
    expect(untagged.iamCalls).toBe(3);
    // The first holder's own event too: her claim on the key did not change.
    await direct.iam.send(new TagUserCommand({ UserName: 'user06', Tags: [{ Key: 'team', Value: 'x' }] }));
    const holder = await applyAndCompare(cloudTrailEvent('TagUser', { userName: 'user06', tags: [] }));
    expect(holder.outcome).toMatchObject({ mode: 'targeted' });
  });

  it("a pre-staged Inactive copy, activated later, never takes a colleague's published key", async () => {
    // Past the period of the event-started full run an earlier copied-key test used: the activated
    // copy's clash may start its own (otherwise it is deferred to the schedule, by design).
    clock += DEFAULT_EVENT_FULL_RUN_INTERVAL_MS;
    const key = makeKey();
    for (const u of ['ev-colleague', 'ev-mallory']) {
      await direct.iam.send(new CreateUserCommand({ UserName: u }));
      await applyAndCompare(cloudTrailEvent('CreateUser', { userName: u }));
    }
    // mallory uploads the colleague's public key first, and deactivates it at once.
    const staged = await uploadKey('ev-mallory', key.openssh);
    await applyAndCompare(
      cloudTrailEvent('UploadSSHPublicKey', { userName: 'ev-mallory', sSHPublicKeyBody: '.' }),
    );
    const off = { UserName: 'ev-mallory', SSHPublicKeyId: staged };
    await direct.iam.send(new UpdateSSHPublicKeyCommand({ ...off, Status: 'Inactive' }));
    await applyAndCompare(
      cloudTrailEvent('UpdateSSHPublicKey', {
        userName: 'ev-mallory',
        sSHPublicKeyId: staged,
        status: 'Inactive',
      }),
    );
    // The colleague registers it later and uses it.
    await uploadKey('ev-colleague', key.openssh);
    let r = await applyAndCompare(
      cloudTrailEvent('UploadSSHPublicKey', { userName: 'ev-colleague', sSHPublicKeyBody: '.' }),
    );
    expect(r.outcome.mode).toBe('targeted');
    const line = `environment="SSH_KEY_OWNER=ev-colleague" ${key.type} ${key.blob} ev-colleague\n`;
    expect((await under('a/'))['users/ev-colleague/authorized_keys']).toBe(line);
    // mallory activates her copy: the earlier upload date does not take the key away.
    await direct.iam.send(new UpdateSSHPublicKeyCommand({ ...off, Status: 'Active' }));
    r = await applyAndCompare(
      cloudTrailEvent('UpdateSSHPublicKey', {
        userName: 'ev-mallory',
        sSHPublicKeyId: staged,
        status: 'Active',
      }),
    );
    const bucket = await under('a/');
    expect(bucket['users/ev-colleague/authorized_keys']).toBe(line);
    expect(bucket['users/ev-mallory/authorized_keys']).toBe('');
    const index = JSON.parse(bucket['index.json'] as string);
    expect(index.users['ev-mallory'].rejectedKeys).toEqual([
      expect.objectContaining({
        id: staged,
        reason: expect.stringMatching(/IAM user ev-colleague, whose claim came first/),
      }),
    ]);
    for (const u of ['ev-colleague', 'ev-mallory']) {
      const keys = await direct.iam.send(new ListSSHPublicKeysCommand({ UserName: u }));
      for (const k of keys.SSHPublicKeys ?? [])
        await direct.iam.send(
          new DeleteSSHPublicKeyCommand({ UserName: u, SSHPublicKeyId: k.SSHPublicKeyId }),
        );
      await direct.iam.send(new DeleteUserCommand({ UserName: u }));
      await applyAndCompare(cloudTrailEvent('DeleteUser', { userName: u }));
    }
  });

  it('a change whose event was missed makes a group event fall back to a full run', async () => {
    await direct.iam.send(new CreateUserCommand({ UserName: 'ev-ghost' }));
    await direct.iam.send(new AddUserToGroupCommand({ UserName: 'ev-ghost', GroupName: 'ops' }));
    const r = await applyAndCompare(cloudTrailEvent('UpdateGroup', { groupName: 'ops', newPath: '/x/' }));
    expect(r.outcome).toMatchObject({ mode: 'full' });
    expect((r.outcome as { reason: string }).reason).toMatch(/ev-ghost, unknown to index.json/);
  });

  it('an IAM failure during a targeted run writes nothing', async () => {
    await uploadKey(U);
    const before = await under('a/');
    proxy.options = {
      fault: (r) =>
        r.action === 'ListSSHPublicKeys' ? iamError('AccessDenied', 'injected', 403) : undefined,
    };
    try {
      await expect(
        publishForEvents(
          cfg('a/'),
          { ...viaProxy, now: () => new Date(clock + 1) },
          targetsOf(cloudTrailEvent('UploadSSHPublicKey', { userName: U, sSHPublicKeyBody: '.' })),
        ),
      ).rejects.toThrow(/IAM read failed .*AccessDenied/);
    } finally {
      proxy.options = {};
    }
    expect(await under('a/')).toEqual(before);
    // Delivered again, it applies.
    const r = await applyAndCompare(
      cloudTrailEvent('UploadSSHPublicKey', { userName: U, sSHPublicKeyBody: '.' }),
    );
    expect(r.outcome.mode).toBe('targeted');
  });

  it('a stale IAM read (the key still Active) is read again until IAM shows the deactivation', async () => {
    const key = makeKey();
    const id = await uploadKey(U, key.openssh);
    await applyAndCompare(cloudTrailEvent('UploadSSHPublicKey', { userName: U, sSHPublicKeyBody: '.' }));
    expect((await under('a/'))[`users/${U}/authorized_keys`]).toContain(key.blob);
    await direct.iam.send(
      new UpdateSSHPublicKeyCommand({ UserName: U, SSHPublicKeyId: id, Status: 'Inactive' }),
    );
    // The first ListSSHPublicKeys answers as IAM might just after the change: still Active.
    let stale = 1;
    proxy.options = {
      fault: (r) =>
        r.action === 'ListSSHPublicKeys' && stale-- > 0
          ? {
              status: 200,
              headers: { 'content-type': 'text/xml' },
              body: `<ListSSHPublicKeysResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/"><ListSSHPublicKeysResult><SSHPublicKeys><member><UserName>${U}</UserName><SSHPublicKeyId>${id}</SSHPublicKeyId><Status>Active</Status><UploadDate>2026-11-30T00:00:00Z</UploadDate></member></SSHPublicKeys><IsTruncated>false</IsTruncated></ListSSHPublicKeysResult><ResponseMetadata><RequestId>stale</RequestId></ResponseMetadata></ListSSHPublicKeysResponse>`,
            }
          : undefined,
    };
    const waits: number[] = [];
    clock += 60_000;
    proxy.clear();
    try {
      const outcome = await publishForEvents(
        cfg('a/'),
        { ...viaProxy, now: () => new Date(clock) },
        targetsOf(
          cloudTrailEvent('UpdateSSHPublicKey', { userName: U, sSHPublicKeyId: id, status: 'Inactive' }),
        ),
        { sleep: async (ms) => void waits.push(ms) },
      );
      expect(outcome).toMatchObject({ mode: 'targeted', unconfirmed: [] });
    } finally {
      proxy.options = {};
    }
    expect(waits).toEqual([1000]);
    expect(proxy.count('iam', 'ListSSHPublicKeys')).toBe(2);
    await publish(cfg('b/'), { ...direct, now: () => new Date(clock) });
    expect(await under('a/')).toEqual(await under('b/'));
    expect((await under('a/'))[`users/${U}/authorized_keys`]).not.toContain(key.blob);
  });

  it('an event IAM never confirms (undone since) is published as IAM says after the retries', async () => {
    const keys = await direct.iam.send(new ListSSHPublicKeysCommand({ UserName: U }));
    const id = keys.SSHPublicKeys?.find((k) => k.Status === 'Inactive')?.SSHPublicKeyId as string;
    expect(id).toBeDefined();
    const waits: number[] = [];
    clock += 60_000;
    // The event says Active; IAM (really) says Inactive: a later event undid it.
    const outcome = await publishForEvents(
      cfg('a/'),
      { ...viaProxy, now: () => new Date(clock) },
      targetsOf(cloudTrailEvent('UpdateSSHPublicKey', { userName: U, sSHPublicKeyId: id, status: 'Active' })),
      { retryDelaysMs: [5, 10], sleep: async (ms) => void waits.push(ms) },
    );
    expect(waits).toEqual([5, 10]);
    expect(outcome).toMatchObject({ mode: 'targeted', unconfirmed: [`key ${id} of ${U} is not Active yet`] });
    await publish(cfg('b/'), { ...direct, now: () => new Date(clock) });
    expect(await under('a/')).toEqual(await under('b/'));
  });

  it('a failed call reads and writes nothing', async () => {
    const r = await applyAndCompare(
      cloudTrailEvent('DeleteUser', { userName: 'user00' }, { errorCode: 'DeleteConflictException' }),
    );
    expect(r.outcome.mode).toBe('none');
    expect(r.iamCalls + r.s3Writes).toBe(0);
  });

  it('an unreadable index.json: the full run decides (it refuses while principals exist)', async () => {
    await direct.s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'a/index.json', Body: '{' }));
    await expect(
      publishForEvents(
        cfg('a/'),
        { ...viaProxy, now: () => new Date(clock) },
        targetsOf(cloudTrailEvent('CreateUser', { userName: 'x' })),
      ),
    ).rejects.toThrow(/index.json is unreadable/);
  });
});

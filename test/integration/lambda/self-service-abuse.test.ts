// Issue 17: what one self-service member (own keys and own `ssh-key:*` tags
// only) can do to the publisher, against moto. Finding 1: adding 30 tag keys,
// getting them published, then removing them must not freeze the publisher
// (the key-loss guard counted keys across the account). Finding 10: a member
// holding a refused copy of someone's key must not buy a whole-account read
// with every event that names them.
import {
  CreateUserCommand,
  DeleteSSHPublicKeyCommand,
  type IAMClient,
  TagUserCommand,
  UntagUserCommand,
  UploadSSHPublicKeyCommand,
} from '@aws-sdk/client-iam';
import { CreateBucketCommand, type S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseIndex } from '../../../contract/index.js';
import { type AwsProxy, emptyKeyListResponse, startAwsProxy } from '../../../dev/aws-proxy.js';
import { cloudTrailEvent } from '../../../dev/cloudtrail.js';
import { makeKey, type TestKey } from '../../../dev/keys.js';
import { type Moto, startMoto } from '../../../dev/moto.js';
import { clientsFor, completed } from '../../../dev/publisher.js';
import { planForInvocation } from '../../../lambda/event-targets.js';
import { DEFAULT_PUBLISH_CONFIG, publish } from '../../../lambda/publish.js';
import { publishForEvents, type TargetedOutcome } from '../../../lambda/publish-targeted.js';
import { sqsRecord } from '../../helpers/sqs.js';
import { bucketContents } from './fixture.js';

const BUCKET = 'abuse';
const HOUR = 3_600_000;
let moto: Moto;
let proxy: AwsProxy;
let direct: { iam: IAMClient; s3: S3Client };
let viaProxy: { iam: IAMClient; s3: S3Client };
let clock = Date.parse('2026-12-01T00:00:00Z');
const now = () => new Date(clock);

// 11 colleagues with one key each, and mallory, a self-service member, with one.
const COLLEAGUES = Array.from({ length: 11 }, (_, i) => `colleague${String(i).padStart(2, '0')}`);
const keys = new Map<string, { id: string; key: TestKey }>();
const cfg = (prefix: string) => ({
  ...DEFAULT_PUBLISH_CONFIG,
  bucket: BUCKET,
  prefix,
  eventFullRunIntervalMs: HOUR,
});

async function upload(user: string, key = makeKey()): Promise<string> {
  const res = await direct.iam.send(
    new UploadSSHPublicKeyCommand({ UserName: user, SSHPublicKeyBody: key.openssh }),
  );
  return res.SSHPublicKey?.SSHPublicKeyId as string;
}

/** An SQS batch of CloudTrail events through the Lambda's own batch planning, one minute later. */
async function events(prefix: string, ...evs: Record<string, unknown>[]): Promise<TargetedOutcome> {
  clock += 60_000;
  const plan = planForInvocation({ Records: evs.map((e) => sqsRecord(e, clock)) });
  return publishForEvents(cfg(prefix), { ...viaProxy, now }, plan, { retryDelaysMs: [] });
}

async function published(prefix: string): Promise<ReturnType<typeof parseIndex>> {
  return parseIndex((await bucketContents(direct.s3, BUCKET, prefix)).get(`${prefix}index.json`) ?? '');
}

async function userObject(prefix: string, user: string): Promise<string | undefined> {
  return (await bucketContents(direct.s3, BUCKET, prefix)).get(`${prefix}users/${user}/authorized_keys`);
}

beforeAll(async () => {
  moto = await startMoto();
  proxy = await startAwsProxy(moto.endpoint);
  direct = clientsFor(moto.endpoint);
  viaProxy = clientsFor(proxy.endpoint);
  await direct.s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
  for (const name of [...COLLEAGUES, 'mallory']) {
    await direct.iam.send(new CreateUserCommand({ UserName: name }));
    const key = makeKey();
    keys.set(name, { id: await upload(name, key), key });
  }
  for (const p of ['full/', 'event/', 'copy/']) await publish(cfg(p), { ...direct, now });
}, 120_000);

afterAll(async () => {
  await proxy?.stop();
  await moto?.stop();
});

describe('finding 1: one member cannot freeze the publisher with her own tag keys', () => {
  const tagKeys = Array.from({ length: 30 }, (_, i) => `ssh-key:k${String(i).padStart(2, '0')}`);

  it('30 tag keys are published for her (42 keys in all)', async () => {
    await direct.iam.send(
      new TagUserCommand({
        UserName: 'mallory',
        Tags: tagKeys.map((Key) => ({ Key, Value: makeKey().openssh })),
      }),
    );
    await publish(cfg('full/'), { ...viaProxy, now });
    const r = await events('event/', cloudTrailEvent('TagUser', { userName: 'mallory', tags: [] }));
    expect(r.mode).toBe('targeted');
    for (const p of ['full/', 'event/']) {
      const idx = await published(p);
      expect(Object.values(idx.users).reduce((n, u) => n + u.keys.length, 0)).toBe(42);
    }
  });

  it('after she removes them, the next full run publishes, and an admin revocation applies', async () => {
    await direct.iam.send(new UntagUserCommand({ UserName: 'mallory', TagKeys: tagKeys }));
    const alice = keys.get('colleague00');
    await direct.iam.send(
      new DeleteSSHPublicKeyCommand({ UserName: 'colleague00', SSHPublicKeyId: alice?.id }),
    );
    const result = completed(await publish(cfg('full/'), { ...viaProxy, now }));
    expect(result.summary.keys).toBe(11);
    expect(await userObject('full/', 'colleague00')).toBe('');
    expect((await published('full/')).users.mallory?.keys).toHaveLength(1);
  });

  it('and so does the next event batch (her UntagUser and the admin deletion together)', async () => {
    const r = await events(
      'event/',
      cloudTrailEvent('UntagUser', { userName: 'mallory', tagKeys }),
      cloudTrailEvent('DeleteSSHPublicKey', {
        userName: 'colleague00',
        sSHPublicKeyId: keys.get('colleague00')?.id,
      }),
    );
    expect(r.mode).toBe('targeted');
    expect(await userObject('event/', 'colleague00')).toBe('');
    expect((await published('event/')).users.mallory?.keys).toHaveLength(1);
  });

  it('many users emptied at once is still refused (a broken read), and writes nothing', async () => {
    const before = await bucketContents(direct.s3, BUCKET, 'full/');
    proxy.options = {
      fault: (r) => (r.action === 'ListSSHPublicKeys' ? emptyKeyListResponse() : undefined),
    };
    try {
      await expect(publish(cfg('full/'), { ...viaProxy, now })).rejects.toThrow(
        /11 of the 11 users with published keys would have none left/,
      );
    } finally {
      proxy.options = {};
    }
    expect(await bucketContents(direct.s3, BUCKET, 'full/')).toEqual(before);
  });
});

describe('finding 10: a refused copy does not buy her whole-account reads', () => {
  const P = 'copy/';
  const accountReads = () => proxy.count('iam', 'GetAccountAuthorizationDetails');

  it('her first copy of a colleague key makes one full run (upload dates decide); the copy is refused', async () => {
    await upload('mallory', keys.get('colleague01')?.key);
    proxy.clear();
    const r = await events(P, cloudTrailEvent('UploadSSHPublicKey', { userName: 'mallory' }));
    expect(r).toMatchObject({ mode: 'full', causedBy: [{ user: 'mallory' }] });
    expect(accountReads()).toBeGreaterThan(0);
    expect((await published(P)).users.mallory?.rejectedKeys?.[0]?.reason).toMatch(
      /belongs to IAM user colleague01/,
    );
  });

  it('from then on her tag events are targeted: 3 IAM calls each, no account read', async () => {
    proxy.clear();
    for (let i = 0; i < 5; i++) {
      const Key = `ssh-key:t${i}`;
      await direct.iam.send(
        new TagUserCommand({ UserName: 'mallory', Tags: [{ Key, Value: makeKey().openssh }] }),
      );
      expect(await events(P, cloudTrailEvent('TagUser', { userName: 'mallory', tags: [] }))).toMatchObject({
        mode: 'targeted',
        deferred: [],
      });
      await direct.iam.send(new UntagUserCommand({ UserName: 'mallory', TagKeys: [Key] }));
      expect(
        await events(P, cloudTrailEvent('UntagUser', { userName: 'mallory', tagKeys: [Key] })),
      ).toMatchObject({
        mode: 'targeted',
      });
    }
    expect(accountReads()).toBe(0);
    // GetUser, ListGroupsForUser, ListSSHPublicKeys per run.
    expect(proxy.count('iam')).toBe(30);
  });

  it('new copies within the hour are deferred: a colleague revocation in the same batch still applies', async () => {
    proxy.clear();
    let fullRuns = 0;
    for (let i = 2; i < 6; i++) {
      const victim = `colleague${String(i).padStart(2, '0')}`;
      const copyId = await upload('mallory', keys.get(victim)?.key);
      const revoked = `colleague${String(i + 4).padStart(2, '0')}`;
      await direct.iam.send(
        new DeleteSSHPublicKeyCommand({ UserName: revoked, SSHPublicKeyId: keys.get(revoked)?.id }),
      );
      const r = await events(
        P,
        cloudTrailEvent('UploadSSHPublicKey', { userName: 'mallory' }),
        cloudTrailEvent('DeleteSSHPublicKey', { userName: revoked, sSHPublicKeyId: keys.get(revoked)?.id }),
      );
      if (r.mode === 'full') fullRuns++;
      else expect(r).toMatchObject({ mode: 'targeted', deferred: [{ user: 'mallory' }] });
      expect(await userObject(P, revoked)).toBe('');
      // Her new copy waits for the schedule: not in the index at all yet, never published.
      const idx = await published(P);
      expect(idx.users.mallory?.keys.map((k) => k.id)).not.toContain(copyId);
      expect(idx.users[victim]?.keys).toHaveLength(1);
    }
    expect(fullRuns).toBe(0);
    expect(accountReads()).toBe(0);
  });

  it('her own key revoked by an admin applies at once even while her copies are deferred', async () => {
    const own = keys.get('mallory');
    await upload('mallory', keys.get('colleague10')?.key);
    await direct.iam.send(new DeleteSSHPublicKeyCommand({ UserName: 'mallory', SSHPublicKeyId: own?.id }));
    const r = await events(
      P,
      cloudTrailEvent('UploadSSHPublicKey', { userName: 'mallory' }),
      cloudTrailEvent('DeleteSSHPublicKey', { userName: 'mallory', sSHPublicKeyId: own?.id }),
    );
    expect(r).toMatchObject({ mode: 'targeted', deferred: [{ user: 'mallory' }] });
    expect(await userObject(P, 'mallory')).toBe('');
  });

  it('an hour after the last one, the event path may start one full run again, which settles her copies', async () => {
    clock += HOUR;
    proxy.clear();
    const first = await events(P, cloudTrailEvent('TagUser', { userName: 'mallory', tags: [] }));
    expect(first).toMatchObject({ mode: 'full', causedBy: [{ user: 'mallory' }] });
    const second = await events(P, cloudTrailEvent('TagUser', { userName: 'mallory', tags: [] }));
    expect(second).toMatchObject({ mode: 'targeted', deferred: [] });
    // A full run over the same bucket (a fresh prefix has no claim history: its first run ties
    // every copy, colleagues' keys included) changes nothing: the event-started run settled it all.
    const settled = (await published(P)).users;
    await publish(cfg(P), { ...direct, now });
    expect((await published(P)).users).toEqual(settled);
    expect(settled.mallory?.rejectedKeys?.length).toBeGreaterThan(0);
  });
});

describe('a revocation CloudTrail recorded is never held back by the key-loss guard', () => {
  const leavers = Array.from({ length: 8 }, (_, i) => `leaver${i}`);

  it('an admin removing the keys of most users in one batch: the event run applies it, a full run would refuse', async () => {
    const ids = new Map<string, string>();
    for (const name of leavers) {
      await direct.iam.send(new CreateUserCommand({ UserName: name }));
      ids.set(name, await upload(name));
    }
    for (const p of ['offboard-event/', 'offboard-full/']) await publish(cfg(p), { ...direct, now });
    const holders = Object.values((await published('offboard-event/')).users).filter(
      (u) => u.keys.length > 0,
    );
    // The leavers are more than half of the users with keys: without the events, this looks like a broken read.
    expect(leavers.length / holders.length).toBeGreaterThan(0.5);
    for (const name of leavers)
      await direct.iam.send(new DeleteSSHPublicKeyCommand({ UserName: name, SSHPublicKeyId: ids.get(name) }));
    await expect(publish(cfg('offboard-full/'), { ...direct, now })).rejects.toThrow(/8 of the \d+ users/);
    const r = await events(
      'offboard-event/',
      ...leavers.map((name) =>
        cloudTrailEvent('DeleteSSHPublicKey', { userName: name, sSHPublicKeyId: ids.get(name) }),
      ),
    );
    expect(r.mode).toBe('targeted');
    for (const name of leavers) expect(await userObject('offboard-event/', name)).toBe('');
  });
});

// Runs that stop in time (a deadline) and the series that continues them, against moto.
// The clock advances one second per IAM call, so a budget is a number of calls.
import {
  CreateUserCommand,
  DeleteSSHPublicKeyCommand,
  DeleteUserCommand,
  GetUserCommand,
  type IAMClient,
  UploadSSHPublicKeyCommand,
} from '@aws-sdk/client-iam';
import { CreateBucketCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { parseIndex } from '../../../contract/index.js';
import { type AwsProxy, startAwsProxy } from '../../../dev/aws-proxy.js';
import { makeKey } from '../../../dev/keys.js';
import { type Moto, startMoto } from '../../../dev/moto.js';
import { clientsFor, completed } from '../../../dev/publisher.js';
import { countCalls } from '../../../lambda/call-counter.js';
import {
  type ImportProgress,
  PROGRESS_KIND,
  parseProgress,
  progressKey,
  serializeProgress,
} from '../../../lambda/progress.js';
import {
  DEFAULT_PUBLISH_CONFIG,
  type PublishConfig,
  PublishIncomplete,
  type PublishResult,
  publish,
} from '../../../lambda/publish.js';
import { bucketContents, buildFixture, expectedObjects, type Fixture } from './fixture.js';

const PREFIX = 'keys/';
const BASE = Date.parse('2026-01-01T00:00:00Z');
let moto: Moto;
let proxy: AwsProxy;
let direct: { iam: IAMClient; s3: S3Client };
let fixture: Fixture;
let bucketN = 0;

/** Clients through the recording proxy and a clock that ticks one second per IAM call they make. */
function runner(bucket: string) {
  const clients = clientsFor(proxy.endpoint);
  const counts = countCalls(clients.iam);
  let offset = 0;
  const now = () => new Date(BASE + offset + Object.values(counts.calls).reduce((a, b) => a + b, 0) * 1000);
  const run = (extra: Partial<PublishConfig> = {}, budgetSeconds?: number) =>
    publish(
      {
        ...DEFAULT_PUBLISH_CONFIG,
        bucket,
        prefix: PREFIX,
        concurrency: 4,
        ...(budgetSeconds !== undefined ? { deadline: now().getTime() + budgetSeconds * 1000 } : {}),
        ...extra,
      },
      { ...clients, now },
    );
  return {
    run,
    now,
    /** Moves the clock on without IAM calls (time between scheduled runs). */
    wait(ms: number) {
      offset += ms;
    },
  };
}

async function newBucket(): Promise<string> {
  const name = `resume-${++bucketN}`;
  await direct.s3.send(new CreateBucketCommand({ Bucket: name }));
  return name;
}

async function series(
  r: ReturnType<typeof runner>,
  budgetSeconds: number,
): Promise<{ incomplete: PublishIncomplete[]; result: PublishResult }> {
  const incomplete: PublishIncomplete[] = [];
  for (let i = 0; i < 100; i++) {
    const outcome = await r.run({}, budgetSeconds);
    if (!(outcome instanceof PublishIncomplete)) return { incomplete, result: outcome };
    incomplete.push(outcome);
    r.wait(60_000);
  }
  throw new Error('the series did not finish in 100 runs');
}

beforeAll(async () => {
  moto = await startMoto();
  proxy = await startAwsProxy(moto.endpoint);
  direct = clientsFor(moto.endpoint);
  fixture = await buildFixture(direct.iam);
});

afterAll(async () => {
  await proxy?.stop();
  await moto?.stop();
});

beforeEach(() => {
  proxy.options = {};
  proxy.clear();
});

describe('a budgeted series of runs', () => {
  it('ends in exactly the bucket one unbudgeted run produces, writing nothing before its read is complete', async () => {
    const single = await newBucket();
    const budgeted = await newBucket();
    await runner(single).run();

    const r = runner(budgeted);
    const writes: string[][] = [];
    const { incomplete, result } = await (async () => {
      const out: PublishIncomplete[] = [];
      for (let i = 0; i < 100; i++) {
        proxy.clear();
        const outcome = await r.run({}, 16);
        if (!(outcome instanceof PublishIncomplete)) return { incomplete: out, result: outcome };
        out.push(outcome);
        // A run cut short: its only write is progress.json, it deletes nothing.
        writes.push(
          proxy.requests
            .filter((q) => q.service === 's3' && ['PutObject', 'DeleteObject'].includes(q.action))
            .map((q) => `${q.action} ${q.path.split('?')[0]}`),
        );
        r.wait(60_000);
      }
      throw new Error('the series did not finish in 100 runs');
    })();
    expect(incomplete.length).toBeGreaterThanOrEqual(3);
    for (const w of writes) expect(w).toEqual([`PutObject /${budgeted}/${PREFIX}publisher/progress.json`]);
    // Every run of the series read something new, so none would look stuck.
    expect(incomplete.every((e) => e.advanced)).toBe(true);
    expect(incomplete.every((e) => e.progress.firstImport)).toBe(true);
    const usersRead = incomplete.map((e) => e.progress.usersRead);
    expect([...usersRead].sort((a, b) => a - b)).toEqual(usersRead);
    expect(incomplete.at(-1)?.progress.usersRead).toBe(fixture.users.length);
    expect(result.summary.added).toBe(fixture.users.length + fixture.groups.length);

    const a = await bucketContents(direct.s3, single, PREFIX);
    const b = await bucketContents(direct.s3, budgeted, PREFIX);
    expect(b.has(progressKey(PREFIX))).toBe(false);
    // index.json differs only in its heartbeat; uids, key bodies and everything else are equal.
    const index = (m: Map<string, string>) => ({
      ...parseIndex(m.get(`${PREFIX}index.json`) ?? ''),
      generatedAt: '',
    });
    expect(index(b)).toEqual(index(a));
    for (const k of ['index.json', 'heartbeat.json']) {
      a.delete(`${PREFIX}${k}`);
      b.delete(`${PREFIX}${k}`);
    }
    expect(Object.fromEntries(b)).toEqual(Object.fromEntries(a));
    // directory.json is equal too (no time in it): compared above, then left out of the layout check.
    a.delete(`${PREFIX}directory.json`);
    b.delete(`${PREFIX}directory.json`);
    expect(Object.fromEntries(b)).toEqual(Object.fromEntries(expectedObjects(fixture, PREFIX)));
  });

  it('a run cut short in a published bucket deletes nothing and leaves index.json alone', async () => {
    const bucket = await newBucket();
    const r = runner(bucket);
    await r.run();
    await direct.iam.send(new CreateUserCommand({ UserName: 'scale-gone' }));
    await r.run();
    await direct.iam.send(new DeleteUserCommand({ UserName: 'scale-gone' }));
    const before = await bucketContents(direct.s3, bucket, PREFIX);
    proxy.clear();
    const e = await r.run({}, 10).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(PublishIncomplete);
    expect((e as PublishIncomplete).progress.firstImport).toBe(false);
    expect(proxy.count('s3', 'DeleteObject')).toBe(0);
    const after = await bucketContents(direct.s3, bucket, PREFIX);
    expect(after.get(`${PREFIX}users/scale-gone/authorized_keys`)).toBe('');
    expect(after.get(`${PREFIX}index.json`)).toBe(before.get(`${PREFIX}index.json`));
    after.delete(progressKey(PREFIX));
    expect(after).toEqual(before);
    // The series finishes: the deleted user goes, progress.json with it.
    const { result } = await series(r, 10);
    expect(result.plan.deletes).toEqual([`${PREFIX}users/scale-gone/authorized_keys`]);
    expect((await bucketContents(direct.s3, bucket, PREFIX)).has(progressKey(PREFIX))).toBe(false);
  });

  it('a deadline already past reads nothing and saves a progress that did not advance', async () => {
    const bucket = await newBucket();
    const e = await runner(bucket)
      .run({}, 0)
      .catch((x: unknown) => x);
    expect(e).toBeInstanceOf(PublishIncomplete);
    expect((e as PublishIncomplete).advanced).toBe(false);
    expect(proxy.count('iam')).toBe(0);
    const saved = parseProgress(
      (await bucketContents(direct.s3, bucket, PREFIX)).get(progressKey(PREFIX)) ?? '',
    );
    expect(saved).toMatchObject({ kind: PROGRESS_KIND, runs: 1, usersRead: 0, keyBodiesFetched: 0 });
  });
});

describe('saved progress', () => {
  const user = 'user01';

  /** A progress that says user01 has no keys (IAM says otherwise), lists saved at `since`. */
  function crafted(userId: string, since: string): ImportProgress {
    return {
      kind: PROGRESS_KIND,
      version: 1,
      startedAt: since,
      savedAt: since,
      runs: 1,
      firstImport: true,
      usersTotal: 0,
      usersRead: 1,
      usersFound: 0,
      keyBodiesFetched: 0,
      keyBodiesMissing: 0,
      keyListsSince: since,
      keyLists: { [user]: { userId, keys: [] } },
      keyBodies: {},
    };
  }

  async function userId(): Promise<string> {
    return (await direct.iam.send(new GetUserCommand({ UserName: user }))).User?.UserId as string;
  }

  async function put(bucket: string, body: string) {
    await direct.s3.send(new PutObjectCommand({ Bucket: bucket, Key: progressKey(PREFIX), Body: body }));
  }

  it('a fresh saved key list is reused (its user is not listed again); a stale one is read again', async () => {
    const fresh = await newBucket();
    const id = await userId();
    const r = runner(fresh);
    await put(fresh, serializeProgress(crafted(id, new Date(BASE).toISOString())));
    proxy.clear();
    await r.run();
    // Reused: ListSSHPublicKeys for everyone else only, and user01 published with the saved (empty) list.
    expect(proxy.count('iam', 'ListSSHPublicKeys')).toBe(fixture.users.length - 1);
    const contents = await bucketContents(direct.s3, fresh, PREFIX);
    expect(contents.get(`${PREFIX}users/${user}/authorized_keys`)).toBe('');
    expect(contents.has(progressKey(PREFIX))).toBe(false);

    const stale = await newBucket();
    const s = runner(stale);
    await put(stale, serializeProgress(crafted(id, new Date(BASE - 7 * 3600_000).toISOString())));
    proxy.clear();
    const result = await s.run();
    expect(result.warnings?.join('\n')).toMatch(/older than 360 min: reading them again/);
    expect(proxy.count('iam', 'ListSSHPublicKeys')).toBe(fixture.users.length);
    const expected = expectedObjects(fixture, PREFIX);
    const got = await bucketContents(direct.s3, stale, PREFIX);
    expect(got.get(`${PREFIX}users/${user}/authorized_keys`)).toBe(
      expected.get(`${PREFIX}users/${user}/authorized_keys`),
    );
    expect(expected.get(`${PREFIX}users/${user}/authorized_keys`)).not.toBe('');
  });

  it('a saved list of another user of the same name (other user id) is not reused', async () => {
    const bucket = await newBucket();
    await put(bucket, serializeProgress(crafted('AIDAOLDPERSONWITHSAMENAME', new Date(BASE).toISOString())));
    proxy.clear();
    await runner(bucket).run();
    expect(proxy.count('iam', 'ListSSHPublicKeys')).toBe(fixture.users.length);
    const got = await bucketContents(direct.s3, bucket, PREFIX);
    expect(got.get(`${PREFIX}users/${user}/authorized_keys`)).toBe(
      expectedObjects(fixture, PREFIX).get(`${PREFIX}users/${user}/authorized_keys`),
    );
  });

  it.each([
    ['not JSON', '{"kind":'],
    ['another kind', JSON.stringify({ kind: 'something-else', version: 1 })],
    [
      'counters that disagree with the data',
      serializeProgress({ ...crafted('AIDAX', new Date(BASE).toISOString()), usersRead: 7 }),
    ],
  ])('malformed progress (%s) is ignored with a warning, then replaced or deleted', async (_what, body) => {
    const bucket = await newBucket();
    await put(bucket, body);
    const r = runner(bucket);
    // A run cut short replaces it with a valid one...
    const e = await r.run({}, 8).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(PublishIncomplete);
    expect((e as PublishIncomplete).warnings.join('\n')).toMatch(/ignoring unreadable progress/);
    const saved = parseProgress(
      (await bucketContents(direct.s3, bucket, PREFIX)).get(progressKey(PREFIX)) ?? '',
    );
    expect(saved.runs).toBe(1);
    // ...and a complete run deletes it.
    await put(bucket, body);
    const result = await r.run();
    expect(result.warnings?.join('\n')).toMatch(/ignoring unreadable progress/);
    const got = await bucketContents(direct.s3, bucket, PREFIX);
    expect(got.has(progressKey(PREFIX))).toBe(false);
    for (const k of ['index.json', 'directory.json', 'heartbeat.json']) got.delete(`${PREFIX}${k}`);
    expect(Object.fromEntries(got)).toEqual(Object.fromEntries(expectedObjects(fixture, PREFIX)));
  });

  it('a key uploaded during the series is published by the run that finishes it', async () => {
    const bucket = await newBucket();
    const r = runner(bucket);
    const first = await r.run({}, 20).catch((x: unknown) => x);
    expect(first).toBeInstanceOf(PublishIncomplete);
    // user26 is one of the last users listed: its list is not read yet when the key arrives.
    expect((first as PublishIncomplete).progress.usersRead).toBeLessThan(fixture.users.length - 2);
    const key = makeKey('ed25519');
    const up = await direct.iam.send(
      new UploadSSHPublicKeyCommand({ UserName: 'user26', SSHPublicKeyBody: key.openssh }),
    );
    try {
      await series(r, 20);
      const got = await bucketContents(direct.s3, bucket, PREFIX);
      expect(got.get(`${PREFIX}users/user26/authorized_keys`)).toContain(key.blob);
    } finally {
      await direct.iam.send(
        new DeleteSSHPublicKeyCommand({
          UserName: 'user26',
          SSHPublicKeyId: up.SSHPublicKey?.SSHPublicKeyId,
        }),
      );
    }
  });

  it('a user deleted during the series, still named by the saved pages, is dropped with a warning, not a failure', async () => {
    const bucket = await newBucket();
    const r = runner(bucket);
    await direct.iam.send(new CreateUserCommand({ UserName: 'zz-leaver' }));
    let deleted = false;
    try {
      const first = await r.run({}, 5).catch((x: unknown) => x);
      expect(first).toBeInstanceOf(PublishIncomplete);
      const saved = parseProgress(
        (await bucketContents(direct.s3, bucket, PREFIX)).get(progressKey(PREFIX)) ?? '',
      );
      // The pages are complete and name zz-leaver; its key list was not read yet.
      expect(saved.accountDetails?.complete).toBe(true);
      expect(Object.hasOwn(saved.accountDetails?.users ?? {}, 'zz-leaver')).toBe(true);
      expect(Object.hasOwn(saved.keyLists, 'zz-leaver')).toBe(false);
      await direct.iam.send(new DeleteUserCommand({ UserName: 'zz-leaver' }));
      deleted = true;
      // Before, its ListSSHPublicKeys (NoSuchEntity) failed every run until the pages expired.
      const result = completed(await r.run());
      expect(result.summary.users).toBe(fixture.users.length);
      expect(result.warnings?.join(' ')).toMatch(/zz-leaver from saved pages no longer exists/);
      const got = await bucketContents(direct.s3, bucket, PREFIX);
      expect(got.has(`${PREFIX}users/zz-leaver/authorized_keys`)).toBe(false);
    } finally {
      if (!deleted) await direct.iam.send(new DeleteUserCommand({ UserName: 'zz-leaver' }));
    }
  });
});

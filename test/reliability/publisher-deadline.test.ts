// Runs with a deadline under faults that would otherwise hold them past it
// (lambda/publish.ts with the product's SDK clients: adaptive retries, 10
// attempts, 30 s per attempt): an IAM call that never answers, and IAM
// throttling every call. The run must stop in time (or this file's test
// timeout fails it), write no principal object, delete nothing, leave
// index.json alone and save progress; once the fault is gone the series ends
// in a clean run's bucket.
import { CreateUserCommand, DeleteUserCommand, type IAMClient } from '@aws-sdk/client-iam';
import { CreateBucketCommand, type S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seeded } from '../../dev/aws-proxy.js';
import { type Moto, startMoto, TEST_CREDENTIALS, TEST_REGION } from '../../dev/moto.js';
import { clientsFor } from '../../dev/publisher.js';
import { createClients } from '../../lambda/clients.js';
import { parseProgress, progressKey } from '../../lambda/progress.js';
import { DEFAULT_PUBLISH_CONFIG, PublishIncomplete, publish } from '../../lambda/publish.js';
import { type FaultProxy, queryError, startFaultProxy } from '../helpers/fault-proxy.js';
import {
  bucketContents,
  buildFixture,
  expectedObjects,
  type Fixture,
} from '../integration/lambda/fixture.js';

const BUCKET = 'reliability-deadline';
let moto: Moto;
let proxy: FaultProxy;
let direct: { iam: IAMClient; s3: S3Client };
let fixture: Fixture;
let caseN = 0;

function productClients() {
  process.env.AWS_ACCESS_KEY_ID = TEST_CREDENTIALS.accessKeyId;
  process.env.AWS_SECRET_ACCESS_KEY = TEST_CREDENTIALS.secretAccessKey;
  process.env.AWS_ENDPOINT_URL = proxy.endpoint;
  return createClients({ env: { AWS_ENDPOINT_URL: proxy.endpoint, AWS_REGION: TEST_REGION } });
}

const run = (prefix: string, budgetMs?: number) =>
  publish(
    {
      ...DEFAULT_PUBLISH_CONFIG,
      bucket: BUCKET,
      prefix,
      ...(budgetMs !== undefined ? { deadline: Date.now() + budgetMs } : {}),
    },
    { ...productClients(), now: () => new Date() },
  );

/** Timers alive in this process: an SDK backoff left sleeping after a run shows here. */
const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;

beforeAll(async () => {
  moto = await startMoto();
  proxy = await startFaultProxy(moto.endpoint);
  direct = clientsFor(moto.endpoint);
  await direct.s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
  fixture = await buildFixture(direct.iam);
});

afterAll(async () => {
  await proxy?.stop();
  await moto?.stop();
});

/** Publishes `prefix`, then makes a change pending (a deleted user) so a complete run would delete. */
async function published(prefix: string): Promise<Map<string, string>> {
  await direct.iam.send(new CreateUserCommand({ UserName: `scale-tmp${caseN}` }));
  await run(prefix);
  await direct.iam.send(new DeleteUserCommand({ UserName: `scale-tmp${caseN}` }));
  return bucketContents(direct.s3, BUCKET, prefix);
}

async function cutShort(prefix: string, before: Map<string, string>, budgetMs: number) {
  proxy.clear();
  const err = await run(prefix, budgetMs).catch((e: unknown) => e);
  await proxy.settle();
  const writes = proxy.requests.filter((r) => r.action === 'PutObject' || r.action === 'DeleteObject');
  proxy.options = {};
  expect(err).toBeInstanceOf(PublishIncomplete);
  // Its only write: progress.json. Nothing deleted, index.json (the heartbeat) untouched.
  expect(writes.map((r) => `${r.action} ${r.key}`)).toEqual([`PutObject ${progressKey(prefix)}`]);
  const after = await bucketContents(direct.s3, BUCKET, prefix);
  const progress = parseProgress(after.get(progressKey(prefix)) ?? '');
  after.delete(progressKey(prefix));
  expect(after).toEqual(before);
  return { err: err as PublishIncomplete, progress };
}

async function finishes(prefix: string) {
  await run(prefix);
  const got = await bucketContents(direct.s3, BUCKET, prefix);
  expect(got.has(progressKey(prefix))).toBe(false);
  for (const k of ['index.json', 'directory.json', 'heartbeat.json']) got.delete(`${prefix}${k}`);
  expect(Object.fromEntries(got)).toEqual(Object.fromEntries(expectedObjects(fixture, prefix)));
}

describe('a run with a deadline, under faults', () => {
  it('an IAM call that never answers is aborted at the deadline: progress saved, the series finishes', async () => {
    const prefix = `hang${++caseN}/`;
    const before = await published(prefix);
    let lists = 0;
    proxy.options = {
      fault: (r) => (r.action === 'ListSSHPublicKeys' && ++lists === 10 ? { kind: 'hang' } : undefined),
    };
    // Without the abort this run would wait 30 s x 10 attempts for the hung call.
    const { err, progress } = await cutShort(prefix, before, 4000);
    expect(lists).toBeGreaterThanOrEqual(10);
    expect(err.advanced).toBe(true);
    expect(progress.usersRead).toBeGreaterThan(0);
    expect(progress.usersRead).toBeLessThan(fixture.users.length + 1);
    expect(progress.firstImport).toBe(false);
    await finishes(prefix);
  });

  it('IAM throttling every call: the run stops in time, saves a progress that did not advance', async () => {
    const prefix = `throttle${++caseN}/`;
    const before = await published(prefix);
    proxy.options = {
      fault: (r) => (r.service === 'iam' ? queryError('Throttling', 'Rate exceeded') : undefined),
    };
    const { err, progress } = await cutShort(prefix, before, 3000);
    // A series that reads nothing new is stuck: the staleness alarm must still page (ImportProgressed 0).
    expect(err.advanced).toBe(false);
    expect(progress).toMatchObject({ runs: 1, usersRead: 0, keyBodiesFetched: 0 });
    await finishes(prefix);
  });

  it('half of all IAM calls throttled, 3 s budget: the deadline ends the retry waits and aborts the calls, no SDK timer outlives the run', async () => {
    const prefix = `half${++caseN}/`;
    const before = await published(prefix);
    const draw = seeded(9);
    proxy.options = {
      fault: (r) =>
        r.service === 'iam' && draw() < 0.5 ? queryError('Throttling', 'Rate exceeded') : undefined,
    };
    const timersBefore = timers();
    const { err, progress } = await cutShort(prefix, before, 3000);
    // The run itself says how it stopped: by the deadline, with waits it cut and calls it aborted.
    expect(err.stop).toMatchObject({ saved: true });
    expect(err.stop?.cutWaits).toBeGreaterThan(0);
    expect(err.stop?.abortedCalls).toBeGreaterThan(0);
    // Before, the SDK's backoff and rate-limiter sleeps went on after the run (what kept the CLI alive).
    expect(timers()).toBeLessThanOrEqual(timersBefore);
    // Either it saved progress, or it said by how much its budget was too small: never silence.
    if (err.advanced)
      expect(progress.usersRead + progress.usersFound + progress.keyBodiesFetched).toBeGreaterThan(0);
    else expect(err.stop?.budgetTooSmall).toBeDefined();
    await finishes(prefix);
  });

  it('a budget too small for any progress says so, and by how much', async () => {
    const prefix = `tiny${++caseN}/`;
    const before = await published(prefix);
    proxy.options = {
      fault: (r) => (r.service === 'iam' ? queryError('Throttling', 'Rate exceeded') : undefined),
    };
    proxy.clear();
    const err = (await run(prefix, 1000).catch((e: unknown) => e)) as PublishIncomplete;
    await proxy.settle();
    proxy.options = {};
    expect(err).toBeInstanceOf(PublishIncomplete);
    // Its one write, if its 125 ms save window sufficed: progress.json. Nothing published.
    const writes = proxy.requests.filter((r) => r.action === 'PutObject' || r.action === 'DeleteObject');
    expect(writes.map((r) => r.key)).toEqual(err.stop?.saved ? [progressKey(prefix)] : []);
    const after = await bucketContents(direct.s3, BUCKET, prefix);
    after.delete(progressKey(prefix));
    expect(after).toEqual(before);
    expect(err.advanced).toBe(false);
    // The budget counts from the run's own start, a few ms after the caller set the deadline.
    expect(err.stop?.budgetTooSmall?.budgetMs).toBeGreaterThan(900);
    expect(err.stop?.budgetTooSmall?.budgetMs).toBeLessThanOrEqual(1000);
    // A throttled call's backoff would have passed the stop: the shortfall is at least what it missed by.
    expect(err.stop?.budgetTooSmall?.shortByMs).toBeGreaterThan(0);
    expect(err.message).toMatch(
      /^time budget too small for any progress: of [\d.]+ s, .*short by at least [\d.]+ s \(a budget of [\d.]+ s or more\)$/,
    );
    await finishes(prefix);
  });
});

// The Lambda handler with its context's remaining time as the run's deadline, against moto
// behind a proxy that holds every IAM request 400 ms (a slow, throttled account).
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { PublisherMetric } from '../../../contract/publisher-settings.js';
import { type AwsProxy, startAwsProxy } from '../../../dev/aws-proxy.js';
import { type Moto, startMoto, TEST_CREDENTIALS, TEST_REGION } from '../../../dev/moto.js';
import { clientsFor } from '../../../dev/publisher.js';
import { parseProgress, progressKey } from '../../../lambda/progress.js';
import { bucketContents, buildFixture, type Fixture } from './fixture.js';

const BUCKET = 'lambda-deadline';
// The metrics the stack's ImportInProgress and Staleness alarms watch (lib/publisher/alarms.ts).
const PUBLISH_INCOMPLETE_METRIC: PublisherMetric = 'PublishIncomplete';
const IMPORT_PROGRESSED_METRIC: PublisherMetric = 'ImportProgressed';
const PREFIX = 'ssh/';
let moto: Moto;
let proxy: AwsProxy;
let fixture: Fixture;
let slowIam = true;

beforeAll(async () => {
  moto = await startMoto();
  proxy = await startAwsProxy(moto.endpoint, {
    delay: (r) => (slowIam && r.service === 'iam' ? 400 : undefined),
  });
  const { iam, s3 } = clientsFor(moto.endpoint);
  await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
  fixture = await buildFixture(iam);
  vi.stubEnv('AWS_ENDPOINT_URL', proxy.endpoint);
  vi.stubEnv('AWS_ACCESS_KEY_ID', TEST_CREDENTIALS.accessKeyId);
  vi.stubEnv('AWS_SECRET_ACCESS_KEY', TEST_CREDENTIALS.secretAccessKey);
  vi.stubEnv('AWS_REGION', TEST_REGION);
  vi.stubEnv('BUCKET', BUCKET);
  vi.stubEnv('KEY_PREFIX', PREFIX);
  vi.stubEnv('POWERTOOLS_DEV', 'false');
});

afterAll(async () => {
  vi.unstubAllEnvs();
  await proxy?.stop();
  await moto?.stop();
});

type Handler = (e: unknown, c?: { getRemainingTimeInMillis(): number }) => Promise<unknown>;

async function invoke(handler: Handler, remainingMs: number) {
  const lines: Record<string, unknown>[] = [];
  const capture = (chunk: unknown) => {
    for (const l of String(chunk).split('\n')) if (l.startsWith('{')) lines.push(JSON.parse(l));
    return true;
  };
  const spies = [
    vi.spyOn(process.stdout, 'write').mockImplementation(capture),
    vi.spyOn(process.stderr, 'write').mockImplementation(capture),
    vi.spyOn(console, 'log').mockImplementation((...a: unknown[]) => capture(a.join(' '))),
    vi.spyOn(console, 'info').mockImplementation((...a: unknown[]) => capture(a.join(' '))),
    vi.spyOn(console, 'warn').mockImplementation((...a: unknown[]) => capture(a.join(' '))),
    vi.spyOn(console, 'error').mockImplementation((...a: unknown[]) => capture(a.join(' '))),
  ];
  const context = { getRemainingTimeInMillis: () => remainingMs };
  try {
    return {
      result: await handler({ 'detail-type': 'Scheduled Event' }, context).catch((e: unknown) => e),
      lines,
    };
  } finally {
    for (const s of spies) s.mockRestore();
  }
}

describe('Lambda handler with a deadline', () => {
  it('a run out of time is not a failure: PublishIncomplete and ImportProgressed, progress saved, nothing published', async () => {
    const { handler } = await import('../../../lambda/handler.js');
    // 3 s left: it stops starting calls after 2.25 s; reading everything takes ~4 s at 400 ms per call.
    const r = await invoke(handler, 3000);
    expect(r.result).toMatchObject({ complete: false, progress: { firstImport: true, runs: 1 } });
    const emf = r.lines.find((l) => '_aws' in l);
    expect(emf).toMatchObject({ [PUBLISH_INCOMPLETE_METRIC]: 1, [IMPORT_PROGRESSED_METRIC]: 1 });
    expect(emf).not.toHaveProperty('PublishFailed');
    expect(emf).not.toHaveProperty('PublishSucceeded');
    expect(r.lines.find((l) => l.level === 'ERROR')).toBeUndefined();
    expect(r.lines.find((l) => String(l.message).startsWith('first import in progress'))).toMatchObject({
      level: 'INFO',
      trigger: 'Scheduled Event',
      advanced: true,
    });
    const contents = await bucketContents(clientsFor(moto.endpoint).s3, BUCKET, PREFIX);
    expect([...contents.keys()]).toEqual([progressKey(PREFIX)]);
    expect(parseProgress(contents.get(progressKey(PREFIX)) ?? '').usersRead).toBeGreaterThan(0);
  });

  it('no time left: a run that reads nothing reports ImportProgressed 0 (a stuck series still pages)', async () => {
    const { handler } = await import('../../../lambda/handler.js');
    const r = await invoke(handler, 0);
    expect(r.result).toMatchObject({ complete: false, iamCalls: {} });
    expect(r.lines.find((l) => '_aws' in l)).toMatchObject({
      [PUBLISH_INCOMPLETE_METRIC]: 1,
      [IMPORT_PROGRESSED_METRIC]: 0,
      BudgetTooSmall: 1,
    });
    // Not silence: an ERROR line that says the budget was too small, and its result says by how much.
    expect(r.result).toMatchObject({ stop: { phase: 'bucket', budgetTooSmall: { budgetMs: 0 } } });
    expect(r.lines.find((l) => l.level === 'ERROR')).toMatchObject({
      message: expect.stringMatching(/^time budget too small for any progress: /),
    });
  });

  it('with time enough the series completes, publishes everything and deletes progress.json', async () => {
    const { handler } = await import('../../../lambda/handler.js');
    slowIam = false;
    const r = await invoke(handler, 600_000);
    expect(r.result).toMatchObject({
      users: fixture.users.length,
      added: fixture.users.length + fixture.groups.length,
    });
    expect(r.lines.find((l) => '_aws' in l)).toMatchObject({ PublishSucceeded: 1 });
    const contents = await bucketContents(clientsFor(moto.endpoint).s3, BUCKET, PREFIX);
    expect(contents.has(progressKey(PREFIX))).toBe(false);
    expect(contents.has(`${PREFIX}index.json`)).toBe(true);
  });
});

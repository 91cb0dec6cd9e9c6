// A series of 3-second runs over 200 users whose GetAccountAuthorizationDetails
// alone takes longer than a run: moto behind the proxy, which pages it by 10
// (moto ignores Marker) and holds each page 500 ms. The pages read so far are
// kept in progress.json with their Marker, so every run progresses and the
// series completes (before, every run read the pages again from the first and
// none ever got past them). The publisher's own clients and a real clock.
import { CreateUserCommand, UploadSSHPublicKeyCommand } from '@aws-sdk/client-iam';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AwsProxy, startAwsProxy } from '../../../dev/aws-proxy.js';
import { makeKey } from '../../../dev/keys.js';
import { type Moto, startMoto, TEST_CREDENTIALS, TEST_REGION } from '../../../dev/moto.js';
import { clientsFor } from '../../../dev/publisher.js';
import { createClients } from '../../../lambda/clients.js';
import { mapLimit } from '../../../lambda/map-limit.js';
import { parseProgress, progressKey } from '../../../lambda/progress.js';
import { DEFAULT_PUBLISH_CONFIG, PublishIncomplete, publish } from '../../../lambda/publish.js';
import { bucketContents } from './fixture.js';

const BUCKET = 'resume-pages';
const USERS = 200;
let moto: Moto;
let proxy: AwsProxy;

beforeAll(async () => {
  moto = await startMoto();
  proxy = await startAwsProxy(moto.endpoint, {
    iamPageSize: 10,
    delay: (r) => (r.action === 'GetAccountAuthorizationDetails' ? 500 : undefined),
  });
  const direct = clientsFor(moto.endpoint);
  await direct.s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
  await mapLimit(
    Array.from({ length: USERS }, (_, i) => i),
    16,
    async (i) => {
      const name = `user${String(i).padStart(3, '0')}`;
      await direct.iam.send(new CreateUserCommand({ UserName: name }));
      if (i % 2 === 0)
        await direct.iam.send(
          new UploadSSHPublicKeyCommand({ UserName: name, SSHPublicKeyBody: makeKey('ed25519').openssh }),
        );
    },
  );
  process.env.AWS_ACCESS_KEY_ID = TEST_CREDENTIALS.accessKeyId;
  process.env.AWS_SECRET_ACCESS_KEY = TEST_CREDENTIALS.secretAccessKey;
  process.env.AWS_ENDPOINT_URL = proxy.endpoint;
}, 120_000);

afterAll(async () => {
  await proxy?.stop();
  await moto?.stop();
});

describe('GetAccountAuthorizationDetails longer than a run', () => {
  it('3 s runs over 200 users: every run progresses (pages kept with their Marker) until the series completes', async () => {
    const clients = createClients({ env: { AWS_ENDPOINT_URL: proxy.endpoint, AWS_REGION: TEST_REGION } });
    const perRun: { found: number; lists: number; bodies: number; marker?: string }[] = [];
    let prev = { found: 0, lists: 0, bodies: 0 };
    let published: number | undefined;
    for (let i = 0; i < 30 && published === undefined; i++) {
      const outcome = await publish(
        { ...DEFAULT_PUBLISH_CONFIG, bucket: BUCKET, prefix: '', deadline: Date.now() + 3000 },
        { ...clients, now: () => new Date() },
      );
      if (!(outcome instanceof PublishIncomplete)) published = outcome.summary.users;
      else {
        const saved = parseProgress(
          (await bucketContents(clientsFor(moto.endpoint).s3, BUCKET, '')).get(progressKey('')) ?? '',
        );
        const now = { found: saved.usersFound, lists: saved.usersRead, bodies: saved.keyBodiesFetched };
        perRun.push({
          found: now.found - prev.found,
          lists: now.lists - prev.lists,
          bodies: now.bodies - prev.bodies,
          ...(saved.accountDetails?.marker ? { marker: saved.accountDetails.marker } : {}),
        });
        prev = now;
        expect(outcome.advanced).toBe(true);
        expect(outcome.stop?.budgetTooSmall).toBeUndefined();
      }
    }
    expect(published).toBe(USERS);
    // The first runs end inside GetAccountAuthorizationDetails: each saves its pages and the next Marker.
    expect(perRun[0]).toMatchObject({ marker: expect.stringMatching(/^page-\d+$/) });
    expect(perRun[0]?.found).toBeGreaterThan(0);
    expect(perRun[0]?.found).toBeLessThan(USERS);
    // Every run read something new: users found in pages, key lists, or key bodies.
    for (const r of perRun) expect(r.found + r.lists + r.bodies).toBeGreaterThan(0);
    // No page was read twice: 20 pages of 10 over the whole series, plus at most the one each
    // run had in flight at its hard stop (aborted, so not done).
    expect(proxy.count('iam', 'GetAccountAuthorizationDetails')).toBeLessThanOrEqual(
      USERS / 10 + perRun.length,
    );
  }, 180_000);
});

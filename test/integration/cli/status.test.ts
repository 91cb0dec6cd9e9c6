// `iam-ssh-keys status` (the bundled CLI) against moto: what a real publish left in the
// bucket, a stale index, the first import in progress and a resumed run.
import { join } from 'node:path';
import { CreateUserCommand, UploadSSHPublicKeyCommand } from '@aws-sdk/client-iam';
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeKey } from '../../../dev/keys.js';
import { type Moto, startMoto, TEST_CREDENTIALS, TEST_REGION } from '../../../dev/moto.js';
import { clientsFor } from '../../../dev/publisher.js';
import { realRunner } from '../../../host-agent/admin/sys.js';
import { serializeProgress } from '../../../lambda/progress.js';

const CLI = join(process.cwd(), 'dist/iam-ssh-keys');
const BUCKET = 'st-keys';
const LONG = 'st-someone-with-a-very-long-user-name@example.com';
let moto: Moto;
let clients: ReturnType<typeof clientsFor>;
const rsa = makeKey('rsa', 2048);
const ed = makeKey('ed25519');

function cli(args: string[]) {
  return realRunner(CLI, args, {
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      AWS_ACCESS_KEY_ID: TEST_CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: TEST_CREDENTIALS.secretAccessKey,
      AWS_REGION: TEST_REGION,
      AWS_ENDPOINT_URL: moto.endpoint,
      AWS_EC2_METADATA_DISABLED: 'true',
    },
  });
}

async function put(key: string, body: string): Promise<void> {
  await clients.s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: body }));
}

/** A progress.json as the publisher writes it: usersRead key lists, one key body. */
function progress(usersRead: number): string {
  const now = new Date().toISOString();
  const users = Array.from({ length: usersRead }, (_, i) => [`u${i}`, { userId: `AIDAU${i}`, keys: [] }]);
  return serializeProgress({
    kind: 'iam-ssh-keys-progress',
    version: 1,
    startedAt: now,
    savedAt: now,
    runs: 1,
    firstImport: true,
    usersTotal: 4,
    usersRead,
    usersFound: 0,
    keyBodiesFetched: 1,
    keyBodiesMissing: 0,
    keyListsSince: now,
    keyLists: Object.fromEntries(users),
    keyBodies: { APKA1: 'ssh-ed25519 AAAA' },
  });
}

beforeAll(async () => {
  moto = await startMoto();
  clients = clientsFor(moto.endpoint);
  await clients.s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
  for (const u of ['st-alice', 'st-bob', 'st-carol', LONG])
    await clients.iam.send(new CreateUserCommand({ UserName: u }));
  const upload = (u: string, body: string) =>
    clients.iam.send(new UploadSSHPublicKeyCommand({ UserName: u, SSHPublicKeyBody: body }));
  await upload('st-alice', rsa.openssh);
  await upload('st-alice', ed.openssh);
  expect((await cli(['publish', '--bucket', BUCKET, '--prefix', 'p'])).code).toBe(0);
  await upload('st-bob', ed.openssh); // a copy of alice's key (published for her), registered later
  const pub = await cli(['publish', '--bucket', BUCKET, '--prefix', 'p']);
  expect(pub.code).toBe(0);
});

afterAll(async () => {
  await moto?.stop();
});

describe('iam-ssh-keys status', () => {
  it('after a publish: counts, copied key, users without keys, weak RSA, local-name problems', async () => {
    const r = await cli(['status', '--bucket', BUCKET, '--prefix', 'p']);
    expect(r).toMatchObject({ code: 0, stderr: '' });
    const lines = r.stdout.split('\n');
    expect(lines[0]).toMatch(/^last publish: \S+Z \(\d+ s ago\)$/);
    expect(lines).toContain('users: 4  groups: 0  keys: 2  rejected keys: 1  keys from tags: 0');
    expect(r.stdout).toMatch(
      new RegExp(
        `rejected key APKA\\w+ of st-bob \\(copied key ${ed.fingerprint.replace(/[+/]/g, '\\$&')}\\): .*st-alice`,
      ),
    );
    expect(lines).toContain(`users without keys (3): st-bob, st-carol, ${LONG}`);
    expect(r.stdout).toMatch(/^RSA key under 3072 bits: APKA\w+ of st-alice: 2048 bits \(SHA256:/m);
    expect(r.stdout).toMatch(new RegExp(`^no local name for ${LONG.replace('.', '\\.')}: `, 'm'));

    const json = await cli(['status', '--bucket', BUCKET, '--prefix', 'p', '--json']);
    expect(json.code).toBe(0);
    const v = JSON.parse(json.stdout);
    expect(v).toMatchObject({ state: 'ok', stale: false, users: 4, keys: 2, progress: null });
    expect(v.weakRsaKeys).toEqual([expect.objectContaining({ user: 'st-alice', bits: 2048 })]);
    expect(v.copiedKeyRefusals).toEqual([
      expect.objectContaining({ user: 'st-bob', fingerprint: ed.fingerprint }),
    ]);
  });

  it('exits 1 when the index is older than --max-age, 0 within it', async () => {
    const res = await clients.s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'p/index.json' }));
    const index = JSON.parse((await res.Body?.transformToString()) ?? '');
    index.generatedAt = new Date(Date.now() - 2 * 3600_000).toISOString();
    await put('s/index.json', JSON.stringify(index));
    const stale = await cli(['status', '--bucket', BUCKET, '--prefix', 's', '--max-age', '3600']);
    expect(stale.code).toBe(1);
    expect(stale.stdout.split('\n')[0]).toMatch(/\(2 h ago\) STALE: older than 1 h \(--max-age 3600\)$/);
    const json = await cli(['status', '--bucket', BUCKET, '--prefix', 's', '--max-age', '3600', '--json']);
    expect(json.code).toBe(1);
    expect(JSON.parse(json.stdout)).toMatchObject({ state: 'stale', stale: true, maxAgeSeconds: 3600 });
    expect((await cli(['status', '--bucket', BUCKET, '--prefix', 's', '--max-age', '86400'])).code).toBe(0);
  });

  it('no index.json but progress.json: first import in progress, exit 3', async () => {
    await put('first/publisher/progress.json', progress(2));
    const r = await cli(['status', '--bucket', BUCKET, '--prefix', 'first']);
    expect(r.code).toBe(3);
    expect(r.stdout).toMatch(
      new RegExp(
        `^no s3://${BUCKET}/first/index\\.json yet: first import in progress \\(started \\S+, 2/4 users read, 1 key bodies fetched, progress saved \\d+ s ago\\)\\n`,
      ),
    );
    const json = await cli(['status', '--bucket', BUCKET, '--prefix', 'first', '--json']);
    expect(json.code).toBe(3);
    expect(JSON.parse(json.stdout)).toMatchObject({
      state: 'first-import-in-progress',
      progress: { usersRead: 2 },
    });
  });

  it('a progress.json of another kind is ignored: nothing published yet, exit 1', async () => {
    await put('odd/publisher/progress.json', '{"kind":"something-else","version":1}');
    const r = await cli(['status', '--bucket', BUCKET, '--prefix', 'odd']);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      `iam-ssh-keys: s3://${BUCKET}/odd/index.json does not exist: nothing was published yet\n`,
    );
  });

  it('index.json and progress.json: a resumed run is in progress', async () => {
    await put('p/publisher/progress.json', progress(3));
    const r = await cli(['status', '--bucket', BUCKET, '--prefix', 'p']);
    expect(r.code).toBe(0);
    expect(r.stdout.split('\n')[1]).toMatch(
      /^a resumed publisher run is in progress: started \S+, 3\/4 users read/,
    );
  });
});

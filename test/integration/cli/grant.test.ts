// `iam-ssh-keys grant`, `grant --revoke` and `grants` (the bundled CLI) against moto: the user
// tag IAM holds, what is refused before any IAM call, and the grants a publish recorded.
import { join } from 'node:path';
import {
  CreateGroupCommand,
  CreateUserCommand,
  ListUserTagsCommand,
  TagUserCommand,
} from '@aws-sdk/client-iam';
import { CreateBucketCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { IndexGrant } from '../../../contract/index.js';
import { type AwsProxy, startAwsProxy } from '../../../dev/aws-proxy.js';
import { type Moto, startMoto, TEST_CREDENTIALS, TEST_REGION } from '../../../dev/moto.js';
import { clientsFor } from '../../../dev/publisher.js';
import { realRunner } from '../../../host-agent/admin/sys.js';
import { fakeUserId, indexJson } from '../../helpers/index-fixture.js';

const CLI = join(process.cwd(), 'dist/iam-ssh-keys');
const BUCKET = 'grant-keys';
let moto: Moto;
let proxy: AwsProxy;
let clients: ReturnType<typeof clientsFor>;

function cli(args: string[], env: Record<string, string> = {}) {
  return realRunner(CLI, args, {
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      AWS_ACCESS_KEY_ID: TEST_CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: TEST_CREDENTIALS.secretAccessKey,
      AWS_REGION: TEST_REGION,
      AWS_ENDPOINT_URL: proxy.endpoint,
      AWS_EC2_METADATA_DISABLED: 'true',
      ...env,
    },
  });
}

async function tags(user: string): Promise<Record<string, string>> {
  const res = await clients.iam.send(new ListUserTagsCommand({ UserName: user }));
  return Object.fromEntries((res.Tags ?? []).map((t) => [t.Key, t.Value]));
}

const seconds = (iso: string) => Math.floor(Date.parse(iso) / 1000);

beforeAll(async () => {
  moto = await startMoto();
  proxy = await startAwsProxy(moto.endpoint);
  clients = clientsFor(moto.endpoint);
  await clients.s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
  await clients.iam.send(new CreateGroupCommand({ GroupName: 'Administrators' }));
  for (const u of ['alice', 'bob']) await clients.iam.send(new CreateUserCommand({ UserName: u }));
  await clients.iam.send(
    new TagUserCommand({ UserName: 'alice', Tags: [{ Key: 'ssh-key:laptop', Value: 'ssh-ed25519 AAAA' }] }),
  );
});

afterAll(async () => {
  await proxy?.stop();
  await moto?.stop();
});

describe('iam-ssh-keys grant', () => {
  it('--for 4h tags the user ssh-grant:<group> = the end in UTC, and says how it is published', async () => {
    const before = Math.floor(Date.now() / 1000);
    const r = await cli(['grant', '--user', 'alice', '--group', 'Administrators', '--for', '4h']);
    const after = Math.floor(Date.now() / 1000);
    expect([r.code, r.stderr]).toEqual([0, '']);
    const t = await tags('alice');
    const until = t['ssh-grant:Administrators'] as string;
    expect(until).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    expect(seconds(until)).toBeGreaterThanOrEqual(before + 4 * 3600);
    expect(seconds(until)).toBeLessThanOrEqual(after + 4 * 3600);
    // The key tag beside it is untouched.
    expect(t['ssh-key:laptop']).toBe('ssh-ed25519 AAAA');
    expect(r.stdout.split('\n')).toEqual([
      `granted: alice may log in as a member of Administrators until ${until} (4 h; tag ssh-grant:Administrators)`,
      expect.stringMatching(
        /^published by the targeted run its IAM event starts when the stack is event-driven .*else by the next scheduled run/,
      ),
      '',
    ]);
  });

  it('a second grant replaces the first (one tag per user and group)', async () => {
    const r = await cli(['grant', '--user', 'alice', '--group', 'Administrators', '--for', '90m']);
    expect(r.code).toBe(0);
    const t = await tags('alice');
    expect(Object.keys(t).filter((k) => k.startsWith('ssh-grant:'))).toEqual(['ssh-grant:Administrators']);
    expect(r.stdout).toContain(`until ${t['ssh-grant:Administrators']} (1 h 30 min;`);
  });

  it('the grant tag prefix: --grant-tag-prefix, else $GRANT_TAG_PREFIX', async () => {
    expect(
      (
        await cli(['grant', '--user', 'bob', '--group', 'Administrators', '--for', '1h'], {
          GRANT_TAG_PREFIX: 'corp/grant:',
        })
      ).code,
    ).toBe(0);
    expect(
      (
        await cli([
          'grant',
          '--user',
          'bob',
          '--group',
          'Administrators',
          '--for',
          '1h',
          '--grant-tag-prefix',
          'ops/grant:',
        ])
      ).code,
    ).toBe(0);
    expect(Object.keys(await tags('bob')).sort()).toEqual([
      'corp/grant:Administrators',
      'ops/grant:Administrators',
    ]);
  });

  it.each([
    [
      ['--for', '13h'],
      {},
      /^iam-ssh-keys: refusing --for 13h \(13 h\): longer than the maximum grant of 12 h/,
    ],
    [['--for', '5h', '--max-grant-hours', '4'], {}, /longer than the maximum grant of 4 h/],
    [['--for', '4 hours'], {}, /--for "4 hours": expected a duration such as 90m, 4h or 1h30m/],
    // A grant prefix under the key prefix would let self-service members grant themselves.
    [['--for', '1h', '--grant-tag-prefix', 'SSH-KEY:grant:'], {}, /overlaps the key tag prefix/],
    [['--for', '1h'], { GRANT_TAG_PREFIX: 'grant*:' }, /invalid tag key prefix/],
  ])('refuses %j %j with exit 2 and calls no IAM', async (more, env, message) => {
    proxy.clear();
    const r = await cli(['grant', '--user', 'alice', '--group', 'Administrators', ...more], env);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(r.stdout).toBe('');
    expect(proxy.count('iam')).toBe(0);
  });

  it.each([
    [['--user', 'nobody', '--group', 'Administrators'], 'iam-ssh-keys: no IAM user "nobody"\n'],
    [['--user', 'alice', '--group', 'Nobody'], 'iam-ssh-keys: no IAM group "Nobody"\n'],
  ])('%j: exit 1, one line, no tag written', async (who, line) => {
    proxy.clear();
    const r = await cli(['grant', ...who, '--for', '1h']);
    expect([r.code, r.stderr, r.stdout]).toEqual([1, line, '']);
    expect(Object.keys(await tags('alice')).filter((k) => k.includes('Nobody'))).toEqual([]);
  });

  it('--revoke removes the tag (and only it); revoking again is not an error', async () => {
    const r = await cli(['grant', '--revoke', '--user', 'alice', '--group', 'Administrators']);
    expect([r.code, r.stderr]).toEqual([0, '']);
    expect(r.stdout).toMatch(/^revoked: removed the tag ssh-grant:Administrators from alice/);
    expect(await tags('alice')).toEqual({ 'ssh-key:laptop': 'ssh-ed25519 AAAA' });
    expect((await cli(['grant', '--revoke', '--user', 'alice', '--group', 'Administrators'])).code).toBe(0);
  });

  it('--revoke of a grant whose group was deleted: by the name given', async () => {
    await clients.iam.send(
      new TagUserCommand({
        UserName: 'alice',
        Tags: [{ Key: 'ssh-grant:Gone', Value: '2026-01-01T00:00:00Z' }],
      }),
    );
    const r = await cli(['grant', '--revoke', '--user', 'alice', '--group', 'Gone']);
    expect(r.code).toBe(0);
    expect(Object.keys(await tags('alice'))).toEqual(['ssh-key:laptop']);
  });
});

describe('iam-ssh-keys grants', () => {
  const soon = `${new Date(Date.now() + 2 * 3600_000).toISOString().slice(0, 19)}Z`;
  const grants: IndexGrant[] = [
    {
      iamUser: 'alice',
      iamUserId: fakeUserId('alice'),
      group: 'Administrators',
      until: soon,
      status: 'active',
      tagKey: 'ssh-grant:Administrators',
      value: soon,
      since: new Date().toISOString(),
    },
    {
      iamUser: 'bob',
      iamUserId: fakeUserId('bob'),
      group: 'Administrators',
      until: '2099-01-01T00:00:00Z',
      status: 'refused',
      reason: 'longer than the maximum grant of 12 h',
      tagKey: 'ssh-grant:Administrators',
      value: '2099-01-01T00:00:00Z',
      since: new Date().toISOString(),
    },
  ];

  it('without index.json: exit 1, nothing published yet', async () => {
    const r = await cli(['grants', '--bucket', BUCKET]);
    expect([r.code, r.stderr]).toEqual([
      1,
      `iam-ssh-keys: s3://${BUCKET}/index.json does not exist: nothing was published yet\n`,
    ]);
  });

  it('lists active grants (who, group, until when) and refused ones with the reason; --json too', async () => {
    const generatedAt = new Date().toISOString();
    const index = JSON.parse(indexJson({ alice: {}, bob: {} }, generatedAt)) as Record<string, unknown>;
    await clients.s3.send(
      new PutObjectCommand({
        Bucket: BUCKET,
        Key: 'p/index.json',
        Body: JSON.stringify({ ...index, grants }),
      }),
    );
    const r = await cli(['grants', '--bucket', BUCKET, '--prefix', 'p']);
    expect([r.code, r.stderr]).toEqual([0, '']);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines[0]).toBe(`grants as of the last publish, ${generatedAt}:`);
    expect(lines[1]).toMatch(
      new RegExp(`^active   alice  Administrators  until ${soon} \\((?:1 h 5\\d min|2 h) left\\)$`),
    );
    expect(lines[2]).toBe(
      'refused  bob  Administrators  until 2099-01-01T00:00:00Z: longer than the maximum grant of 12 h',
    );
    const json = await cli(['grants', '--bucket', BUCKET, '--prefix', 'p', '--json']);
    expect(JSON.parse(json.stdout)).toEqual({
      generatedAt,
      grants: [
        {
          iamUser: 'alice',
          iamUserId: fakeUserId('alice'),
          group: 'Administrators',
          until: soon,
          status: 'active',
        },
        {
          iamUser: 'bob',
          iamUserId: fakeUserId('bob'),
          group: 'Administrators',
          until: '2099-01-01T00:00:00Z',
          status: 'refused',
          reason: 'longer than the maximum grant of 12 h',
        },
      ],
    });
  });
});

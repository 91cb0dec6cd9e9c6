// The bundled operator CLI (dist/iam-ssh-keys) against moto: what an operator types.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  AddUserToGroupCommand,
  CreateGroupCommand,
  CreateUserCommand,
  ListUserTagsCommand,
  TagUserCommand,
} from '@aws-sdk/client-iam';
import { CreateBucketCommand, GetObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AwsProxy, startAwsProxy } from '../../../dev/aws-proxy.js';
import { makeKey, makeSkKey } from '../../../dev/keys.js';
import { type Moto, startMoto, TEST_CREDENTIALS, TEST_REGION } from '../../../dev/moto.js';
import { clientsFor } from '../../../dev/publisher.js';
import { realRunner } from '../../../host-agent/admin/sys.js';

const CLI = join(process.cwd(), 'dist/iam-ssh-keys');
let moto: Moto;
let proxy: AwsProxy;
let dir: string;

// Async on purpose: the recording proxy runs in this process, so a blocking spawn would deadlock.
function cli(args: string[], env: Record<string, string> = {}, endpoint = moto.endpoint) {
  return realRunner(CLI, args, {
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      AWS_ACCESS_KEY_ID: TEST_CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: TEST_CREDENTIALS.secretAccessKey,
      AWS_REGION: TEST_REGION,
      AWS_ENDPOINT_URL: endpoint,
      AWS_EC2_METADATA_DISABLED: 'true',
      ...env,
    },
  });
}

beforeAll(async () => {
  moto = await startMoto();
  proxy = await startAwsProxy(moto.endpoint);
  dir = mkdtempSync(join(tmpdir(), 'iam-ssh-keys-cli-'));
  const { iam, s3 } = clientsFor(moto.endpoint);
  await s3.send(new CreateBucketCommand({ Bucket: 'keys' }));
  await iam.send(new CreateGroupCommand({ GroupName: 'admins' }));
  for (const u of ['alice', 'bob+ops@example.com']) {
    await iam.send(new CreateUserCommand({ UserName: u }));
    await iam.send(new AddUserToGroupCommand({ GroupName: 'admins', UserName: u }));
  }
});

afterAll(async () => {
  await proxy?.stop();
  await moto?.stop();
});

describe('iam-ssh-keys', () => {
  it("keys upload validates, sends an ssh-rsa key to IAM's key store, and keys list shows it", async () => {
    const key = makeKey('rsa');
    writeFileSync(join(dir, 'alice.pub'), `${key.openssh} alice@laptop\n`);
    const up = await cli(['keys', 'upload', '--user', 'alice', join(dir, 'alice.pub')]);
    expect(up.stderr).toBe('');
    expect(up.stdout).toMatch(
      new RegExp(`uploaded APKA\\w+ \\(${key.fingerprint.replace(/[+/]/g, '\\$&')}\\) for alice`),
    );
    const list = await cli(['keys', 'list', '--user', 'alice']);
    expect(list.stdout).toMatch(/^APKA\w+\tActive\t/m);
  });

  it('keys upload refuses a key our hosts would not serve, before calling IAM', async () => {
    writeFileSync(join(dir, 'dsa.pub'), 'ssh-dss AAAAB3NzaC1kc3MAAACBAP8 old\n');
    proxy.clear();
    const r = await cli(['keys', 'upload', '--user', 'alice', join(dir, 'dsa.pub')], {}, proxy.endpoint);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^iam-ssh-keys: .*dsa\.pub: unsupported key type "ssh-dss"\n$/);
    expect(proxy.count('iam', 'UploadSSHPublicKey')).toBe(0);
  });

  it('publish --dry-run prints the plan and writes nothing; publish writes; status reads the heartbeat', async () => {
    const dry = await cli(['publish', '--bucket', 'keys', '--prefix', 'p', '--dry-run']);
    expect(dry.code).toBe(0);
    expect(dry.stdout).toContain('would add    p/users/alice/authorized_keys');
    expect(dry.stdout).toMatch(/dry run: nothing written\. users 2, groups 1, keys 1/);
    expect((await cli(['status', '--bucket', 'keys', '--prefix', 'p'])).stderr).toMatch(
      /index\.json does not exist/,
    );

    const real = await cli(['publish', '--bucket', 'keys', '--prefix', 'p']);
    expect(real.code).toBe(0);
    expect(real.stdout).toContain('add    p/groups/admins/authorized_keys');
    expect(real.stdout).toMatch(
      /added 3, changed 0, deleted 0, unchanged 0, directory\.json, index\.json and heartbeat\.json written/,
    );
    const again = await cli(['publish', '--bucket', 'keys', '--prefix', 'p']);
    expect(again.stdout).toMatch(
      /added 0, changed 0, deleted 0, unchanged 3, index\.json and heartbeat\.json written/,
    );

    const status = await cli(['status', '--bucket', 'keys', '--prefix', 'p', '--json']);
    expect(status.code).toBe(0);
    expect(JSON.parse(status.stdout)).toMatchObject({ users: 2, groups: 1, keys: 1, stale: false });
  });

  it('keys upload sends other key types to a user tag; list shows both stores; delete works for both', async () => {
    const ed = makeKey('ed25519');
    const sk = makeSkKey('ed25519');
    const other = makeKey('ecdsa');
    const rsa = makeKey('rsa');
    const file = (name: string, text: string) => {
      writeFileSync(join(dir, name), text);
      return join(dir, name);
    };
    const bob = ['--user', 'bob+ops@example.com'];
    const fp = (f: string) => f.replace(/[+/]/g, '\\$&');

    const up = await cli(['keys', 'upload', ...bob, file('ed.pub', `${ed.openssh} bob@laptop (home)\n`)]);
    expect(up.stderr).toBe('');
    expect(up.stdout).toBe(
      `uploaded tag:ssh-key:bob@laptop-home (${ed.fingerprint}) for bob+ops@example.com\n`,
    );
    const again = await cli(['keys', 'upload', ...bob, join(dir, 'ed.pub')]);
    expect(again.stdout).toMatch(/^already uploaded as tag:ssh-key:bob@laptop-home /);

    const skUp = await cli([
      'keys',
      'upload',
      ...bob,
      '--label',
      'yubikey',
      file('sk.pub', `${sk.openssh}\n`),
    ]);
    expect(skUp.stdout).toMatch(new RegExp(`^uploaded tag:ssh-key:yubikey \\(${fp(sk.fingerprint)}\\)`));
    const clash = await cli(['keys', 'upload', ...bob, '--label', 'yubikey', file('ec.pub', other.openssh)]);
    expect(clash.code).toBe(1);
    expect(clash.stderr).toMatch(/tag:ssh-key:yubikey already holds another key of bob\+ops@example\.com/);
    const rsaLabel = await cli(['keys', 'upload', ...bob, '--label', 'x', file('rsa.pub', rsa.openssh)]);
    expect(rsaLabel.stderr).toMatch(/ssh-rsa keys go to IAM's SSH key store/);
    const rsaUp = await cli(['keys', 'upload', ...bob, join(dir, 'rsa.pub')]);
    const rsaId = /uploaded (APKA\w+)/.exec(rsaUp.stdout)?.[1] as string;
    expect(rsaId).toBeDefined();

    const { iam } = clientsFor(moto.endpoint);
    await iam.send(
      new TagUserCommand({ UserName: 'bob+ops@example.com', Tags: [{ Key: 'team', Value: 'ops' }] }),
    );
    const list = await cli(['keys', 'list', ...bob]);
    expect(list.stdout.split('\n').filter(Boolean)).toEqual([
      expect.stringMatching(new RegExp(`^${rsaId}\tActive\t`)),
      `tag:ssh-key:bob@laptop-home\tTag\tssh-ed25519\t${ed.fingerprint}`,
      `tag:ssh-key:yubikey\tTag\tsk-ssh-ed25519@openssh.com\t${sk.fingerprint}`,
    ]);

    const pub = await cli(['publish', '--bucket', 'keys', '--prefix', 'tg']);
    expect(pub.code).toBe(0);
    const { s3 } = clientsFor(moto.endpoint);
    const obj = await s3.send(
      new GetObjectCommand({ Bucket: 'keys', Key: 'tg/users/bob+ops@example.com/authorized_keys' }),
    );
    const owner = 'bob+ops@example.com';
    expect(await obj.Body?.transformToString()).toBe(
      [rsa, ed, sk]
        .map((k) => `environment="SSH_KEY_OWNER=${owner}" ${k.type} ${k.blob} ${owner}\n`)
        .join(''),
    );

    const noStatus = await cli(['keys', 'deactivate', ...bob, 'tag:ssh-key:yubikey']);
    expect(noStatus.stderr).toMatch(/kept in a tag, which has no Active\/Inactive status/);
    const notKey = await cli(['keys', 'delete', ...bob, 'tag:team']);
    expect(notKey.stderr).toMatch(/tag:team is not a key tag/);
    const missing = await cli(['keys', 'delete', ...bob, 'tag:ssh-key:nope']);
    expect(missing.stderr).toMatch(/has no tag ssh-key:nope/);
    expect((await cli(['keys', 'delete', ...bob, 'tag:ssh-key:yubikey'])).stdout).toBe(
      `deleted tag:ssh-key:yubikey of ${owner}\n`,
    );
    expect((await cli(['keys', 'delete', ...bob, 'ssh-key:bob@laptop-home'])).code).toBe(0);
    expect((await cli(['keys', 'delete', ...bob, rsaId])).code).toBe(0);
    expect((await cli(['keys', 'list', ...bob])).stdout).toBe(`${owner} has no SSH public keys\n`);
    const tags = await iam.send(new ListUserTagsCommand({ UserName: owner }));
    expect(tags.Tags).toEqual([{ Key: 'team', Value: 'ops' }]);
  });

  it('keys upload refuses a non-RSA key too long for a tag value, before calling IAM', async () => {
    const long = makeSkKey('ecdsa', `ssh:${'x'.repeat(60)}`);
    writeFileSync(join(dir, 'long.pub'), long.openssh);
    proxy.clear();
    const r = await cli(['keys', 'upload', '--user', 'alice', join(dir, 'long.pub')], {}, proxy.endpoint);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      new RegExp(
        `is ${long.openssh.length} characters, more than an IAM tag value holds \\(256\\); IAM's SSH key store takes ssh-rsa keys only`,
      ),
    );
    expect(proxy.count('iam', 'TagUser')).toBe(0);
  });

  it('keys take the tag key prefix from TAG_KEY_PREFIX, and refuse an invalid one', async () => {
    const ed = makeKey('ed25519');
    writeFileSync(join(dir, 'p.pub'), `${ed.openssh} desk`);
    const up = await cli(['keys', 'upload', '--user', 'alice', join(dir, 'p.pub')], {
      TAG_KEY_PREFIX: 'corp/ssh:',
    });
    expect(up.stdout).toMatch(/^uploaded tag:corp\/ssh:desk /);
    const bad = await cli(['keys', 'list', '--user', 'alice', '--tag-key-prefix', 'ssh-*']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/invalid tag key prefix/);
    expect(
      (await cli(['keys', 'delete', '--user', 'alice', 'tag:corp/ssh:desk'], { TAG_KEY_PREFIX: 'corp/ssh:' }))
        .code,
    ).toBe(0);
  });

  it.each([
    [
      'a missing bucket',
      ['publish', '--bucket', 'no-such-bucket'],
      {},
      /^iam-ssh-keys: S3 .* failed: bucket no-such-bucket does not exist\n$/,
      1,
    ],
    [
      'no credentials',
      ['publish', '--bucket', 'keys'],
      {
        AWS_ACCESS_KEY_ID: '',
        AWS_SECRET_ACCESS_KEY: '',
        AWS_SHARED_CREDENTIALS_FILE: '/nonexistent',
        AWS_CONFIG_FILE: '/nonexistent',
      },
      /^iam-ssh-keys: .*no AWS credentials found/,
      1,
    ],
    [
      'a usage error',
      ['publish'],
      {},
      /^iam-ssh-keys: publish needs --bucket NAME\nrun "iam-ssh-keys help" for usage\n$/,
      2,
    ],
    [
      'a bad prefix',
      ['publish', '--bucket', 'keys', '--prefix', '../x'],
      {},
      /^iam-ssh-keys: invalid key prefix/,
      2,
    ],
  ])('prints one clear line for %s', async (_n, args, env, message, code) => {
    const r = await cli(args, env as Record<string, string>);
    expect(r.code).toBe(code);
    expect(r.stderr).toMatch(message);
    expect(r.stdout).toBe('');
  });

  it('reports access denied in one line', async () => {
    proxy.options = {
      fault: (r) =>
        r.service === 's3'
          ? {
              status: 403,
              headers: { 'content-type': 'application/xml' },
              body: '<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>',
            }
          : undefined,
    };
    try {
      const r = await cli(['publish', '--bucket', 'keys'], {}, proxy.endpoint);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/^iam-ssh-keys: S3 .* failed: access denied to bucket keys\n$/);
    } finally {
      proxy.options = {};
    }
  });
});

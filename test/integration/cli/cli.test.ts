// The bundled operator CLI (dist/iam-ssh-keys) against moto: what an operator types.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AddUserToGroupCommand, CreateGroupCommand, CreateUserCommand } from '@aws-sdk/client-iam';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { realRunner } from '../../../host-agent/admin/sys.js';
import { type AwsProxy, startAwsProxy } from '../../helpers/aws-proxy.js';
import { makeKey } from '../../helpers/keys.js';
import { type Moto, startMoto, TEST_CREDENTIALS, TEST_REGION } from '../../helpers/moto.js';
import { clientsFor } from '../lambda/fixture.js';

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
  it('keys upload validates, uploads, and keys list shows it', async () => {
    const key = makeKey('ed25519');
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
    expect(real.stdout).toMatch(/added 3, changed 0, deleted 0, unchanged 0, index\.json written/);
    const again = await cli(['publish', '--bucket', 'keys', '--prefix', 'p']);
    expect(again.stdout).toMatch(/added 0, changed 0, deleted 0, unchanged 3, index\.json written/);

    const status = await cli(['status', '--bucket', 'keys', '--prefix', 'p', '--json']);
    expect(status.code).toBe(0);
    expect(JSON.parse(status.stdout)).toMatchObject({ users: 2, groups: 1, keys: 1, stale: false });
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

// `iam-ssh-keys publish --time-budget SECONDS` (the bundled CLI) against moto behind a proxy that
// holds every IAM request 1 s: out of time it saves progress, prints one line and exits 3; with a
// budget too small for any progress it says by how much and exits 4.

import { join } from 'node:path';
import { CreateUserCommand, UploadSSHPublicKeyCommand } from '@aws-sdk/client-iam';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AwsProxy, iamError, startAwsProxy } from '../../../dev/aws-proxy.js';
import { makeKey } from '../../../dev/keys.js';
import { type Moto, startMoto, TEST_CREDENTIALS, TEST_REGION } from '../../../dev/moto.js';
import { clientsFor } from '../../../dev/publisher.js';
import { realRunner } from '../../../host-agent/admin/sys.js';
import { parseProgress, progressKey } from '../../../lambda/progress.js';
import { bucketContents } from '../lambda/fixture.js';

const CLI = join(process.cwd(), 'dist/iam-ssh-keys');
let moto: Moto;
let proxy: AwsProxy;
let slow = true;

function cli(args: string[]) {
  return realRunner(CLI, args, {
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      AWS_ACCESS_KEY_ID: TEST_CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: TEST_CREDENTIALS.secretAccessKey,
      AWS_REGION: TEST_REGION,
      AWS_ENDPOINT_URL: proxy.endpoint,
      AWS_EC2_METADATA_DISABLED: 'true',
    },
  });
}

beforeAll(async () => {
  moto = await startMoto();
  proxy = await startAwsProxy(moto.endpoint, {
    delay: (r) => (slow && r.service === 'iam' ? 1000 : undefined),
  });
  const { iam, s3 } = clientsFor(moto.endpoint);
  await s3.send(new CreateBucketCommand({ Bucket: 'budget' }));
  for (const u of ['scale-ann', 'scale-ben']) {
    await iam.send(new CreateUserCommand({ UserName: u }));
    await iam.send(
      new UploadSSHPublicKeyCommand({ UserName: u, SSHPublicKeyBody: makeKey('ed25519').openssh }),
    );
  }
});

afterAll(async () => {
  await proxy?.stop();
  await moto?.stop();
});

describe('iam-ssh-keys publish --time-budget', () => {
  it('out of time: one line, exit 3, progress saved and nothing published; then a run completes', async () => {
    const r = await cli(['publish', '--bucket', 'budget', '--time-budget', '2']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(3);
    expect(r.stdout).toMatch(
      /^first import in progress: \d+ of \d+ users read, \d+ key bodies fetched.*; run again to continue\n$/,
    );
    const { s3 } = clientsFor(moto.endpoint);
    const saved = await bucketContents(s3, 'budget');
    expect([...saved.keys()]).toEqual([progressKey('')]);
    expect(parseProgress(saved.get(progressKey('')) ?? '').runs).toBe(1);

    // status reads the progress the publisher saved: first import in progress, not "nothing published".
    const st = await cli(['status', '--bucket', 'budget']);
    expect(st.code).toBe(3);
    expect(st.stdout).toMatch(/first import in progress \(started \S+Z, \d+(\/\d+)? users read/);

    slow = false;
    const done = await cli(['publish', '--bucket', 'budget', '--time-budget', '600']);
    expect(done.code).toBe(0);
    expect(done.stdout).toMatch(/users 2, groups 0, keys 2/);
    const after = await bucketContents(s3, 'budget');
    expect(after.has(progressKey(''))).toBe(false);
    const ok = await cli(['status', '--bucket', 'budget']);
    expect(ok.code).toBe(0);
    expect(ok.stdout).not.toMatch(/in progress/);
    expect(after.get('users/scale-ann/authorized_keys')).toMatch(
      /^environment="SSH_KEY_OWNER=scale-ann" ssh-ed25519 /,
    );
  });

  it('--json: {complete: false, progress} and exit 3', async () => {
    slow = true;
    const r = await cli(['publish', '--bucket', 'budget', '--prefix', 'j', '--time-budget', '2', '--json']);
    expect(r.code).toBe(3);
    expect(JSON.parse(r.stdout)).toMatchObject({
      complete: false,
      progress: { firstImport: true, runs: 1 },
      stop: { saved: true, phase: expect.any(String) },
    });
  });

  it('IAM throttling every call: every call waits past the stop, yet the process ends with exit 4, not a silent exit 0', async () => {
    slow = false;
    proxy.options = {
      ...proxy.options,
      fault: (r) => (r.service === 'iam' ? iamError('Throttling', 'Rate exceeded') : undefined),
    };
    try {
      const r = await cli(['publish', '--bucket', 'budget', '--prefix', 'th', '--time-budget', '2']);
      expect(r.stderr).toMatch(/^time budget too small for any progress: .*short by at least/);
      expect(r.code).toBe(4);
    } finally {
      const { fault: _, ...rest } = proxy.options;
      proxy.options = rest;
    }
  });

  it('a budget too small for any progress: the shortfall on stderr, exit 4', async () => {
    slow = true;
    // 1 s: IAM calls get 0.875 s before the hard stop, and each takes 1 s here.
    const r = await cli(['publish', '--bucket', 'budget', '--prefix', 't', '--time-budget', '1']);
    expect(r.code).toBe(4);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(
      /^time budget too small for any progress: of [\d.]+ s, .*no IAM call completed; /,
    );
  });
});

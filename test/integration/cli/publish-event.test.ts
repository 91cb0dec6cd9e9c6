// `iam-ssh-keys publish --event FILE` (the bundled CLI) against moto: a saved
// EventBridge event applied the way the Lambda applies it.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  AddUserToGroupCommand,
  CreateGroupCommand,
  CreateUserCommand,
  UpdateSSHPublicKeyCommand,
  UploadSSHPublicKeyCommand,
} from '@aws-sdk/client-iam';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cloudTrailEvent } from '../../../dev/cloudtrail.js';
import { makeKey } from '../../../dev/keys.js';
import { type Moto, startMoto, TEST_CREDENTIALS, TEST_REGION } from '../../../dev/moto.js';
import { clientsFor } from '../../../dev/publisher.js';
import { realRunner } from '../../../host-agent/admin/sys.js';
import { bucketContents } from '../lambda/fixture.js';

const CLI = join(process.cwd(), 'dist/iam-ssh-keys');
let moto: Moto;
let dir: string;
let keyId: string;

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

function saved(name: string, event: unknown): string {
  const file = join(dir, name);
  writeFileSync(file, `${JSON.stringify(event, null, 2)}\n`);
  return file;
}

beforeAll(async () => {
  moto = await startMoto();
  dir = mkdtempSync(join(tmpdir(), 'ev-cli-'));
  const { iam, s3 } = clientsFor(moto.endpoint);
  await s3.send(new CreateBucketCommand({ Bucket: 'keys' }));
  await iam.send(new CreateGroupCommand({ GroupName: 'admins' }));
  for (const u of ['ev-alice', 'ev-bob']) {
    await iam.send(new CreateUserCommand({ UserName: u }));
    await iam.send(new AddUserToGroupCommand({ GroupName: 'admins', UserName: u }));
  }
  const r = await iam.send(
    new UploadSSHPublicKeyCommand({ UserName: 'ev-alice', SSHPublicKeyBody: makeKey().openssh }),
  );
  keyId = r.SSHPublicKey?.SSHPublicKeyId as string;
});

afterAll(async () => {
  await moto?.stop();
});

describe('iam-ssh-keys publish --event', () => {
  it('re-reads only the user the event names and prints what it touched', async () => {
    expect((await cli(['publish', '--bucket', 'keys'])).code).toBe(0);
    const { iam, s3 } = clientsFor(moto.endpoint);
    await iam.send(
      new UpdateSSHPublicKeyCommand({ UserName: 'ev-alice', SSHPublicKeyId: keyId, Status: 'Inactive' }),
    );
    const file = saved(
      'update.json',
      cloudTrailEvent('UpdateSSHPublicKey', {
        userName: 'ev-alice',
        sSHPublicKeyId: keyId,
        status: 'Inactive',
      }),
    );
    const r = await cli(['publish', '--bucket', 'keys', '--event', file]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines[0]).toBe('targeted run: re-read IAM users [ev-alice] groups []');
    expect(lines).toContain('change users/ev-alice/authorized_keys');
    expect(lines).toContain('change groups/admins/authorized_keys');
    expect(r.stdout).toMatch(/IAM calls: GetUser=1 ListGroupsForUser=1 ListSSHPublicKeys=1;/);
    const contents = await bucketContents(s3, 'keys');
    expect(contents.get('users/ev-alice/authorized_keys')).toBe('');
    expect(contents.get('groups/admins/authorized_keys')).toBe('');
  });

  it('an event it cannot target runs in full and says why; a failed call does nothing', async () => {
    const policy = saved(
      'policy.json',
      cloudTrailEvent('AttachUserPolicy', {
        userName: 'ev-bob',
        policyArn: 'arn:aws:iam::aws:policy/ReadOnlyAccess',
      }),
    );
    const r = await cli(['publish', '--bucket', 'keys', '--event', policy]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^full run: event AttachUserPolicy is not handled in a targeted way\n/);
    expect(r.stdout).toMatch(/IAM calls: GetAccountAuthorizationDetails=1 ListSSHPublicKeys=2;/);

    const failed = saved(
      'failed.json',
      cloudTrailEvent('DeleteUser', { userName: 'ev-bob' }, { errorCode: 'DeleteConflictException' }),
    );
    const n = await cli(['publish', '--bucket', 'keys', '--event', failed]);
    expect(n.stdout).toBe('nothing to do: DeleteUser failed (DeleteConflictException)\n');
  });

  it('a file that is not JSON: one clear line and a non-zero exit', async () => {
    const file = join(dir, 'broken.json');
    writeFileSync(file, '{"detail-type":');
    const r = await cli(['publish', '--bucket', 'keys', '--event', file]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^iam-ssh-keys: .*broken\.json: not a JSON event/);
    expect(r.stdout).toBe('');
  });
});

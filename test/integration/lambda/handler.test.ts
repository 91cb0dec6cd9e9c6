// The Lambda handler, wired as in AWS (environment configuration, Powertools
// logs and EMF metrics on stdout), against moto.
import { DeleteSSHPublicKeyCommand, UploadSSHPublicKeyCommand } from '@aws-sdk/client-iam';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { cloudTrailEvent } from '../../../dev/cloudtrail.js';
import { type Moto, startMoto, TEST_CREDENTIALS, TEST_REGION } from '../../../dev/moto.js';
import { clientsFor } from '../../../dev/publisher.js';
import { sqsRecord } from '../../helpers/sqs.js';
import { buildFixture, type Fixture } from './fixture.js';

let moto: Moto;
let fixture: Fixture;

beforeAll(async () => {
  moto = await startMoto();
  const { iam, s3 } = clientsFor(moto.endpoint);
  await s3.send(new CreateBucketCommand({ Bucket: 'lambda-keys' }));
  fixture = await buildFixture(iam);
  vi.stubEnv('AWS_ENDPOINT_URL', moto.endpoint);
  vi.stubEnv('AWS_ACCESS_KEY_ID', TEST_CREDENTIALS.accessKeyId);
  vi.stubEnv('AWS_SECRET_ACCESS_KEY', TEST_CREDENTIALS.secretAccessKey);
  vi.stubEnv('AWS_REGION', TEST_REGION);
  vi.stubEnv('BUCKET', 'lambda-keys');
  vi.stubEnv('KEY_PREFIX', 'ssh');
  vi.stubEnv('POWERTOOLS_DEV', 'false');
});

afterAll(async () => {
  vi.unstubAllEnvs();
  await moto?.stop();
});

/** Runs the handler and returns every JSON line it printed. */
async function invoke(handler: (e: unknown) => Promise<unknown>, event: unknown) {
  const lines: Record<string, unknown>[] = [];
  const capture = (chunk: unknown) => {
    for (const l of String(chunk).split('\n')) if (l.startsWith('{')) lines.push(JSON.parse(l));
    return true;
  };
  const out = vi.spyOn(process.stdout, 'write').mockImplementation(capture);
  const err = vi.spyOn(process.stderr, 'write').mockImplementation(capture);
  const log = vi.spyOn(console, 'log').mockImplementation((...a: unknown[]) => capture(a.join(' ')));
  const info = vi.spyOn(console, 'info').mockImplementation((...a: unknown[]) => capture(a.join(' ')));
  const warn = vi.spyOn(console, 'warn').mockImplementation((...a: unknown[]) => capture(a.join(' ')));
  const error = vi.spyOn(console, 'error').mockImplementation((...a: unknown[]) => capture(a.join(' ')));
  try {
    return { result: await handler(event).catch((e: unknown) => e), lines };
  } finally {
    for (const s of [out, err, log, info, warn, error]) s.mockRestore();
  }
}

describe('Lambda handler', () => {
  it('publishes, logs a structured summary and emits EMF metrics', async () => {
    const { handler } = await import('../../../lambda/handler.js');
    const first = await invoke(handler, { 'detail-type': 'Scheduled Event' });
    expect(first.result).toMatchObject({
      users: fixture.users.length,
      groups: fixture.groups.length,
      deleted: 0,
    });
    const summary = first.lines.find((l) => l.message === 'published');
    expect(summary).toMatchObject({
      level: 'INFO',
      service: 'iam-ssh-keys-publisher',
      trigger: 'Scheduled Event',
      users: fixture.users.length,
      iamCalls: { GetAccountAuthorizationDetails: 1, ListSSHPublicKeys: fixture.users.length },
    });
    const emf = first.lines.find((l) => '_aws' in l) as Record<string, unknown> | undefined;
    expect(emf).toMatchObject({
      PublishSucceeded: 1,
      CopiedKeysRefused: 0,
      ObjectsTooLargeForHosts: 0,
      Users: fixture.users.length,
      service: 'iam-ssh-keys-publisher',
    });
    expect(JSON.stringify(emf?._aws)).toContain('"Namespace":"IamSshKeys"');

    const second = await invoke(handler, {});
    expect(second.result).toMatchObject({ added: 0, changed: 0, deleted: 0 });
    expect((second.result as { iamCalls: Record<string, number> }).iamCalls.GetSSHPublicKey).toBeUndefined();
    // A steady run writes index.json and heartbeat.json only.
    expect(second.lines.find((l) => '_aws' in l)).toMatchObject({ ObjectsWritten: 2 });
  });

  it('refuses a copied public key with a WARN naming both users and a CopiedKeysRefused metric', async () => {
    const { handler } = await import('../../../lambda/handler.js');
    const holder = fixture.users.find((u) => u.keys.some((k) => k.status === 'Active'));
    const copier = fixture.users.find((u) => u !== holder);
    const key = holder?.keys.find((k) => k.status === 'Active');
    if (!holder || !copier || !key) throw new Error('fixture has no user with an active key');
    const { iam } = clientsFor(moto.endpoint);
    const uploaded = await iam.send(
      new UploadSSHPublicKeyCommand({ UserName: copier.name, SSHPublicKeyBody: key.key.openssh }),
    );
    const copyId = uploaded.SSHPublicKey?.SSHPublicKeyId;
    try {
      const r = await invoke(handler, {});
      expect(r.result).toMatchObject({ copiedKeysRefused: 1 });
      const warn = r.lines.find((l) => l.level === 'WARN' && String(l.message).includes('impersonation'));
      expect(warn).toMatchObject({
        message: `key ${copyId} of IAM user ${copier.name} is a copy of a public key of IAM user ${holder.name}, whose claim came first: not published; this may be an impersonation attempt`,
        user: copier.name,
        firstHolder: holder.name,
        fingerprint: key.key.fingerprint,
      });
      expect(r.lines.find((l) => '_aws' in l)).toMatchObject({ CopiedKeysRefused: 1, PublishSucceeded: 1 });
    } finally {
      await iam.send(new DeleteSSHPublicKeyCommand({ UserName: copier.name, SSHPublicKeyId: copyId }));
    }
  });

  it('names the IAM user whose copied key asks an event for a full run, and counts full runs and deferrals', async () => {
    const { handler } = await import('../../../lambda/handler.js');
    const [copier, first, second] = fixture.users.filter((u) => u.keys.some((k) => k.status === 'Active'));
    if (!copier || !first || !second) throw new Error('fixture has too few users with keys');
    const { iam } = clientsFor(moto.endpoint);
    const copies: string[] = [];
    const batch = () => ({
      Records: [sqsRecord(cloudTrailEvent('UploadSSHPublicKey', { userName: copier.name }), Date.now())],
    });
    try {
      for (const holder of [first, second]) {
        const key = holder.keys.find((k) => k.status === 'Active')?.key.openssh;
        const res = await iam.send(
          new UploadSSHPublicKeyCommand({ UserName: copier.name, SSHPublicKeyBody: key }),
        );
        copies.push(res.SSHPublicKey?.SSHPublicKeyId as string);
      }
      const ran = await invoke(handler, batch());
      expect(ran.result).toMatchObject({ mode: 'full' });
      expect(ran.lines.find((l) => l.message === 'copied-key clash: full run')).toMatchObject({
        level: 'WARN',
        iamUser: copier.name,
        reason: expect.stringMatching(/also registered to/),
      });
      expect(ran.lines.find((l) => '_aws' in l)).toMatchObject({ CopiedKeyFullRuns: 1, FullRuns: 1 });
      // Her copy changes again within the schedule period: deferred, not a second full run.
      await iam.send(new DeleteSSHPublicKeyCommand({ UserName: copier.name, SSHPublicKeyId: copies.pop() }));
      const deferred = await invoke(handler, batch());
      expect(deferred.result).toMatchObject({ mode: 'targeted' });
      expect(
        deferred.lines.find((l) => String(l.message).startsWith('copied-key clash: full run deferred')),
      ).toMatchObject({
        level: 'WARN',
        iamUser: copier.name,
      });
      expect(deferred.lines.find((l) => '_aws' in l)).toMatchObject({
        CopiedKeyFullRunsDeferred: 1,
        TargetedRuns: 1,
      });
    } finally {
      for (const id of copies)
        await iam.send(new DeleteSSHPublicKeyCommand({ UserName: copier.name, SSHPublicKeyId: id }));
    }
  });

  it('fails the invocation with a logged error and a PublishFailed metric when the configuration is wrong', async () => {
    const { handler } = await import('../../../lambda/handler.js');
    vi.stubEnv('MAX_DELETE_SHARE', 'lots');
    try {
      const r = await invoke(handler, {});
      expect(String(r.result)).toMatch(/MAX_DELETE_SHARE has an invalid value/);
      expect(r.lines.find((l) => l.level === 'ERROR')?.message).toMatch(/publish failed/);
      expect(r.lines.find((l) => '_aws' in l)).toMatchObject({ PublishFailed: 1 });
    } finally {
      vi.stubEnv('MAX_DELETE_SHARE', '');
    }
  });
});

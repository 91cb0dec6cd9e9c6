// A burst: 100 IAM changes in one minute, delivered as the deployed SQS event
// source would (batch size 100, 10 s batching window), through the real Lambda handler
// against moto. A handful of invocations apply them all (one fails and is
// redelivered whole, as SQS does), and the bucket ends equal to a full run.
import {
  AddUserToGroupCommand,
  CreateGroupCommand,
  RemoveUserFromGroupCommand,
  UpdateSSHPublicKeyCommand,
  UploadSSHPublicKeyCommand,
} from '@aws-sdk/client-iam';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { parseIndex } from '../../../contract/index.js';
import { type AwsProxy, iamError, startAwsProxy } from '../../../dev/aws-proxy.js';
import { cloudTrailEvent } from '../../../dev/cloudtrail.js';
import { makeKey } from '../../../dev/keys.js';
import { type Moto, startMoto, TEST_CREDENTIALS, TEST_REGION } from '../../../dev/moto.js';
import { clientsFor } from '../../../dev/publisher.js';
import { DEFAULT_PUBLISH_CONFIG, publish } from '../../../lambda/publish.js';
import { DEFAULT_EVENT_BATCH_WINDOW_SECONDS, EVENT_BATCH_SIZE } from '../../../lib/publisher/event-queue.js';
import { type Arrival, sqsBatches } from '../../helpers/sqs.js';
import { bucketContents, buildFixture } from './fixture.js';

const BUCKET = 'ev-burst';
let moto: Moto;
let proxy: AwsProxy;

beforeAll(async () => {
  moto = await startMoto();
  proxy = await startAwsProxy(moto.endpoint);
  const { iam, s3 } = clientsFor(moto.endpoint);
  await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
  await buildFixture(iam);
  await iam.send(new CreateGroupCommand({ GroupName: 'ev-burst' }));
  vi.stubEnv('AWS_ENDPOINT_URL', proxy.endpoint);
  vi.stubEnv('AWS_ACCESS_KEY_ID', TEST_CREDENTIALS.accessKeyId);
  vi.stubEnv('AWS_SECRET_ACCESS_KEY', TEST_CREDENTIALS.secretAccessKey);
  vi.stubEnv('AWS_REGION', TEST_REGION);
  vi.stubEnv('BUCKET', BUCKET);
  vi.stubEnv('KEY_PREFIX', 'a');
  vi.stubEnv('POWERTOOLS_LOG_LEVEL', 'CRITICAL');
  vi.stubEnv('POWERTOOLS_METRICS_DISABLED', 'true');
}, 120_000);

afterAll(async () => {
  vi.unstubAllEnvs();
  await proxy?.stop();
  await moto?.stop();
});

interface Change extends Arrival {
  readonly apply: () => Promise<void>;
}

/** Bucket contents under a prefix, keys without it, index.json without its time, no heartbeat.json. */
async function state(prefix: string): Promise<Record<string, unknown>> {
  const { s3 } = clientsFor(moto.endpoint);
  const out: Record<string, unknown> = {};
  for (const [k, v] of await bucketContents(s3, BUCKET, prefix)) {
    const key = k.slice(prefix.length);
    if (key === 'heartbeat.json') continue; // the run's time only
    out[key] = key === 'index.json' ? { ...parseIndex(v), generatedAt: undefined } : v;
  }
  return out;
}

describe('a burst of 100 IAM changes in one minute', () => {
  it('is applied by a handful of invocations, none lost', async () => {
    const { handler } = await import('../../../lambda/handler.js');
    const { iam } = clientsFor(moto.endpoint);
    await handler({ 'detail-type': 'Scheduled Event' }); // the first full run

    const users = Array.from({ length: 20 }, (_, i) => `user${String(i + 7).padStart(2, '0')}`);
    const first = new Map<string, string>();
    const changes: Change[] = [];
    const at = (step: number, i: number) => (step * users.length + i) * 0.6; // 100 changes over 60 s
    for (const [i, u] of users.entries()) {
      changes.push({
        at: at(0, i),
        event: cloudTrailEvent('UploadSSHPublicKey', { userName: u, sSHPublicKeyBody: '.' }),
        apply: async () => {
          const r = await iam.send(
            new UploadSSHPublicKeyCommand({ UserName: u, SSHPublicKeyBody: makeKey().openssh }),
          );
          first.set(u, r.SSHPublicKey?.SSHPublicKeyId as string);
        },
      });
      changes.push({
        at: at(1, i),
        event: cloudTrailEvent('AddUserToGroup', { userName: u, groupName: 'ev-burst' }),
        apply: async () => {
          await iam.send(new AddUserToGroupCommand({ UserName: u, GroupName: 'ev-burst' }));
        },
      });
      changes.push({
        at: at(2, i),
        event: cloudTrailEvent('UploadSSHPublicKey', { userName: u, sSHPublicKeyBody: '.' }),
        apply: async () => {
          await iam.send(new UploadSSHPublicKeyCommand({ UserName: u, SSHPublicKeyBody: makeKey().openssh }));
        },
      });
      changes.push({
        at: at(3, i),
        event: cloudTrailEvent('UpdateSSHPublicKey', {
          userName: u,
          sSHPublicKeyId: 'APKA',
          status: 'Inactive',
        }),
        apply: async () => {
          await iam.send(
            new UpdateSSHPublicKeyCommand({ UserName: u, SSHPublicKeyId: first.get(u), Status: 'Inactive' }),
          );
        },
      });
      changes.push({
        at: at(4, i),
        event: cloudTrailEvent(i % 2 ? 'RemoveUserFromGroup' : 'UploadSSHPublicKey', {
          userName: u,
          ...(i % 2 ? { groupName: 'ev-burst' } : { sSHPublicKeyBody: '.' }),
        }),
        apply: async () => {
          if (i % 2) await iam.send(new RemoveUserFromGroupCommand({ UserName: u, GroupName: 'ev-burst' }));
          else
            await iam.send(
              new UploadSSHPublicKeyCommand({ UserName: u, SSHPublicKeyBody: makeKey().openssh }),
            );
        },
      });
    }
    expect(changes).toHaveLength(100);
    expect(Math.max(...changes.map((c) => c.at))).toBeLessThan(60);
    changes.sort((a, b) => a.at - b.at);

    const batches = sqsBatches(changes, {
      batchSize: EVENT_BATCH_SIZE,
      batchWindowSeconds: DEFAULT_EVENT_BATCH_WINDOW_SECONDS,
    });
    let applied = 0;
    const results: { mode: string; records: number; iamCalls: number }[] = [];
    for (const [n, batch] of batches.entries()) {
      // IAM changes before its events reach the queue.
      for (const c of changes.slice(applied, applied + batch.Records.length)) await c.apply();
      applied += batch.Records.length;
      // The second batch's first delivery fails (an IAM error): SQS delivers the whole batch again.
      let failNext = n === 1;
      proxy.options = {
        fault: (r) => {
          if (!failNext || r.action !== 'GetUser') return undefined;
          failNext = false;
          return iamError('AccessDenied', 'injected', 403);
        },
      };
      for (let delivery = 1; ; delivery++) {
        try {
          const r = (await handler(batch)) as { mode: string; iamCalls: Record<string, number> };
          results.push({
            mode: r.mode,
            records: batch.Records.length,
            iamCalls: Object.values(r.iamCalls).reduce((a, b) => a + b, 0),
          });
          break;
        } catch (e) {
          results.push({
            mode: `failed: ${(e as Error).message}`,
            records: batch.Records.length,
            iamCalls: 0,
          });
          if (delivery >= 3) throw e;
        }
      }
    }
    proxy.options = {};
    console.log('burst invocations:', JSON.stringify(results));

    expect(batches).toHaveLength(6);
    expect(batches.reduce((n, b) => n + b.Records.length, 0)).toBe(100);
    expect(results.filter((r) => r.mode === 'targeted')).toHaveLength(6);
    expect(results.filter((r) => r.mode.startsWith('failed'))).toHaveLength(1);
    expect(results.length).toBe(7);

    // Nothing lost: the bucket equals a full run over the final IAM state.
    const { s3 } = clientsFor(moto.endpoint);
    await publish(
      { ...DEFAULT_PUBLISH_CONFIG, bucket: BUCKET, prefix: 'b/' },
      { iam, s3, now: () => new Date() },
    );
    expect(await state('a/')).toEqual(await state('b/'));
    const group = (await state('a/'))['groups/ev-burst/authorized_keys'] as string;
    for (const [i, u] of users.entries()) expect(group.includes(`SSH_KEY_OWNER=${u}"`)).toBe(i % 2 === 0);
  }, 120_000);

  it('the handler routes one EventBridge event (targeted), a failed call (no run) and the schedule (full)', async () => {
    const { handler } = await import('../../../lambda/handler.js');
    const { iam } = clientsFor(moto.endpoint);
    await iam.send(
      new UploadSSHPublicKeyCommand({ UserName: 'user01', SSHPublicKeyBody: makeKey().openssh }),
    );
    proxy.clear();
    const one = await handler(
      cloudTrailEvent('UploadSSHPublicKey', { userName: 'user01', sSHPublicKeyBody: '.' }),
    );
    expect(one).toMatchObject({
      mode: 'targeted',
      iamCalls: { GetUser: 1, ListGroupsForUser: 1, ListSSHPublicKeys: 1, GetSSHPublicKey: 1 },
    });
    proxy.clear();
    const none = await handler(
      cloudTrailEvent('DeleteUser', { userName: 'user01' }, { errorCode: 'DeleteConflictException' }),
    );
    expect(none).toEqual({ mode: 'none', reason: 'DeleteUser failed (DeleteConflictException)' });
    expect(proxy.requests).toEqual([]);
    const scheduled = await handler({ 'detail-type': 'Scheduled Event', source: 'aws.events' });
    expect(scheduled).toMatchObject({ mode: 'full', added: 0, changed: 0, deleted: 0 });
  });
});

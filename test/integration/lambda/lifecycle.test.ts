// The key lifecycle against moto over HTTP, through a recording proxy: what it
// costs in IAM calls (nothing: tags and UploadDate are read already), and that
// a targeted run (a grant set by TagUser) gives the bytes a full run gives.
import { type IAMClient, TagUserCommand } from '@aws-sdk/client-iam';
import { CreateBucketCommand, type S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { own, parseIndex } from '../../../contract/index.js';
import { type AwsProxy, startAwsProxy } from '../../../dev/aws-proxy.js';
import { cloudTrailEvent } from '../../../dev/cloudtrail.js';
import { makeSkKey } from '../../../dev/keys.js';
import { type Moto, startMoto } from '../../../dev/moto.js';
import { clientsFor } from '../../../dev/publisher.js';
import { targetsOf } from '../../../lambda/event-targets.js';
import { DEFAULT_PUBLISH_CONFIG, type PublishConfig, publish } from '../../../lambda/publish.js';
import { publishForEvents } from '../../../lambda/publish-targeted.js';
import { bucketContents, buildFixture } from './fixture.js';

const BUCKET = 'lifecycle';
let moto: Moto;
let proxy: AwsProxy;
let direct: { iam: IAMClient; s3: S3Client };
let viaProxy: { iam: IAMClient; s3: S3Client };
let clock = Date.parse('2026-12-07T08:00:00Z');

const LIFECYCLE: Partial<PublishConfig> = {
  maxKeyAgeDays: 90,
  maxGrantHours: 12,
  verifyRequiredGroups: ['ops'],
};
const cfg = (prefix: string, extra: Partial<PublishConfig> = {}): PublishConfig => ({
  ...DEFAULT_PUBLISH_CONFIG,
  bucket: BUCKET,
  prefix,
  ...extra,
});

/** IAM calls of one run, by action (sorted), through the proxy. */
async function iamCallsOf(f: () => Promise<unknown>): Promise<Record<string, number>> {
  proxy.clear();
  await f();
  const out: Record<string, number> = {};
  for (const r of proxy.requests
    .filter((x) => x.service === 'iam')
    .sort((a, b) => (a.action < b.action ? -1 : 1)))
    out[r.action] = (out[r.action] ?? 0) + 1;
  return out;
}

async function under(prefix: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const [k, v] of await bucketContents(direct.s3, BUCKET, prefix)) out[k.slice(prefix.length)] = v;
  delete out['publisher/event-full-run.json'];
  return out;
}

beforeAll(async () => {
  moto = await startMoto();
  proxy = await startAwsProxy(moto.endpoint);
  direct = clientsFor(moto.endpoint);
  viaProxy = clientsFor(proxy.endpoint);
  await direct.s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
  await buildFixture(direct.iam);
  const end = new Date(clock + 4 * 3_600_000).toISOString();
  await direct.iam.send(
    new TagUserCommand({
      UserName: 'user01',
      Tags: [
        { Key: 'ssh-grant:admins', Value: end },
        { Key: 'ssh-grant:nope', Value: end },
        { Key: 'ssh-key:yubikey', Value: makeSkKey().openssh },
      ],
    }),
  );
  await direct.iam.send(
    new TagUserCommand({ UserName: 'user02', Tags: [{ Key: 'ssh-grant:ops', Value: 'soon' }] }),
  );
}, 120_000);

afterAll(async () => {
  await proxy?.stop();
  await moto?.stop();
});

describe('key lifecycle: IAM calls and targeted runs', () => {
  it('costs no IAM call: a first and a steady-state full run make the same calls with it as without', async () => {
    const now = () => new Date(clock);
    const off1 = await iamCallsOf(() => publish(cfg('off/'), { ...viaProxy, now }));
    const on1 = await iamCallsOf(() => publish(cfg('on/', LIFECYCLE), { ...viaProxy, now }));
    const off2 = await iamCallsOf(() => publish(cfg('off/'), { ...viaProxy, now }));
    const on2 = await iamCallsOf(() => publish(cfg('on/', LIFECYCLE), { ...viaProxy, now }));
    console.info('IAM calls per full run, lifecycle off / on:', { first: [off1, on1], steady: [off2, on2] });
    expect(on1).toEqual(off1);
    expect(on2).toEqual(off2);
    // The lifecycle did act on that run: a grant, refusals, a verify-required group.
    const index = parseIndex((await under('on/'))['index.json'] ?? '');
    expect(index.grants?.map((g) => [g.iamUser, g.group, g.status, g.reason ?? ''])).toEqual([
      ['user01', 'admins', 'active', ''],
      ['user01', 'nope', 'refused', 'no such IAM group'],
      ['user02', 'ops', 'refused', 'the value is not a UTC ISO 8601 time (e.g. 2027-01-31T12:00:00Z)'],
    ]);
    expect(own(index.groups, 'ops')?.verifyRequired).toBe(true);
    expect(own(index.users, 'user00')?.keys.every((k) => k.expires !== undefined)).toBe(true);
  });

  it('a grant set by TagUser: the targeted run makes the same IAM calls with the lifecycle as without, and equals a full run', async () => {
    // A full-run-only prefix, first published before the grant (as on/ was).
    await publish(cfg('full/', LIFECYCLE), { ...direct, now: () => new Date(clock) });
    clock += 60_000;
    const now = () => new Date(clock);
    const end = new Date(clock + 2 * 3_600_000).toISOString();
    await direct.iam.send(
      new TagUserCommand({ UserName: 'user04', Tags: [{ Key: 'ssh-grant:developers', Value: end }] }),
    );
    const event = cloudTrailEvent('TagUser', {
      userName: 'user04',
      tags: [{ key: 'ssh-grant:developers', value: end }],
    });
    const off = await iamCallsOf(() => publishForEvents(cfg('off/'), { ...viaProxy, now }, targetsOf(event)));
    const on = await iamCallsOf(() =>
      publishForEvents(cfg('on/', LIFECYCLE), { ...viaProxy, now }, targetsOf(event)),
    );
    console.info('IAM calls of a targeted run (TagUser), lifecycle off / on:', [off, on]);
    expect(on).toEqual(off);
    // The same IAM state through a full run, on a prefix of its own: the same bytes.
    await publish(cfg('full/', LIFECYCLE), { ...direct, now });
    const [targeted, full] = [await under('on/'), await under('full/')];
    expect(targeted['groups/developers/authorized_keys']).toContain('SSH_KEY_OWNER=user04",expiry-time=');
    expect(targeted).toEqual(full);
  });
});

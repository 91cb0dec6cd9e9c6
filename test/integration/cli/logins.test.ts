// `iam-ssh-keys logins` against moto S3 with real objects: several instances and
// days, a record that lies about its instance, bad lines, an object outside the
// layout, index.json for key ids, ListObjectsV2 pagination (counted by the proxy).
import { CreateBucketCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseArgs } from '../../../cli/args.js';
import { type LoginsCommand, LoginsError, readShipped, runLogins } from '../../../cli/logins.js';
import { auditPartitions } from '../../../cli/logins-report.js';
import { type AuditRecord, auditObjectKey } from '../../../contract/audit.js';
import { type AwsProxy, startAwsProxy } from '../../../dev/aws-proxy.js';
import { type Moto, startMoto, TEST_CREDENTIALS, TEST_REGION } from '../../../dev/moto.js';
import { indexJson } from '../../helpers/index-fixture.js';

const AUDIT = 'lg-audit';
const KEYS = 'lg-keys';
const NOW = new Date('2026-12-07T12:00:00Z');
const ROLE = 'AROAEXAMPLEROLEID0001';
const A = 'i-0aaaaaaaaaaaaaaaa';
const B = 'i-0bbbbbbbbbbbbbbbb';
const FP = `SHA256:${'A'.repeat(43)}`;
const FP_BOB = `SHA256:${'B'.repeat(43)}`;

let moto: Moto;
let proxy: AwsProxy;
let s3: S3Client;

function rec(over: Partial<AuditRecord>): AuditRecord {
  return {
    id: `${over.time}-${over.sshdPid}`,
    time: '2026-12-07T10:00:00.000Z',
    event: 'login',
    instanceId: A,
    accountId: '111111111111',
    region: 'eu-west-1',
    hostname: 'web-1',
    localUser: 'ec2-user',
    iamUser: 'alice',
    iamUserId: 'AIDAALICE',
    keyId: null,
    fingerprint: FP,
    principal: 'groups/Admins',
    keySource: 'iam',
    fetchedFrom: 's3',
    sourceIp: '192.0.2.10',
    sourcePort: 50022,
    sshdPid: 100,
    ...over,
  };
}

async function put(bucket: string, key: string, body: string): Promise<void> {
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
}
const lines = (rs: AuditRecord[]) => `${rs.map((r) => JSON.stringify(r)).join('\n')}\n`;

beforeAll(async () => {
  moto = await startMoto();
  proxy = await startAwsProxy(moto.endpoint);
  s3 = new S3Client({
    endpoint: proxy.endpoint,
    region: TEST_REGION,
    credentials: TEST_CREDENTIALS,
    forcePathStyle: true,
  });
  await s3.send(new CreateBucketCommand({ Bucket: AUDIT }));
  await s3.send(new CreateBucketCommand({ Bucket: KEYS }));
  const day = (d: string) => new Date(`${d}T12:00:00Z`);
  // Instance A, today: alice logs in and out; bob logs in (still open).
  await put(
    AUDIT,
    auditObjectKey(day('2026-12-07'), `${ROLE}:${A}`, '1-2'),
    lines([
      rec({ time: '2026-12-07T10:00:00.000Z', sshdPid: 100 }),
      rec({ time: '2026-12-07T10:30:00.000Z', sshdPid: 100, event: 'logout', durationSeconds: 1800 }),
    ]),
  );
  await put(
    AUDIT,
    auditObjectKey(day('2026-12-07'), `${ROLE}:${A}`, '3-3'),
    lines([
      rec({
        time: '2026-12-07T11:00:00.000Z',
        sshdPid: 200,
        iamUser: 'bob',
        iamUserId: 'AIDABOB',
        fingerprint: FP_BOB,
        localUser: 'bob',
      }),
    ]),
  );
  // Instance B, yesterday: a record that claims to be instance A, plus a bad line.
  await put(
    AUDIT,
    auditObjectKey(day('2026-12-06'), `${ROLE}:${B}`, '1-1'),
    `${lines([
      rec({
        time: '2026-12-06T20:00:00.000Z',
        sshdPid: 300,
        instanceId: A,
        iamUser: null,
        iamUserId: null,
        keySource: 'chain',
        principal: null,
        fetchedFrom: null,
      }),
    ])}{"not":"a record"}\n`,
  );
  // Shipped a day late (spooled): filed under today, timed yesterday.
  await put(
    AUDIT,
    auditObjectKey(day('2026-12-07'), `${ROLE}:${B}`, '2-2'),
    lines([rec({ time: '2026-12-06T23:59:00.000Z', sshdPid: 400, instanceId: B })]),
  );
  // Last week: outside the default 24h.
  await put(
    AUDIT,
    auditObjectKey(day('2026-11-30'), `${ROLE}:${A}`, '0-0'),
    lines([rec({ time: '2026-11-30T09:00:00.000Z', sshdPid: 50 })]),
  );
  // Not the layout (the policy denies such keys; an operator could still put one).
  await put(AUDIT, `logins/dt=2026-12-07/${ROLE}:${A}/deeper/x.jsonl`, lines([rec({ sshdPid: 999 })]));
  await put(
    KEYS,
    'ssh/index.json',
    indexJson(
      {
        alice: { keys: [{ id: 'APKAALICE1', type: 'ssh-ed25519', fingerprint: FP }] },
        bob: { keys: [{ id: 'APKABOB1', type: 'ssh-ed25519', fingerprint: FP_BOB }] },
      },
      NOW.toISOString(),
    ),
  );
}, 60_000);

afterAll(async () => {
  await proxy?.stop();
  await moto?.stop();
});

async function logins(argv: string[]): Promise<{ code: number; out: string[]; err: string[] }> {
  const out: string[] = [];
  const err: string[] = [];
  const c = parseArgs(['logins', '--bucket', AUDIT, ...argv]) as LoginsCommand;
  const code = await runLogins(
    c,
    s3,
    (l) => out.push(l),
    (l) => err.push(l),
    () => NOW,
  );
  return { code, out, err };
}

describe('iam-ssh-keys logins against S3', () => {
  it('the last 24h as a table: sessions with durations, the writer instance, key ids from index.json', async () => {
    const r = await logins(['--keys-bucket', KEYS, '--keys-prefix', 'ssh/']);
    expect(r.code).toBe(0);
    expect(r.out.map((l) => l.split(/ {2,}/))).toEqual([
      ['TIME', 'INSTANCE', 'ACCOUNT', 'LOCAL USER', 'IAM USER', 'KEY', 'SOURCE IP', 'DURATION'],
      ['2026-12-06T20:00:00.000Z', `${B}!`, '111111111111', 'ec2-user', '(chain)', FP, '192.0.2.10', '-'],
      ['2026-12-06T23:59:00.000Z', B, '111111111111', 'ec2-user', 'alice', 'APKAALICE1', '192.0.2.10', '-'],
      [
        '2026-12-07T10:00:00.000Z',
        A,
        '111111111111',
        'ec2-user',
        'alice',
        'APKAALICE1',
        '192.0.2.10',
        '30m00s',
      ],
      ['2026-12-07T11:00:00.000Z', A, '111111111111', 'bob', 'bob', 'APKABOB1', '192.0.2.10', '-'],
    ]);
    expect(r.err).toEqual([
      expect.stringMatching(/dt=2026-12-06\/.*:2: bad id \(skipped\)/),
      expect.stringMatching(/deeper\/x\.jsonl: not an audit object key/),
      expect.stringMatching(/^iam-ssh-keys: 1 record\(s\) name another instance/),
    ]);
  });

  it('filters by IAM user, instance (from the key) and local user; --json gives records', async () => {
    const alice = await logins(['--since', '8d', '--user', 'alice', '--json']);
    expect(alice.out.map((l) => JSON.parse(l)).map((o) => [o.time, o.event, o.uploaderInstanceId])).toEqual([
      ['2026-11-30T09:00:00.000Z', 'login', A],
      ['2026-12-06T23:59:00.000Z', 'login', B],
      ['2026-12-07T10:00:00.000Z', 'login', A],
      ['2026-12-07T10:30:00.000Z', 'logout', A],
    ]);
    const onA = await logins(['--instance', A, '--json']);
    // The record from B that claims A is not A's.
    expect(onA.out.map((l) => JSON.parse(l).sshdPid)).toEqual([100, 100, 200]);
    const bob = await logins(['--local-user', 'bob']);
    expect(bob.out).toHaveLength(2);
    expect(bob.out[1]).toContain('bob');
  });

  it('--until bounds the range', async () => {
    const r = await logins(['--since', '2026-12-07', '--until', '2026-12-07T10:15:00Z', '--json']);
    expect(r.out.map((l) => JSON.parse(l).time)).toEqual(['2026-12-07T10:00:00.000Z']);
  });

  it('reads every page of a listing', async () => {
    proxy.clear();
    const got = await readShipped(s3, AUDIT, ['logins/dt=2026-12-07/'], 1);
    expect(got.records.map((r) => r.record.sshdPid).sort()).toEqual([100, 100, 200, 400]);
    expect(proxy.count('s3', 'ListObjectsV2')).toBeGreaterThanOrEqual(4);
    expect(auditPartitions(new Date('2026-12-07T00:00:00Z'), NOW)).toHaveLength(3);
  });

  it('a missing bucket is a LoginsError naming it', async () => {
    const c = parseArgs(['logins', '--bucket', 'lg-missing']) as LoginsCommand;
    await expect(
      runLogins(
        c,
        s3,
        () => {},
        () => {},
        () => NOW,
      ),
    ).rejects.toThrow(LoginsError);
    await expect(
      runLogins(
        c,
        s3,
        () => {},
        () => {},
        () => NOW,
      ),
    ).rejects.toThrow(/s3:\/\/lg-missing\/logins\/dt=/);
  });
});

// The pure core of `iam-ssh-keys logins`: time arguments, partitions, the writer
// taken from the object key, filters, key ids from index.json, sessions, output.
import { describe, expect, it } from 'vitest';
import {
  auditPartitions,
  formatDuration,
  loginsReport,
  matchesFilter,
  parseTimeSpec,
  recordsOfObject,
  resolveTime,
  type ShippedRecord,
  sessions,
  withKeyIds,
} from '../../../cli/logins-report.js';
import { type AuditRecord, auditObjectKey } from '../../../contract/audit.js';
import { UsageError } from '../../../contract/errors.js';
import { parseIndex } from '../../../contract/index.js';
import { indexJson } from '../../helpers/index-fixture.js';

const FP = `SHA256:${'A'.repeat(43)}`;
const FP2 = `SHA256:${'B'.repeat(43)}`;
const ROLE = 'AROAEXAMPLEROLEID0001';
const NOW = new Date('2026-12-07T12:00:00Z');

function rec(over: Partial<AuditRecord> = {}): AuditRecord {
  return {
    id: 'r1',
    time: '2026-12-07T10:00:00.000Z',
    event: 'login',
    instanceId: 'i-0aaaaaaaaaaaaaaaa',
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
    sshdPid: 4242,
    ...over,
  };
}

function shipped(records: AuditRecord[], instance = 'i-0aaaaaaaaaaaaaaaa', day = NOW): ShippedRecord[] {
  const key = auditObjectKey(day, `${ROLE}:${instance}`, '0000000001-0000000002');
  return recordsOfObject(key, records.map((r) => JSON.stringify(r)).join('\n')).records;
}

describe('parseTimeSpec / resolveTime', () => {
  it.each<[string, string]>([
    ['30m', '2026-12-07T11:30:00.000Z'],
    ['24h', '2026-12-06T12:00:00.000Z'],
    ['7d', '2026-11-30T12:00:00.000Z'],
    ['2w', '2026-11-23T12:00:00.000Z'],
    ['2026-12-01', '2026-12-01T00:00:00.000Z'],
    ['2026-12-01T08:15:00Z', '2026-12-01T08:15:00.000Z'],
    ['2026-12-01T08:15:00+02:00', '2026-12-01T06:15:00.000Z'],
  ])('%s -> %s', (arg, expected) => {
    expect(resolveTime(parseTimeSpec(arg, '--since'), NOW).toISOString()).toBe(expected);
  });
  it.each(['', '24', 'h', '1y', 'yesterday', '2026-13-45', '12/07/2026', '-1h'])(
    '%j is a usage error',
    (arg) => {
      expect(() => parseTimeSpec(arg, '--since')).toThrow(UsageError);
    },
  );
});

describe('auditPartitions', () => {
  it('lists each day of the range and one either side', () => {
    expect(auditPartitions(new Date('2026-12-06T12:00:00Z'), NOW)).toEqual([
      'logins/dt=2026-12-05/',
      'logins/dt=2026-12-06/',
      'logins/dt=2026-12-07/',
      'logins/dt=2026-12-08/',
    ]);
  });
  it('crosses month and year ends', () => {
    expect(auditPartitions(new Date('2026-12-31T23:00:00Z'), new Date('2027-01-01T01:00:00Z'))).toEqual([
      'logins/dt=2026-12-30/',
      'logins/dt=2026-12-31/',
      'logins/dt=2027-01-01/',
      'logins/dt=2027-01-02/',
    ]);
  });
});

describe('recordsOfObject: the writer comes from the key', () => {
  it('takes the instance from the key and flags a record that names another one', () => {
    const [honest, liar] = shipped([rec(), rec({ id: 'r2', instanceId: 'i-0bbbbbbbbbbbbbbbb' })]);
    expect(honest).toMatchObject({ uploaderInstanceId: 'i-0aaaaaaaaaaaaaaaa', instanceMismatch: false });
    expect(liar).toMatchObject({ uploaderInstanceId: 'i-0aaaaaaaaaaaaaaaa', instanceMismatch: true });
  });
  it('flags a record without an instance id written by an instance', () => {
    expect(shipped([rec({ instanceId: null })])[0]?.instanceMismatch).toBe(true);
  });
  it('reports bad lines and foreign keys as problems, keeping the good lines', () => {
    const key = auditObjectKey(NOW, `${ROLE}:i-0aaaaaaaaaaaaaaaa`, 'b');
    const got = recordsOfObject(
      key,
      `${JSON.stringify(rec())}\nnot json\n${JSON.stringify({ ...rec(), sourcePort: -1 })}\n`,
    );
    expect(got.records).toHaveLength(1);
    expect(got.problems).toEqual([`${key}:2: not JSON (skipped)`, `${key}:3: bad sourcePort (skipped)`]);
    expect(recordsOfObject('logins/dt=2026-12-07/a/b/c.jsonl', '').problems).toHaveLength(1);
  });
});

describe('matchesFilter', () => {
  const [r] = shipped([rec()]);
  const since = new Date('2026-12-07T00:00:00Z');
  it.each<[string, object, boolean]>([
    ['no filter', {}, true],
    ['the IAM user', { user: 'alice' }, true],
    ['another IAM user', { user: 'bob' }, false],
    ['IAM user names match exactly', { user: 'Alice' }, false],
    ['the instance (from the key)', { instance: 'i-0aaaaaaaaaaaaaaaa' }, true],
    ['another instance', { instance: 'i-0bbbbbbbbbbbbbbbb' }, false],
    ['the local user', { localUser: 'ec2-user' }, true],
    ['another local user', { localUser: 'root' }, false],
    ['until excludes its own instant', { until: new Date('2026-12-07T10:00:00Z') }, false],
    ['since includes its own instant', { since: new Date('2026-12-07T10:00:00Z') }, true],
  ])('%s', (_what, f, expected) => {
    expect(matchesFilter(r as ShippedRecord, { since, until: NOW, ...f })).toBe(expected);
  });
  it('the instance filter trusts the key, not the record', () => {
    const [liar] = shipped([rec({ instanceId: 'i-0bbbbbbbbbbbbbbbb' })]);
    expect(matchesFilter(liar as ShippedRecord, { since, until: NOW, instance: 'i-0bbbbbbbbbbbbbbbb' })).toBe(
      false,
    );
  });
});

describe('withKeyIds', () => {
  const index = parseIndex(
    indexJson(
      {
        alice: { keys: [{ id: 'APKAALICE1', type: 'ssh-ed25519', fingerprint: FP }] },
        bob: { keys: [{ id: 'APKABOB1', type: 'ssh-ed25519', fingerprint: FP2 }] },
      },
      NOW.toISOString(),
    ),
  );
  it.each<[string, Partial<AuditRecord>, string | null]>([
    ["alice's key by fingerprint", {}, 'APKAALICE1'],
    ['a key id the host knew stays', { keyId: 'tag:ssh-key:laptop' }, 'tag:ssh-key:laptop'],
    ["another user's fingerprint is not alice's key", { fingerprint: FP2 }, null],
    ['a key not from us gets none', { iamUser: null, keySource: 'chain' }, null],
    ['a user not in the index', { iamUser: 'carol' }, null],
    ['a name on Object.prototype', { iamUser: 'constructor' }, null],
  ])('%s', (_what, over, expected) => {
    expect(withKeyIds(shipped([rec(over)]), index)[0]?.record.keyId).toBe(expected);
  });
  it('without an index, records are unchanged', () => {
    expect(withKeyIds(shipped([rec()]), undefined)[0]?.record.keyId).toBeNull();
  });
});

describe('sessions and the table', () => {
  const login = rec();
  const logout = rec({ id: 'r2', event: 'logout', time: '2026-12-07T11:02:03.000Z', durationSeconds: 3723 });
  const otherPid = rec({
    id: 'r3',
    event: 'logout',
    sshdPid: 1,
    time: '2026-12-07T10:30:00.000Z',
    durationSeconds: 5,
  });
  it('joins a login with its logout (same writer, pid, local user), not another session', () => {
    const all = shipped([login, otherPid, logout]);
    const s = sessions(all, all);
    expect(s).toHaveLength(1);
    expect(s[0]?.end?.record.id).toBe('r2');
  });
  it('does not join a logout of the same pid on another instance', () => {
    const all = [...shipped([login]), ...shipped([logout], 'i-0bbbbbbbbbbbbbbbb')];
    expect(sessions(all, all)[0]?.end).toBeUndefined();
  });
  it.each<[number, string]>([
    [0, '0s'],
    [59, '59s'],
    [61, '1m01s'],
    [3723, '1h02m'],
    [90000, '25h00m'],
  ])('formatDuration(%i) = %s', (s, expected) => {
    expect(formatDuration(s)).toBe(expected);
  });
  it('prints a row per session with the writer instance, key id or fingerprint, duration', () => {
    const ended = rec({
      id: 'e',
      event: 'ended',
      time: '2026-12-07T10:05:00.000Z',
      sshdPid: 7,
      durationSeconds: 65,
      reason: 'access-revoked',
      instanceId: 'i-0bbbbbbbbbbbbbbbb',
    });
    const all = [
      ...shipped([login, logout]),
      ...shipped(
        [
          rec({
            id: 'c',
            sshdPid: 7,
            iamUser: null,
            keySource: 'chain',
            instanceId: 'i-0zzzzzzzzzzzzzzzz',
            time: '2026-12-07T10:01:00.000Z',
          }),
          ended,
        ],
        'i-0bbbbbbbbbbbbbbbb',
      ),
    ];
    const report = loginsReport(all, [], { since: new Date('2026-12-07T00:00:00Z'), until: NOW }, false);
    expect(report.lines.map((l) => l.split(/ {2,}/))).toEqual([
      ['TIME', 'INSTANCE', 'ACCOUNT', 'LOCAL USER', 'IAM USER', 'KEY', 'SOURCE IP', 'DURATION'],
      [
        '2026-12-07T10:00:00.000Z',
        'i-0aaaaaaaaaaaaaaaa',
        '111111111111',
        'ec2-user',
        'alice',
        FP,
        '192.0.2.10',
        '1h02m',
      ],
      [
        '2026-12-07T10:01:00.000Z',
        'i-0bbbbbbbbbbbbbbbb!',
        '111111111111',
        'ec2-user',
        '(chain)',
        FP,
        '192.0.2.10',
        '1m05s (ended: access-revoked)',
      ],
    ]);
    expect(report.notes).toEqual([expect.stringMatching(/^1 record\(s\) name another instance/)]);
  });
  it('--json prints every chosen record, logouts too, with where it came from', () => {
    const report = loginsReport(shipped([logout, login]), ['p'], { since: new Date(0), until: NOW }, true);
    const objs = report.lines.map((l) => JSON.parse(l));
    expect(objs.map((o) => o.event)).toEqual(['login', 'logout']);
    expect(objs[0]).toMatchObject({
      ...login,
      uploader: `${ROLE}:i-0aaaaaaaaaaaaaaaa`,
      uploaderInstanceId: 'i-0aaaaaaaaaaaaaaaa',
      instanceMismatch: false,
    });
    expect(objs[0].object).toMatch(/^logins\/dt=2026-12-07\//);
    expect(report.notes).toEqual(['p']);
  });
});

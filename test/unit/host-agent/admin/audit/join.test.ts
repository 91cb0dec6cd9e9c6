import { describe, expect, it } from 'vitest';
import { auditRecordProblem } from '../../../../../contract/audit.js';
import {
  AGENT_GRACE_MS,
  emptyJoinState,
  endRecord,
  GONE_KEEP_MS,
  type JoinDeps,
  type JoinState,
  joinEntries,
} from '../../../../../host-agent/admin/audit/join.js';
import type { LogEntry } from '../../../../../host-agent/admin/audit/messages.js';

const FP = 'SHA256:5wTbBJzcHt/htLfaOUQXLZsKzRTdAK4MnPhGUA/KKhU';
const FP2 = 'SHA256:AAAABJzcHt/htLfaOUQXLZsKzRTdAK4MnPhGUA/KKhU';
const T0 = Date.parse('2026-12-07T05:00:00Z');
const AGENT_UID = 990;

const host = { hostname: 'web-1', instanceId: 'i-0abc', accountId: '123456789012', region: 'eu-west-1' };

function deps(over: Partial<JoinDeps> = {}): JoinDeps {
  return {
    host,
    mode: 'journal',
    agentUid: AGENT_UID,
    uidOf: (u) => (u === 'ec2-user' ? 1000 : undefined),
    ownerHolds: () => undefined,
    iamUserId: (o) => (o === 'alice' ? 'AIDAALICE' : null),
    now: T0 + 1000,
    pidAlive: () => true,
    ...over,
  };
}

const sshd = (t: number, pid: number, message: string, uid: number | null = 0): LogEntry => ({
  time: T0 + t,
  ident: 'sshd',
  pid,
  uid,
  message,
});
const agent = (
  t: number,
  sshdPid: number,
  fp = FP,
  owner = 'alice',
  uid: number | null = AGENT_UID,
): LogEntry => ({
  time: T0 + t,
  ident: 'iam-authorized-keys',
  pid: 5000 + t,
  uid,
  message: `key-matched user=ec2-user fingerprint=${fp} owner=${owner} principal=groups/admins source=cache sshd_pid=${sshdPid}`,
});
const accepted = (t: number, pid: number, port = 51000, fp = FP, user = 'ec2-user') =>
  sshd(t, pid, `Accepted publickey for ${user} from 10.0.0.9 port ${port} ssh2: ED25519 ${fp}`);
const closed = (t: number, pid: number, port = 51000, uid: number | null = 1000) =>
  sshd(t, pid, `Disconnected from user ec2-user 10.0.0.9 port ${port}`, uid);

const run = (entries: LogEntry[], over: Partial<JoinDeps> = {}, state: JoinState = emptyJoinState()) =>
  joinEntries(state, entries, deps(over));

describe('joinEntries', () => {
  it('agent line + Accepted of the same sshd pid and fingerprint: one login record, every field', () => {
    const { records, state } = run([agent(0, 4242), agent(5, 4242), accepted(10, 4242)]);
    expect(records).toEqual([
      {
        id: expect.stringMatching(/^[0-9a-f]{32}$/),
        time: '2026-12-07T05:00:00.010Z',
        event: 'login',
        ...host,
        localUser: 'ec2-user',
        iamUser: 'alice',
        iamUserId: 'AIDAALICE',
        keyId: null,
        fingerprint: FP,
        principal: 'groups/admins',
        keySource: 'iam',
        fetchedFrom: 'cache',
        verifiedBy: 'journal',
        sourceIp: '10.0.0.9',
        sourcePort: 51000,
        sshdPid: 4242,
      },
    ]);
    expect(auditRecordProblem(records[0])).toBeNull();
    expect(state.open.map((o) => o.login)).toEqual(records);
  });

  it('the logout (same address and port) gives a logout record with the duration and closes the session', () => {
    const first = run([agent(0, 4242), accepted(10, 4242)]);
    const { records, state } = run([closed(65_010, 4300)], {}, first.state);
    expect(records).toEqual([
      {
        ...first.records[0],
        id: expect.any(String),
        event: 'logout',
        time: '2026-12-07T05:01:05.010Z',
        durationSeconds: 65,
      },
    ]);
    expect(records[0]?.id).not.toBe(first.records[0]?.id);
    expect(state.open).toEqual([]);
  });

  it.each([
    ['a queried key that sshd then refused (no Accepted)', [agent(0, 4242)]],
    ['an Accepted line of another sshd process', [agent(0, 4242), accepted(10, 4243)]],
    [
      'a journal agent line from another uid (a local user running logger)',
      [agent(0, 4242, FP, 'alice', 1001), accepted(10, 4242, 51000, FP2)],
    ],
    ['an Accepted line not from root (journal)', [agent(0, 4242), { ...accepted(10, 4242), uid: 1000 }]],
    [
      'a Failed publickey',
      [
        agent(0, 4242),
        sshd(10, 4242, `Failed publickey for ec2-user from 10.0.0.9 port 51000 ssh2: ED25519 ${FP}`),
      ],
    ],
  ])('no record: %s', (_, entries) => {
    const r = run(entries as LogEntry[], { now: T0 + 20 });
    expect(r.records).toEqual([]);
  });

  it('a forged journal agent line gives no attribution: the login stays, iamUser null', () => {
    const { records } = run([agent(0, 4242, FP, 'mallory', 1001), accepted(10, 4242)], {
      now: T0 + 10 + AGENT_GRACE_MS + 1,
    });
    expect(records).toMatchObject([
      { iamUser: null, keySource: 'unknown', principal: null, fetchedFrom: null },
    ]);
    expect(records[0]).not.toHaveProperty('verifiedBy');
  });

  it.each([
    ['a file key', `Accepted key ED25519 ${FP} found at /home/ec2-user/.ssh/authorized_keys:3`, 'file'],
    [
      'the chain (the command line as location)',
      `Accepted key ED25519 ${FP} found at /usr/bin/iam-authorized-keys -- %u %f:2`,
      'chain',
    ],
    ['no found-at line (LogLevel INFO)', 'Server listening', 'unknown'],
  ])('a key not from us: %s -> keySource %s, iamUser null, after the grace period', (_, foundMsg, source) => {
    const entries = [sshd(0, 4242, foundMsg), accepted(10, 4242)];
    expect(run(entries, { now: T0 + 10 + AGENT_GRACE_MS - 1 }).records).toEqual([]);
    const r = run(entries, { now: T0 + 10 + AGENT_GRACE_MS + 1 });
    expect(r.records).toMatchObject([{ iamUser: null, iamUserId: null, principal: null, keySource: source }]);
  });

  it('an agent line that lands after the Accepted line (detached logger) still joins in the same run', () => {
    expect(run([accepted(10, 4242), agent(12, 4242)]).records).toMatchObject([{ iamUser: 'alice' }]);
  });

  it('an agent line that lands in the next run joins then (the pending login waits)', () => {
    const a = run([accepted(10, 4242)]);
    expect(a.records).toEqual([]);
    expect(run([agent(12, 4242)], { now: T0 + 2000 }, a.state).records).toMatchObject([{ iamUser: 'alice' }]);
  });

  it('a session ended before its pending login was decided: login then logout', () => {
    const r = run([
      sshd(0, 4242, `Accepted key ED25519 ${FP} found at /k:1`),
      accepted(10, 4242),
      closed(2000, 4300),
    ]);
    expect(r.records.map((x) => [x.event, x.keySource])).toEqual([
      ['login', 'file'],
      ['logout', 'file'],
    ]);
  });

  it('journal: a logout line from a third uid does not end the session', () => {
    const first = run([agent(0, 4242), accepted(10, 4242)]);
    expect(run([closed(5000, 4300, 1234)], {}, first.state).records).toEqual([]);
  });

  describe('file mode (any local user can write a line)', () => {
    const fileDeps = (holds: boolean | undefined): Partial<JoinDeps> => ({
      mode: 'file',
      ownerHolds: (p, o, f) => (p === 'groups/admins' && o === 'alice' && f === FP ? holds : undefined),
    });
    const entries = [agent(0, 4242, FP, 'alice', null), { ...accepted(10, 4242), uid: null }];
    it.each([
      [true, { iamUser: 'alice', verifiedBy: 'cache', keySource: 'iam' }],
      [undefined, { iamUser: 'alice', verifiedBy: null, keySource: 'iam' }],
      [false, { iamUser: null, keySource: 'unknown' }],
    ])('the cache says %s', (holds, want) => {
      const r = run(entries, { ...fileDeps(holds), now: T0 + 10 + AGENT_GRACE_MS + 1 });
      expect(r.records).toMatchObject([want]);
    });
    it('lines without a pid (sshd -e / -E) cannot be joined', () => {
      const r = run([agent(0, 4242, FP, 'alice', null), { ...accepted(10, 4242), pid: null, uid: null }], {
        ...fileDeps(true),
        now: T0 + 60_000,
      });
      expect(r.records).toEqual([]);
    });
  });

  it('20 parallel logins of one user and key: 20 records, each joined to its own sshd', () => {
    const entries = Array.from({ length: 20 }, (_, i) => [
      agent(i, 5000 + i),
      accepted(100 + i, 5000 + i, 40000 + i),
    ]).flat();
    const r = run(entries);
    expect(r.records.map((x) => [x.sshdPid, x.sourcePort, x.iamUser])).toEqual(
      Array.from({ length: 20 }, (_, i) => [5000 + i, 40000 + i, 'alice']),
    );
    expect(new Set(r.records.map((x) => x.id)).size).toBe(20);
  });

  it('an open session whose sshd is gone is dropped one period after a run first saw it gone', () => {
    const first = run([agent(0, 4242), accepted(10, 4242)]);
    const gone = run([], { pidAlive: () => false, now: T0 + 5000 }, first.state);
    expect(gone.state.open).toHaveLength(1);
    expect(
      run([], { pidAlive: () => false, now: T0 + 5000 + GONE_KEEP_MS - 1 }, gone.state).state.open,
    ).toHaveLength(1);
    expect(run([], { pidAlive: () => false, now: T0 + 5001 + GONE_KEEP_MS }, gone.state).state.open).toEqual(
      [],
    );
  });

  it('the same input gives the same record ids (a re-run after a crash re-creates the same records)', () => {
    const a = run([agent(0, 4242), accepted(10, 4242)]);
    const b = run([agent(0, 4242), accepted(10, 4242)]);
    expect(a.records[0]?.id).toBe(b.records[0]?.id);
  });
});

describe('endRecord', () => {
  it('an ended record carries the reason and the duration', () => {
    const login = run([agent(0, 4242), accepted(10, 4242)]).records[0];
    if (!login) throw new Error('no login');
    const e = endRecord(login, 'ended', T0 + 3_600_010, 'web-1', 'access-revoked');
    expect(e).toMatchObject({
      event: 'ended',
      reason: 'access-revoked',
      durationSeconds: 3600,
      iamUser: 'alice',
    });
    expect(auditRecordProblem(e)).toBeNull();
  });
});

describe('fetchedFrom of the two agent answers of one login', () => {
  const line = (t: number, source: string): LogEntry => ({
    ...agent(t, 4242),
    message: `key-matched user=ec2-user fingerprint=${FP} owner=alice principal=groups/admins source=${source} sshd_pid=4242`,
  });
  it.each([
    [['s3', 'cache'], 's3'],
    [['cache', 's3'], 's3'],
    [['cache', 'cache'], 'cache'],
    [['stale'], 'cache'],
  ])('%j -> %s, whatever order the loggers landed in', (sources, want) => {
    const r = joinEntries(
      emptyJoinState(),
      [...sources.map((s, i) => line(i, s)), accepted(10, 4242)],
      deps(),
    );
    expect(r.records[0]?.fetchedFrom).toBe(want);
  });
});

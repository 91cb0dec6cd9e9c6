import { describe, expect, it } from 'vitest';
import {
  classify,
  parseJournalEntry,
  parseSyslogLine,
} from '../../../../../host-agent/admin/audit/messages.js';

const FP = 'SHA256:5wTbBJzcHt/htLfaOUQXLZsKzRTdAK4MnPhGUA/KKhU';

describe('classify', () => {
  it.each([
    // sshd 9.2 as logged here (sshd -E), and the same text from 9.8+'s sshd-session
    [
      'sshd',
      `Accepted publickey for ec2-user from 10.0.0.5 port 51234 ssh2: ED25519 ${FP}`,
      {
        kind: 'accepted',
        user: 'ec2-user',
        ip: '10.0.0.5',
        port: 51234,
        keyType: 'ED25519',
        fingerprint: FP,
      },
    ],
    [
      'sshd-session',
      `Accepted publickey for alice from 2001:db8::1 port 22 ssh2: RSA ${FP}`,
      { kind: 'accepted', user: 'alice', ip: '2001:db8::1', port: 22, keyType: 'RSA', fingerprint: FP },
    ],
    [
      'sshd',
      `Accepted publickey for u from 1.2.3.4 port 5 ssh2: ED25519-CERT ${FP} ID x (serial 1) CA ED25519 ${FP}`,
      { kind: 'accepted', user: 'u', ip: '1.2.3.4', port: 5, keyType: 'ED25519-CERT', fingerprint: FP },
    ],
    ['sshd', `Postponed publickey for root from 127.0.0.1 port 36244 ssh2 [preauth]`, null],
    ['sshd', `Failed publickey for root from 127.0.0.1 port 36244 ssh2: ED25519 ${FP}`, null],
    [
      'sshd',
      `Accepted key ED25519 ${FP} found at /root/.ssh/authorized_keys:1`,
      { kind: 'found', fingerprint: FP, location: '/root/.ssh/authorized_keys:1' },
    ],
    [
      'sshd',
      `Accepted key ED25519 ${FP} found at /usr/bin/iam-authorized-keys -- %u %f:2`,
      { kind: 'found', fingerprint: FP, location: '/usr/bin/iam-authorized-keys -- %u %f:2' },
    ],
    [
      'sshd',
      'Disconnected from user root 127.0.0.1 port 36244',
      { kind: 'closed', ip: '127.0.0.1', port: 36244 },
    ],
    ['sshd', 'Connection closed by user bob 10.1.1.1 port 7', { kind: 'closed', ip: '10.1.1.1', port: 7 }],
    ['sshd', 'Connection reset by user bob 10.1.1.1 port 7', { kind: 'closed', ip: '10.1.1.1', port: 7 }],
    ['sshd', 'Connection closed by 10.1.1.1 port 7', { kind: 'closed', ip: '10.1.1.1', port: 7 }],
    [
      'sshd',
      'Timeout, client not responding from user bob 10.1.1.1 port 7',
      { kind: 'closed', ip: '10.1.1.1', port: 7 },
    ],
    [
      'sshd',
      'Connection from user bob 10.1.1.1 port 7 timed out',
      { kind: 'closed', ip: '10.1.1.1', port: 7 },
    ],
    ['sshd', 'Received disconnect from 127.0.0.1 port 36244:11: disconnected by user', null],
    // Only sshd's identifiers count: anybody can log with another tag.
    ['sshd-fake', `Accepted publickey for root from 1.2.3.4 port 5 ssh2: ED25519 ${FP}`, null],
    [
      'iam-authorized-keys',
      `key-matched user=ec2-user fingerprint=${FP} owner=alice principal=groups/admins,users/alice source=cache,s3 sshd_pid=4242`,
      {
        kind: 'agent',
        user: 'ec2-user',
        fingerprint: FP,
        owner: 'alice',
        principals: ['groups/admins', 'users/alice'],
        sources: ['cache', 's3'],
        sshdPid: 4242,
      },
    ],
    [
      'iam-authorized-keys',
      `key-matched user=u fingerprint=${FP} owner=a principal=users/a source=s3`,
      {
        kind: 'agent',
        user: 'u',
        fingerprint: FP,
        owner: 'a',
        principals: ['users/a'],
        sources: ['s3'],
        sshdPid: null,
      },
    ],
    ['iam-authorized-keys', 'doctor: audit channel check', null],
  ])('%s: %s', (ident, message, want) => {
    expect(classify(ident, message)).toEqual(want);
  });
});

describe('parseJournalEntry', () => {
  it('reads journalctl -o json fields (all strings; _PID and _UID trusted)', () => {
    const line = JSON.stringify({
      __CURSOR: 's=abc;i=1f;b=x;m=1;t=5f;x=9',
      __REALTIME_TIMESTAMP: '1796620800123456',
      __MONOTONIC_TIMESTAMP: '123',
      _BOOT_ID: 'x',
      PRIORITY: '6',
      SYSLOG_FACILITY: '10',
      SYSLOG_IDENTIFIER: 'sshd',
      SYSLOG_PID: '999',
      _PID: '4242',
      _UID: '0',
      _GID: '0',
      _COMM: 'sshd',
      _TRANSPORT: 'syslog',
      MESSAGE: 'Disconnected from user root 127.0.0.1 port 1',
    });
    expect(parseJournalEntry(line)).toEqual({
      cursor: 's=abc;i=1f;b=x;m=1;t=5f;x=9',
      entry: {
        time: 1796620800123,
        ident: 'sshd',
        pid: 4242,
        uid: 0,
        message: 'Disconnected from user root 127.0.0.1 port 1',
      },
    });
  });
  it.each([
    [
      'a byte-array MESSAGE (not UTF-8)',
      { __CURSOR: 'c', __REALTIME_TIMESTAMP: '1', SYSLOG_IDENTIFIER: 'sshd', MESSAGE: [65, 255] },
    ],
    ['no identifier', { __CURSOR: 'c', __REALTIME_TIMESTAMP: '1', MESSAGE: 'x' }],
  ])('skips an entry with %s but keeps its cursor', (_, v) => {
    expect(parseJournalEntry(JSON.stringify(v))).toEqual({ cursor: 'c', entry: null });
  });
  it('not JSON: nothing', () => expect(parseJournalEntry('{')).toEqual({ cursor: null, entry: null }));
});

describe('parseSyslogLine', () => {
  const now = new Date(2026, 11, 7, 12, 0, 0).getTime();
  it.each([
    [
      'auth.log traditional',
      'Dec  7 05:40:01 ip-10-0-0-1 sshd[1234]: Accepted x',
      new Date(2026, 11, 7, 5, 40, 1).getTime(),
      'sshd',
      1234,
    ],
    [
      'socket form (PRI, no host)',
      '<38>Dec  7 05:40:01 sshd[1234]: Accepted x',
      new Date(2026, 11, 7, 5, 40, 1).getTime(),
      'sshd',
      1234,
    ],
    [
      'logger without pid',
      '<86>Dec  7 05:40:01 iam-authorized-keys: Accepted x',
      new Date(2026, 11, 7, 5, 40, 1).getTime(),
      'iam-authorized-keys',
      null,
    ],
    [
      'last year (December line read in January)',
      'Dec 31 23:59:59 h sshd[1]: Accepted x',
      new Date(2025, 11, 31, 23, 59, 59).getTime(),
      'sshd',
      1,
      new Date(2026, 0, 1, 0, 0, 5).getTime(),
    ],
    [
      'RFC 3339 (Debian 12)',
      '2026-12-07T05:40:01.123456+00:00 host sshd-session[77]: Accepted x',
      Date.parse('2026-12-07T05:40:01.123Z'),
      'sshd-session',
      77,
    ],
  ])('%s', (_, line, time, ident, pid, at = now) => {
    expect(parseSyslogLine(line, at)).toEqual({ time, ident, pid, uid: null, message: 'Accepted x' });
  });
  it('keeps a colon inside the message', () => {
    expect(parseSyslogLine('Dec  7 05:40:01 sshd[1]: a: b', now)?.message).toBe('a: b');
  });
  it.each(['', 'garbage', 'Foo  7 05:40:01 h sshd[1]: x', 'Connection from 1.2.3.4 port 5'])(
    'refuses %j',
    (l) => expect(parseSyslogLine(l, now)).toBeNull(),
  );
});

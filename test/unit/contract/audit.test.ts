import { describe, expect, it } from 'vitest';
import {
  type AuditRecord,
  auditObjectKey,
  auditRecordProblem,
  parseAuditLines,
  parseAuditObjectKey,
} from '../../../contract/audit.js';

const FP = `SHA256:${'A'.repeat(43)}`;
const record: AuditRecord = {
  id: 'r1',
  time: '2026-12-07T05:00:00.000Z',
  event: 'login',
  instanceId: 'i-0123456789abcdef0',
  accountId: '123456789012',
  region: 'eu-west-1',
  hostname: 'web-1',
  localUser: 'ec2-user',
  iamUser: 'alice',
  iamUserId: 'AIDAEXAMPLE',
  keyId: null,
  fingerprint: FP,
  principal: 'groups/admins',
  keySource: 'iam',
  fetchedFrom: 'cache',
  sourceIp: '10.0.0.1',
  sourcePort: 50022,
  sshdPid: 4242,
};

describe('auditObjectKey / parseAuditObjectKey', () => {
  const day = new Date('2026-12-07T23:59:59Z');
  it('writes three segments under logins/ and reads them back, instance id from the role session', () => {
    const key = auditObjectKey(day, 'AROAEXAMPLEEXAMPLE01:i-0123456789abcdef0', '000001-000010');
    expect(key).toBe('logins/dt=2026-12-07/AROAEXAMPLEEXAMPLE01:i-0123456789abcdef0/000001-000010.jsonl');
    expect(parseAuditObjectKey(key)).toEqual({
      date: '2026-12-07',
      uploader: 'AROAEXAMPLEEXAMPLE01:i-0123456789abcdef0',
      instanceId: 'i-0123456789abcdef0',
    });
  });
  it.each([
    ['a slash in the uploader', 'AROAEXAMPLEEXAMPLE01:i-1/x', 'n'],
    ['a lower-case id', 'aroa:i-1', 'n'],
    ['a slash in the name', 'AROAEXAMPLEEXAMPLE01:i-0123456789abcdef0', 'a/b'],
    ['an empty name', 'AROAEXAMPLEEXAMPLE01:i-0123456789abcdef0', ''],
  ])('refuses %s', (_what, uploader, name) => {
    expect(() => auditObjectKey(day, uploader, name)).toThrow();
  });
  it.each([
    [
      'a deeper key (another writer segment inside)',
      'logins/dt=2026-12-07/AROAEXAMPLEEXAMPLE01:i-0aaaaaaaa/x/y.jsonl',
    ],
    ['no dt=', 'logins/2026-12-07/AROAEXAMPLEEXAMPLE01:i-0aaaaaaaa/y.jsonl'],
    ['another folder', 'other/dt=2026-12-07/AROAEXAMPLEEXAMPLE01:i-0aaaaaaaa/y.jsonl'],
    ['not .jsonl', 'logins/dt=2026-12-07/AROAEXAMPLEEXAMPLE01:i-0aaaaaaaa/y.json'],
  ])('parses %s as not an audit object', (_what, key) => {
    expect(parseAuditObjectKey(key)).toBeNull();
  });
  it('a user (not a role session) uploader has no instance id', () => {
    expect(parseAuditObjectKey('logins/dt=2026-12-07/AIDAEXAMPLEEXAMPLE01/n.jsonl')?.instanceId).toBeNull();
  });
});

describe('auditRecordProblem', () => {
  it('accepts a full login record', () => expect(auditRecordProblem(record)).toBeNull());
  it.each([
    ['event', { event: 'hijack' }],
    ['fingerprint', { fingerprint: 'MD5:aa' }],
    ['sourcePort', { sourcePort: 70000 }],
    ['sshdPid', { sshdPid: 0 }],
    ['keySource', { keySource: 'home' }],
    ['fetchedFrom', { fetchedFrom: 'disk' }],
    ['time', { time: 'yesterday' }],
    ['durationSeconds', { durationSeconds: -1 }],
    ['iamUser', { iamUser: 5 }],
  ])('names %s', (field, patch) => {
    expect(auditRecordProblem({ ...record, ...patch })).toBe(`bad ${field}`);
  });
  it('refuses what is not an object', () => expect(auditRecordProblem([record])).toBe('not an object'));
});

describe('parseAuditLines', () => {
  it('keeps valid records in order and names the others by line', () => {
    const text = [
      JSON.stringify(record),
      '{',
      JSON.stringify({ ...record, id: '' }),
      JSON.stringify({ ...record, id: 'r2' }),
      '',
    ].join('\n');
    const out = parseAuditLines(text);
    expect(out.records.map((r) => r.id)).toEqual(['r1', 'r2']);
    expect(out.rejected).toEqual([
      { lineNo: 2, reason: 'not JSON' },
      { lineNo: 3, reason: 'bad id' },
    ]);
  });
});

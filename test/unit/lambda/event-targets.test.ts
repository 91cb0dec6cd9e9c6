import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { cloudTrailEvent } from '../../../dev/cloudtrail.js';
import {
  type EventPlan,
  type Expectation,
  MAX_BATCH_RECORDS,
  MAX_TARGETS,
  planForInvocation,
  type Revoked,
  targetsOf,
  unionOf,
} from '../../../lambda/event-targets.js';

const t = (users: string[], groups: string[], expect?: Expectation[], revoked?: Revoked): EventPlan => ({
  kind: 'targets',
  targets: { users, groups, ...(expect ? { expect } : {}), ...(revoked ? { revoked } : {}) },
});

describe('targetsOf', () => {
  const cases: [string, Record<string, unknown>, EventPlan['kind'], EventPlan?][] = [
    [
      'UploadSSHPublicKey',
      { userName: 'alice', sSHPublicKeyBody: 'ssh-rsa AAAA' },
      'targets',
      t(['alice'], []),
    ],
    [
      'UpdateSSHPublicKey',
      { userName: 'alice', sSHPublicKeyId: 'APKA1', status: 'Inactive' },
      'targets',
      t(['alice'], [], [{ user: 'alice', keyId: 'APKA1', status: 'Inactive' }], {
        keyIds: ['APKA1'],
        users: [],
      }),
    ],
    [
      'DeleteSSHPublicKey',
      { userName: 'alice', sSHPublicKeyId: 'APKA1' },
      'targets',
      t(['alice'], [], [{ user: 'alice', keyId: 'APKA1', status: 'deleted' }], {
        keyIds: ['APKA1'],
        users: [],
      }),
    ],
    [
      'CreateUser',
      { userName: 'bob+ops@example.com' },
      'targets',
      t(['bob+ops@example.com'], [], [{ user: 'bob+ops@example.com', exists: true }]),
    ],
    [
      'DeleteUser',
      { userName: 'alice' },
      'targets',
      t(['alice'], [], [{ user: 'alice', exists: false }], { keyIds: [], users: ['alice'] }),
    ],
    [
      'TagUser',
      { userName: 'alice', tags: [{ key: 'ssh-key:laptop', value: 'ssh-ed25519 AAAA' }] },
      'targets',
      t(['alice'], []),
    ],
    [
      'UntagUser',
      { userName: 'alice', tagKeys: ['ssh-key:laptop'] },
      'targets',
      t(['alice'], [], undefined, { keyIds: ['tag:ssh-key:laptop'], users: [] }),
    ],
    [
      'AddUserToGroup',
      { groupName: 'Admins', userName: 'alice' },
      'targets',
      t(['alice'], ['Admins'], [{ user: 'alice', group: 'Admins', member: true }]),
    ],
    [
      'RemoveUserFromGroup',
      { groupName: 'Admins', userName: 'alice' },
      'targets',
      t(['alice'], ['Admins'], [{ user: 'alice', group: 'Admins', member: false }]),
    ],
    ['CreateGroup', { groupName: 'Admins', path: '/' }, 'targets', t([], ['Admins'])],
    ['DeleteGroup', { groupName: 'Admins' }, 'targets', t([], ['Admins'])],
    ['UpdateUser', { userName: 'alice', newUserName: 'alice2' }, 'targets', t(['alice', 'alice2'], [])],
    ['UpdateUser', { userName: 'alice', newPath: '/eng/' }, 'targets', t(['alice'], [])],
    [
      'UpdateGroup',
      { groupName: 'Admins', newGroupName: 'Admins2' },
      'targets',
      t([], ['Admins', 'Admins2']),
    ],
    ['UpdateGroup', { groupName: 'Admins', newPath: '/x/' }, 'targets', t([], ['Admins'])],
    // Names missing or not IAM names: unsure, so a full run.
    ['UploadSSHPublicKey', {}, 'full'],
    ['AddUserToGroup', { userName: 'alice' }, 'full'],
    ['UpdateUser', { userName: 'alice', newUserName: 'bad name' }, 'full'],
    ['DeleteUser', { userName: 'a/b' }, 'full'],
    ['DeleteUser', { userName: 42 }, 'full'],
    // Not handled in a targeted way.
    ['AttachUserPolicy', { userName: 'alice', policyArn: 'arn:aws:iam::aws:policy/X' }, 'full'],
  ];
  it.each(cases)('%s %j -> %s', (name, params, kind, expected) => {
    const plan = targetsOf(cloudTrailEvent(name, params));
    expect(plan.kind).toBe(kind);
    if (expected) expect(plan).toEqual(expected);
  });

  it('a failed call (errorCode) changes nothing', () => {
    const plan = targetsOf(
      cloudTrailEvent('DeleteUser', { userName: 'alice' }, { errorCode: 'DeleteConflictException' }),
    );
    expect(plan).toMatchObject({ kind: 'none' });
  });

  it.each([
    ['not an object', 'x'],
    ['a scheduled event', { 'detail-type': 'Scheduled Event', source: 'aws.events', detail: {} }],
    [
      'another service',
      {
        ...cloudTrailEvent('CreateUser', { userName: 'a' }),
        detail: {
          eventSource: 's3.amazonaws.com',
          eventName: 'CreateUser',
          requestParameters: { userName: 'a' },
        },
      },
    ],
    ['no detail', { 'detail-type': 'AWS API Call via CloudTrail' }],
  ])('%s -> full run', (_, event) => {
    expect(targetsOf(event).kind).toBe('full');
  });

  it('reads the saved fixtures', () => {
    const ev = JSON.parse(readFileSync('test/fixtures/events/remove-user-from-group.json', 'utf8'));
    expect(targetsOf(ev)).toEqual(
      t(['user02'], ['developers'], [{ user: 'user02', group: 'developers', member: false }]),
    );
  });
});

describe('unionOf', () => {
  it('merges targets and drops failed calls', () => {
    expect(
      unionOf([t(['a'], ['G']), { kind: 'none', reason: 'x' }, t(['a', 'b'], []), t([], ['G', 'H'])]),
    ).toEqual(t(['a', 'b'], ['G', 'H']));
  });
  it('one unsure event makes the batch a full run', () => {
    expect(unionOf([t(['a'], []), { kind: 'full', reason: 'unknown' }]).kind).toBe('full');
  });
  it('only failed calls: nothing to do', () => {
    expect(unionOf([{ kind: 'none', reason: 'x' }]).kind).toBe('none');
  });
  it(`more than ${MAX_TARGETS} names: a full run`, () => {
    const many = Array.from({ length: MAX_TARGETS + 1 }, (_, i) => t([`u${i}`], []));
    expect(unionOf(many.slice(0, MAX_TARGETS)).kind).toBe('targets');
    expect(unionOf(many)).toMatchObject({ kind: 'full' });
  });
});

describe('planForInvocation', () => {
  const sqs = (bodies: string[]) => ({
    Records: bodies.map((body, i) => ({ messageId: `m${i}`, eventSource: 'aws:sqs', body })),
  });
  it('an SQS batch: the union of its events', () => {
    const a = JSON.stringify(cloudTrailEvent('DeleteSSHPublicKey', { userName: 'a', sSHPublicKeyId: 'K' }));
    const b = JSON.stringify(cloudTrailEvent('RemoveUserFromGroup', { userName: 'b', groupName: 'G' }));
    // a: two events (the batch cannot tell which came last), so only b's expectation is kept;
    // a's revocation is kept whatever the order (a deleted key id never comes back).
    expect(planForInvocation(sqs([a, b, a]))).toEqual(
      t(['a', 'b'], ['G'], [{ user: 'b', group: 'G', member: false }], { keyIds: ['K'], users: [] }),
    );
  });
  it.each([
    ['a message that is not JSON', sqs(['{'])],
    ['a record from another source', { Records: [{ eventSource: 'aws:kinesis', body: '{}' }] }],
    ['too many records', sqs(Array.from({ length: MAX_BATCH_RECORDS + 1 }, () => '{}'))],
    ['a scheduled event', { 'detail-type': 'Scheduled Event' }],
    ['a direct call', {}],
  ])('%s -> full run', (_, event) => {
    expect(planForInvocation(event).kind).toBe('full');
  });
  it('one EventBridge event', () => {
    expect(planForInvocation(cloudTrailEvent('CreateGroup', { groupName: 'G' }))).toEqual(t([], ['G']));
  });
});

import { describe, expect, it } from 'vitest';
import {
  type Decision,
  decide,
  type Mapping,
  type PrincipalKeys,
  principalsToRead,
  type SessionOwner,
} from '../../../../../host-agent/admin/sessions/decide.js';

const fp = (c: string) => `SHA256:${c.repeat(43)}`;
const OLD = fp('a');
const NEW = fp('b');
const BOB = fp('c');

const alice: SessionOwner = {
  iamUser: 'alice',
  fingerprint: OLD,
  principal: 'groups/admins',
  keySource: 'iam',
  verifiedBy: 'journal',
};
const found = (...lines: [string, string][]): PrincipalKeys => ({
  state: 'found',
  lines: lines.map(([owner, fingerprint]) => ({ owner, fingerprint })),
});
const objects = (o: Record<string, PrincipalKeys>) => new Map(Object.entries(o));
const unreadable: PrincipalKeys = { state: 'unreadable', why: 'connect ECONNREFUSED' };

/** The local user still mapped to every principal of these cases (config `users` or directory.json). */
const MAPPED: Mapping = { principals: new Set(['groups/admins', 'users/alice']) };

type Kind = Decision['kind'] | `end:${string}`;
const kind = (d: Decision): Kind => (d.kind === 'end' ? `end:${d.reason}` : d.kind);

describe('decide: which sessions end, per mode', () => {
  // [case, session, current objects, mode access, mode key]
  const cases: [string, SessionOwner, Map<string, PrincipalKeys>, Kind, Kind][] = [
    [
      'nothing changed',
      alice,
      objects({ 'groups/admins': found(['alice', OLD], ['bob', BOB]) }),
      'keep',
      'keep',
    ],
    [
      'key rotation: the old key replaced by a new one',
      alice,
      objects({ 'groups/admins': found(['alice', NEW], ['bob', BOB]) }),
      'keep',
      'end:key-revoked',
    ],
    [
      'revoked key: one of two keys deleted (the session used the deleted one)',
      alice,
      objects({ 'groups/admins': found(['alice', NEW]) }),
      'keep',
      'end:key-revoked',
    ],
    [
      'group removal: alice has no key in the group any more',
      alice,
      objects({ 'groups/admins': found(['bob', BOB]) }),
      'end:access-revoked',
      'end:access-revoked',
    ],
    [
      'the group object is gone (group deleted)',
      alice,
      objects({ 'groups/admins': { state: 'absent' } }),
      'end:access-revoked',
      'end:access-revoked',
    ],
    ['the object cannot be read', alice, objects({ 'groups/admins': unreadable }), 'unknown', 'unknown'],
    ['the object was not read at all', alice, objects({}), 'unknown', 'unknown'],
    [
      'another user holds the same fingerprint: not alice',
      alice,
      objects({ 'groups/admins': found(['mallory', OLD]) }),
      'end:access-revoked',
      'end:access-revoked',
    ],
    [
      'came through two principals: one still holds the key, the other cannot be read',
      { ...alice, principal: 'groups/admins,users/alice' },
      objects({ 'groups/admins': unreadable, 'users/alice': found(['alice', OLD]) }),
      'keep',
      'keep',
    ],
    [
      'came through two principals: removed from one, the other cannot be read',
      { ...alice, principal: 'groups/admins,users/alice' },
      objects({ 'groups/admins': found(['bob', BOB]), 'users/alice': unreadable }),
      'unknown',
      'unknown',
    ],
    [
      'came through two principals: both lost it',
      { ...alice, principal: 'groups/admins,users/alice' },
      objects({ 'groups/admins': found(['bob', BOB]), 'users/alice': { state: 'absent' } }),
      'end:access-revoked',
      'end:access-revoked',
    ],
    [
      'a key that did not come from IAM (chain, file)',
      { iamUser: null, fingerprint: OLD, principal: null, keySource: 'chain' },
      objects({}),
      'keep',
      'keep',
    ],
    [
      'an owner from a log file line nothing verified (any local user can write one)',
      { ...alice, verifiedBy: null },
      objects({ 'groups/admins': found(['bob', BOB]) }),
      'keep',
      'keep',
    ],
    [
      'an owner no verification is recorded for (a record from an older trail)',
      { iamUser: 'alice', fingerprint: OLD, principal: 'groups/admins', keySource: 'iam' },
      objects({ 'groups/admins': found(['bob', BOB]) }),
      'keep',
      'keep',
    ],
    [
      'an owner a cached object verified',
      { ...alice, verifiedBy: 'cache' },
      objects({ 'groups/admins': found(['bob', BOB]) }),
      'end:access-revoked',
      'end:access-revoked',
    ],
    ['an IAM key whose principal is unknown', { ...alice, principal: null }, objects({}), 'keep', 'keep'],
  ];
  it.each(cases)('%s', (_name, session, objs, access, key) => {
    expect(kind(decide(session, objs, 'access', MAPPED))).toBe(access);
    expect(kind(decide(session, objs, 'key', MAPPED))).toBe(key);
  });

  it('an unknown answer names the principal and why', () => {
    expect(decide(alice, objects({ 'groups/admins': unreadable }), 'access', MAPPED)).toEqual({
      kind: 'unknown',
      why: 'cannot read groups/admins: connect ECONNREFUSED',
    });
  });

  it('principalsToRead: each principal of our sessions once, none for keys not from IAM', () => {
    expect(
      principalsToRead([
        alice,
        { ...alice, iamUser: 'bob', principal: 'groups/admins,users/bob' },
        { iamUser: null, fingerprint: OLD, principal: 'groups/other', keySource: 'file' },
      ]),
    ).toEqual(['groups/admins', 'users/bob']);
  });
});

describe('decide: a principal counts only while it still maps the local user', () => {
  // iamUsers mode: alice logged in to her own account through users/alice, whose object still has her key.
  const own: SessionOwner = { ...alice, principal: 'users/alice' };
  const keyStillPublished = objects({ 'users/alice': found(['alice', OLD]) });
  const cases: [string, SessionOwner, Mapping, Kind][] = [
    ['still mapped', own, { principals: new Set(['users/alice']) }, 'keep'],
    [
      'no longer mapped (out of allowGroups, account renumbered or removed, dropped from `users`)',
      own,
      { principals: new Set() },
      'end:access-revoked',
    ],
    [
      'directory.json unreadable, the principal not in the config',
      own,
      { principals: new Set(), unreadable: 'directory.json: ECONNREFUSED' },
      'unknown',
    ],
    [
      'directory.json unreadable, the principal in the config: decided by the object',
      own,
      { principals: new Set(['users/alice']), unreadable: 'directory.json: ECONNREFUSED' },
      'keep',
    ],
    [
      'through two principals, one still mapped and holding the key',
      { ...alice, principal: 'groups/admins,users/alice' },
      { principals: new Set(['groups/admins']) },
      'keep',
    ],
  ];
  it.each(cases)('%s', (_name, session, mapping, want) => {
    const objs = objects({ 'users/alice': found(['alice', OLD]), 'groups/admins': found(['alice', OLD]) });
    expect(kind(decide(session, session === own ? keyStillPublished : objs, 'access', mapping))).toBe(want);
    expect(kind(decide(session, session === own ? keyStillPublished : objs, 'key', mapping))).toBe(want);
  });

  it('an unknown answer names directory.json and why', () => {
    expect(
      decide(own, keyStillPublished, 'access', {
        principals: new Set(),
        unreadable: 'directory.json: ECONNREFUSED',
      }),
    ).toEqual({
      kind: 'unknown',
      why: 'cannot read directory.json: ECONNREFUSED',
    });
  });
});

import { describe, expect, it } from 'vitest';
import { normalizePrefix, parseLayoutKey, parsePrincipal, userKey } from '../../../contract/layout.js';
import { iamToLocalName, isValidLocalName } from '../../../contract/names.js';

describe('iamToLocalName (aws-ec2-ssh compatible)', () => {
  it.each([
    ['alice', 'alice'],
    ['bob+ops@example.com', 'bob.plus.ops.at.example.com'],
    ['eve=x', 'eve.equal.x'],
    ['a,b', 'a.comma.b'],
    ['dot.under_score-dash', 'dot.under_score-dash'],
    ['Upper', 'Upper'],
  ])('%s -> %s', (iam, local) => {
    expect(iamToLocalName(iam)).toEqual({ ok: true, name: local });
  });
  it.each([
    ['longer than 32 after mapping', 'very.long.name+with@many.example.com'],
    ['all digits', '12345'],
    ['leading dash', '-x'],
  ])('refuses %s', (_n, iam) => {
    expect(iamToLocalName(iam).ok).toBe(false);
  });
});

describe('isValidLocalName (hostile USER from sshd)', () => {
  it.each(['root', 'ec2-user', 'a.b_c-d', 'x'.repeat(32)])('accepts %s', (n) =>
    expect(isValidLocalName(n)).toBe(true),
  );
  it.each(['', '../etc', 'a/b', 'a b', '-rf', 'x'.repeat(33), 'a\nb', 'é', '.hidden', '123', 'a$b'])(
    'refuses %j',
    (n) => expect(isValidLocalName(n)).toBe(false),
  );
});

describe('layout', () => {
  it.each([
    [undefined, ''],
    ['', ''],
    ['team', 'team/'],
    ['a/b/', 'a/b/'],
  ])('normalizePrefix(%j) = %j', (p, want) => expect(normalizePrefix(p)).toBe(want));
  it.each(['/abs', 'a//b', '../x', 'a/./b', 'sp ace'])('normalizePrefix refuses %j', (p) =>
    expect(() => normalizePrefix(p)).toThrow(/invalid key prefix/),
  );
  it.each([
    ['p/index.json', { type: 'index' }],
    [
      'p/users/bob+ops@example.com/authorized_keys',
      { type: 'principal', principal: { kind: 'users', name: 'bob+ops@example.com' } },
    ],
    [
      'p/groups/Team.Alpha+1/authorized_keys',
      { type: 'principal', principal: { kind: 'groups', name: 'Team.Alpha+1' } },
    ],
    ['p/users/a/b/authorized_keys', undefined],
    ['p/users/bad name/authorized_keys', undefined],
    ['p/users/alice/notes', undefined],
    ['q/index.json', undefined],
    ['p/README', undefined],
    ['p/users/./authorized_keys', undefined],
    ['p/groups/../authorized_keys', undefined],
    ['p/users/.../authorized_keys', { type: 'principal', principal: { kind: 'users', name: '...' } }],
  ])('parseLayoutKey(%j)', (key, want) => expect(parseLayoutKey('p/', key)).toEqual(want));
  it('userKey and parsePrincipal agree', () => {
    expect(userKey('p/', 'a@b')).toBe('p/users/a@b/authorized_keys');
    expect(parsePrincipal('groups/Admins')).toEqual({ kind: 'groups', name: 'Admins' });
    expect(() => parsePrincipal('roles/x')).toThrow(/invalid principal/);
    expect(() => parsePrincipal('users/../x')).toThrow(/invalid principal/);
  });
});

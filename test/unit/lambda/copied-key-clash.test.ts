// Table tests of lambda/copied-key-clash.ts: which copied-key clashes a targeted run may keep as
// index.json decided them, and what an undecided user's removals leave.
import { describe, expect, it } from 'vitest';
import { makeKey } from '../../../dev/keys.js';
import { onlyRemovals, undecidedCopies } from '../../../lambda/copied-key-clash.js';
import type { IamKey, IamUser } from '../../../lambda/iam-source.js';
import { render } from '../../../lambda/render.js';
import { snapshotFromIndex } from '../../../lambda/targeted-read.js';

describe('undecidedCopies: a copied-key clash index.json decided stays decided (issue 17, finding 10)', () => {
  const [A, B, C] = [makeKey(), makeKey(), makeKey()];
  const at = (m: number) => new Date(Date.UTC(2026, 0, 1, 0, m));
  const user = (name: string, keys: IamKey[], extra: Partial<IamUser> = {}): IamUser => ({
    name,
    id: `ID-${name}`,
    groups: ['G'],
    keys,
    tags: [],
    ...extra,
  });
  const active = (id: string, m: number): IamKey => ({ id, status: 'Active', uploadDate: at(m) });
  // alice registered A first, mallory's copy K2 is refused, bob holds B.
  const alice = user('alice', [active('K1', 1)]);
  const mallory = user('mallory', [active('K2', 2)]);
  const bob = user('bob', [active('K3', 3)]);
  const bodies = new Map([
    ['K1', A.openssh],
    ['K2', A.openssh],
    ['K3', B.openssh],
    ['K4', B.openssh],
    ['K5', C.openssh],
  ]);
  const index = render({ users: [alice, mallory, bob], groups: ['G'], bodies }, undefined, {
    prefix: '',
    uidBase: 20000,
    now: at(10),
  }).index;
  const tag = (value: string) => ({ tags: [{ key: 'ssh-key:x', value }] });

  it('the index recorded the decision', () => {
    expect(index.users.mallory?.rejectedKeys?.[0]).toMatchObject({ id: 'K2', fingerprint: A.fingerprint });
  });

  it.each([
    ['the copier, unchanged (her own tag events)', [mallory], [], []],
    ['the copier adds an unrelated key', [user('mallory', [active('K2', 2), active('K5', 20)])], [], []],
    ['the copier adds an unrelated tag key', [user('mallory', [active('K2', 2)], tag(C.openssh))], [], []],
    ['the first holder, unchanged', [alice], [], []],
    ['the copier, renamed (same id, same keys)', [{ ...mallory, name: 'mallory2' }], ['mallory'], []],
    ['a new user with a key of her own', [user('carol', [active('K5', 20)])], [], []],
    [
      'the copier copies another key',
      [user('mallory', [active('K2', 2), active('K4', 20)])],
      [],
      ['mallory'],
    ],
    [
      'the copier copies a key into a tag',
      [user('mallory', [active('K2', 2)], tag(B.openssh))],
      [],
      ['mallory'],
    ],
    ['the copier removes her copy', [user('mallory', [])], [], ['mallory']],
    [
      'the copier deactivates her copy',
      [user('mallory', [{ ...active('K2', 2), status: 'Inactive' }])],
      [],
      ['mallory'],
    ],
    ['the first holder removes the key', [user('alice', [])], [], ['alice']],
    ['another user copies the key', [user('bob', [active('K3', 3), active('K1x', 20)])], [], ['bob']],
    ['the copier is deleted', [], ['mallory'], ['mallory']],
    ['a user without clashes is deleted', [], ['bob'], []],
  ] as const)('%s', (_n, freshUsers, gone, want) => {
    const s = snapshotFromIndex(index);
    if (!s) throw new Error('index cannot stand in');
    for (const n of [...gone, ...freshUsers.map((u) => u.name)]) s.users.delete(n);
    for (const u of freshUsers) s.users.set(u.name, u);
    for (const [id, b] of bodies) s.bodies.set(id, b);
    s.bodies.set('K1x', A.openssh);
    const r = undecidedCopies(index, s, freshUsers, gone, 'ssh-key:');
    expect(r.map((x) => x.user)).toEqual(want);
  });

  it('bob copying a key into K1x is undecided for bob', () => {
    const s = snapshotFromIndex(index);
    if (!s) throw new Error('index cannot stand in');
    const fresh = user('bob', [active('K3', 3), active('K1x', 20)]);
    s.users.set('bob', fresh);
    s.bodies.set('K1x', A.openssh);
    expect(undecidedCopies(index, s, [fresh], [], 'ssh-key:')).toEqual([
      { user: 'bob', reason: expect.stringMatching(/a key bob holds is also registered to alice, mallory/) },
    ]);
  });

  it('onlyRemovals: keeps only what the index had (and IAM still has): removals apply, additions wait', () => {
    const fresh = user('mallory', [{ ...active('K2', 2), status: 'Inactive' }, active('K4', 20)], {
      groups: ['G', 'admins'],
      tags: [
        { key: 'ssh-key:new', value: B.openssh },
        { key: 'team', value: 'x' },
      ],
    });
    expect(onlyRemovals(fresh, index, 'ssh-key:')).toEqual({
      ...fresh,
      groups: ['G'],
      keys: [{ ...active('K2', 2), status: 'Inactive' }],
      tags: [{ key: 'team', value: 'x' }],
    });
    expect(onlyRemovals(user('newbie', [active('K5', 1)]), index, 'ssh-key:')).toMatchObject({
      groups: [],
      keys: [],
    });
  });
});

import { describe, expect, it } from 'vitest';
import { INDEX_VERSION, type PublishedIndex, parseIndex, serializeIndex } from '../../../contract/index.js';
import { makeKey } from '../../../dev/keys.js';
import type { Expectation, Targets } from '../../../lambda/event-targets.js';
import type { IamKey, IamSnapshot, IamUser } from '../../../lambda/iam-source.js';
import { knownKeyBodies, render } from '../../../lambda/render.js';
import {
  nameMismatch,
  snapshotFromIndex,
  targetedSnapshot,
  unmetExpectations,
} from '../../../lambda/targeted-read.js';
import { type FakeIamState, type FakeIamUser, fakeIam } from '../../helpers/fake-iam.js';

describe('unmetExpectations', () => {
  const alice = (keys: IamKey[], groups: string[] = []): IamUser => ({
    name: 'alice',
    id: 'AIDA1',
    groups,
    keys,
    tags: [],
  });
  const cases: [string, Expectation, IamUser | undefined, boolean][] = [
    [
      'key Inactive, read Inactive',
      { user: 'alice', keyId: 'K', status: 'Inactive' },
      alice([{ id: 'K', status: 'Inactive' }]),
      true,
    ],
    [
      'key Inactive, read Active (stale)',
      { user: 'alice', keyId: 'K', status: 'Inactive' },
      alice([{ id: 'K', status: 'Active' }]),
      false,
    ],
    ['key Inactive, key gone since', { user: 'alice', keyId: 'K', status: 'Inactive' }, alice([]), true],
    [
      'key Active, read Inactive (stale)',
      { user: 'alice', keyId: 'K', status: 'Active' },
      alice([{ id: 'K', status: 'Inactive' }]),
      false,
    ],
    [
      'key deleted, still listed',
      { user: 'alice', keyId: 'K', status: 'deleted' },
      alice([{ id: 'K', status: 'Inactive' }]),
      false,
    ],
    ['key deleted, gone', { user: 'alice', keyId: 'K', status: 'deleted' }, alice([]), true],
    ['removed from G, still in G', { user: 'alice', group: 'G', member: false }, alice([], ['G']), false],
    ['removed from G, user gone', { user: 'alice', group: 'G', member: false }, undefined, true],
    ['added to G, in G', { user: 'alice', group: 'G', member: true }, alice([], ['G']), true],
    ['deleted, still there', { user: 'alice', exists: false }, alice([]), false],
    ['created, not there yet', { user: 'alice', exists: true }, undefined, false],
  ];
  it.each(cases)('%s', (_, e, read, met) => {
    expect(unmetExpectations([e], new Map([['alice', read]])).length === 0).toBe(met);
  });
});

describe('snapshotFromIndex', () => {
  const index: PublishedIndex = {
    version: INDEX_VERSION,
    generatedAt: '2026-11-30T00:00:00.000Z',
    users: {
      alice: {
        userId: 'AIDA1',
        localName: 'alice',
        uid: 20000,
        groups: ['G'],
        keys: [{ id: 'K1', type: 'ssh-ed25519', fingerprint: 'SHA256:a' }],
        rejectedKeys: [
          { id: 'K2', reason: 'copy', fingerprint: 'SHA256:b' },
          { id: 'K3', reason: 'bad body' },
        ],
      },
    },
    groups: { G: { members: ['alice'] }, Empty: { members: [] } },
    keyBodies: { K1: 'ssh-ed25519 AAAA1', K2: 'ssh-ed25519 AAAA2' },
    uids: { AIDA1: 20000 },
    nextUid: 20001,
  };
  it('gives back what readIam would have read: ids, groups, every active key (published or refused), bodies', () => {
    const s = snapshotFromIndex(index);
    expect(s?.users.get('alice')).toEqual({
      name: 'alice',
      id: 'AIDA1',
      groups: ['G'],
      keys: [
        { id: 'K1', status: 'Active' },
        { id: 'K2', status: 'Active' },
        { id: 'K3', status: 'Active' },
      ],
      tags: [],
    });
    expect([...(s?.groups ?? [])].sort()).toEqual(['Empty', 'G']);
    expect(s?.bodies.get('K2')).toBe('ssh-ed25519 AAAA2');
    expect(s?.bodies.has('K3')).toBe(false);
  });
  it.each([
    ['version 1', { ...index, version: 1 }],
    [
      'an entry without a user id',
      { ...index, users: { bob: { localName: 'bob', uid: 1, groups: [], keys: [] } } },
    ],
  ])('cannot stand in for IAM: %s', (_, i) => {
    expect(snapshotFromIndex(i as PublishedIndex)).toBeUndefined();
  });
});

/** The IamSnapshot a full read of `state` gives. */
function snapshotOf(state: FakeIamState): IamSnapshot {
  return {
    users: state.users.map((u) => ({
      name: u.name,
      id: u.id,
      groups: [...u.groups],
      keys: u.keys.map((k) => ({ id: k.id, status: k.status })),
      tags: [...(u.tags ?? [])],
    })),
    groups: [...state.groups],
    bodies: new Map(state.users.flatMap((u) => u.keys.map((k) => [k.id, k.body] as const))),
  };
}

const renderOpts = { prefix: '', uidBase: 20000, now: new Date('2026-11-30T00:00:00Z') };

/** index.json as a full run over `before` writes it, then a targeted read of `after`. */
async function targetedAfter(before: FakeIamState, after: FakeIamState, targets: Targets) {
  const index = parseIndex(serializeIndex(render(snapshotOf(before), undefined, renderOpts).index));
  const { iam } = fakeIam(after);
  return {
    index,
    result: await targetedSnapshot(iam, index, targets, knownKeyBodies(index), { retryDelaysMs: [] }),
  };
}

describe('event names resolve as IAM resolves them: without regard to letter case', () => {
  it.each<[string, readonly string[], readonly string[], string | undefined]>([
    ['known exactly', ['alice'], ['alice', 'bob'], undefined],
    ['unknown in any case (a new name)', ['carol'], ['alice', 'bob'], undefined],
    [
      'known only in another case',
      ['Alice'],
      ['alice', 'bob'],
      'an event names user Alice, which IAM spells alice',
    ],
    ['two spellings of one name among the events', ['dave', 'DAVE'], [], 'events name user dave and DAVE'],
    ['index.json holds two spellings', ['alice'], ['alice', 'ALICE'], 'index.json has users alice, ALICE'],
    ['prototype names are names like any other', ['__proto__', 'constructor'], ['toString'], undefined],
  ])('%s', (_n, names, known, reason) => {
    const r = nameMismatch('user', names, known);
    if (reason === undefined) expect(r).toBeUndefined();
    else expect(r).toContain(reason);
  });

  const k = makeKey();
  const alice: FakeIamUser = {
    name: 'alice',
    id: 'AIDAALICE',
    groups: ['admins'],
    keys: [{ id: 'KA', status: 'Active', body: k.openssh }],
  };
  const bob: FakeIamUser = { name: 'bob', id: 'AIDABOB', groups: [], keys: [] };
  const before: FakeIamState = { users: [alice, bob], groups: ['admins'] };

  it.each<[string, FakeIamState, Targets, RegExp]>([
    [
      'DeleteUser of "Alice" for alice: a full run, never alice kept',
      { users: [bob], groups: ['admins'] },
      { users: ['Alice'], groups: [], expect: [{ user: 'Alice', exists: false }] },
      /names user Alice, which IAM spells alice/,
    ],
    [
      'AddUserToGroup "ADMINS" for admins: a full run, never a groups/ADMINS object',
      { users: [alice, { ...bob, groups: ['admins'] }], groups: ['admins'] },
      { users: ['bob'], groups: ['ADMINS'] },
      /names group ADMINS, which IAM spells admins/,
    ],
    [
      'a key uploaded for "BOB": a full run',
      {
        users: [alice, { ...bob, keys: [{ id: 'KB', status: 'Active', body: makeKey().openssh }] }],
        groups: ['admins'],
      },
      { users: ['BOB'], groups: [] },
      /names user BOB, which IAM spells bob/,
    ],
    [
      'a new user the event spells "Carol", IAM "carol": a full run, never users/Carol',
      { users: [alice, bob, { name: 'carol', id: 'AIDACAROL', groups: [], keys: [] }], groups: ['admins'] },
      { users: ['Carol'], groups: [] },
      /names Carol, which IAM spells carol/,
    ],
    [
      'a new group the event spells "Ops", IAM "ops": a full run',
      { users: [alice, bob], groups: ['admins', 'ops'] },
      { users: [], groups: ['Ops'] },
      /names Ops, which IAM spells ops/,
    ],
  ])('%s', async (_n, after, targets, reason) => {
    const { result } = await targetedAfter(before, after, targets);
    expect(result).toEqual({ kind: 'full', reason: expect.stringMatching(reason) });
  });

  it('the same events spelled as IAM does are applied in a targeted way', async () => {
    const { result } = await targetedAfter(
      before,
      { users: [bob], groups: ['admins'] },
      { users: ['alice'], groups: [], expect: [{ user: 'alice', exists: false }] },
    );
    expect(result.kind).toBe('snapshot');
    if (result.kind !== 'snapshot') return;
    expect(result.snapshot.users.map((u) => u.name)).toEqual(['bob']);
    expect(result.unconfirmed).toEqual([]);
  });
});

describe('prototype names (valid IAM names) in a targeted read', () => {
  const NAMES = ['__proto__', 'constructor', 'toString', 'valueOf', 'hasOwnProperty'];
  const users: FakeIamUser[] = NAMES.map((name, i) => ({
    name,
    id: `AIDAPROTO${i}`,
    groups: [NAMES[(i + 1) % NAMES.length] as string],
    keys: [{ id: `KP${i}`, status: 'Active', body: makeKey().openssh }],
  }));
  const before: FakeIamState = { users, groups: NAMES };

  it('snapshotFromIndex keeps every user and group', async () => {
    const index = parseIndex(serializeIndex(render(snapshotOf(before), undefined, renderOpts).index));
    const s = snapshotFromIndex(index);
    expect([...(s?.users.keys() ?? [])].sort()).toEqual([...NAMES].sort());
    expect([...(s?.groups ?? [])].sort()).toEqual([...NAMES].sort());
  });

  it.each([
    ['a new user named constructor, unknown to index.json', 'constructor', false],
    ['a key of __proto__, known to index.json', '__proto__', true],
  ])('%s: the others stay', async (_n, name, known) => {
    const start: FakeIamState = known
      ? before
      : { users: users.filter((u) => u.name !== name), groups: NAMES };
    const after: FakeIamState = {
      users: users.map((u) =>
        u.name === name
          ? { ...u, keys: [...u.keys, { id: 'KNEW', status: 'Active', body: makeKey().openssh }] }
          : u,
      ),
      groups: NAMES,
    };
    const { result } = await targetedAfter(start, after, { users: [name], groups: [] });
    expect(result.kind).toBe('snapshot');
    if (result.kind !== 'snapshot') return;
    expect(result.snapshot.users.map((u) => u.name).sort()).toEqual([...NAMES].sort());
    expect(result.snapshot.users.find((u) => u.name === name)?.keys.map((k) => k.id)).toContain('KNEW');
    const rendered = render(result.snapshot, undefined, renderOpts).index;
    expect(Object.keys(parseIndex(serializeIndex(rendered)).users).sort()).toEqual([...NAMES].sort());
  });
});

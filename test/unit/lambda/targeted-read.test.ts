import { describe, expect, it } from 'vitest';
import { INDEX_VERSION, type PublishedIndex } from '../../../contract/index.js';
import type { Expectation } from '../../../lambda/event-targets.js';
import type { IamKey, IamUser } from '../../../lambda/iam-source.js';
import { snapshotFromIndex, unmetExpectations } from '../../../lambda/targeted-read.js';

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

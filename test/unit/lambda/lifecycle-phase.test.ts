import { describe, expect, it } from 'vitest';
import {
  NOT_FIDO_REASON,
  own,
  type PublishedIndex,
  parseIndex,
  serializeIndex,
} from '../../../contract/index.js';
import { makeKey, makeSkKey } from '../../../dev/keys.js';
import type { IamSnapshot, IamUser } from '../../../lambda/iam-source.js';
import { render } from '../../../lambda/render.js';
import { frozen, snapshotFromIndex } from '../../../lambda/targeted-read.js';

const rsa = makeKey('rsa');
const ed = makeKey('ed25519');
const sk = makeSkKey('ed25519');
const NOW = new Date('2027-01-10T12:00:00.000Z');
const settings = {
  prefix: '',
  maxKeyAgeDays: 90,
  maxGrantHours: 12,
  verifyRequiredGroups: ['Break-Glass'],
  grantTagPrefix: 'ssh-grant:',
};

function snapshot(extra: { aliceTags?: IamUser['tags']; rsaUploaded?: string } = {}): IamSnapshot {
  return {
    users: [
      {
        name: 'alice',
        id: 'AIDAALICE',
        groups: ['Developers', 'Break-Glass'],
        keys: [
          {
            id: 'APKARSA',
            status: 'Active',
            uploadDate: new Date(extra.rsaUploaded ?? '2026-12-01T08:00:00Z'),
          },
        ],
        tags: [
          { key: 'ssh-key:laptop', value: ed.openssh },
          { key: 'ssh-key:yubikey', value: sk.openssh },
          ...(extra.aliceTags ?? []),
        ],
      },
      {
        name: 'bob',
        id: 'AIDABOB',
        groups: ['Administrators'],
        keys: [],
        tags: [{ key: 'ssh-key:k', value: makeKey().openssh }],
      },
    ],
    groups: ['Administrators', 'Break-Glass', 'Developers'],
    bodies: new Map([['APKARSA', rsa.openssh]]),
  };
}

function run(s: IamSnapshot, previous: PublishedIndex | undefined, now = NOW, set = settings) {
  const { prefix, ...lifecycle } = set;
  const r = render(s, previous, { prefix, uidBase: 5000, now, lifecycle });
  // What the publisher writes and the next run reads back.
  return { ...r, index: parseIndex(serializeIndex(r.index)) };
}
const lines = (text: string | undefined) =>
  (text ?? '')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => l.split(' ').slice(0, 2).join(' '));

describe('render: the key lifecycle phase (applyLifecycle)', () => {
  it('every line of a key carries its expiry: key store from UploadDate, tags from when first published', () => {
    const r = run(snapshot(), undefined);
    expect(lines(r.objects.get('users/alice/authorized_keys'))).toEqual([
      'environment="SSH_KEY_OWNER=alice",expiry-time="20270301080000" ssh-rsa',
      'environment="SSH_KEY_OWNER=alice",expiry-time="20270410120000" ssh-ed25519',
      'environment="SSH_KEY_OWNER=alice",expiry-time="20270410120000" sk-ssh-ed25519@openssh.com',
    ]);
    expect(own(r.index.users, 'alice')?.keys.map((k) => [k.id, k.start, k.expires])).toEqual([
      ['APKARSA', '2026-12-01T08:00:00.000Z', '2027-03-01T08:00:00.000Z'],
      ['tag:ssh-key:laptop', NOW.toISOString(), '2027-04-10T12:00:00.000Z'],
      ['tag:ssh-key:yubikey', NOW.toISOString(), '2027-04-10T12:00:00.000Z'],
    ]);
  });

  it("a tag key's start survives later runs and a rename (the entry is found by IAM user id)", () => {
    const first = run(snapshot(), undefined);
    const later = new Date('2027-02-01T00:00:00.000Z');
    const s = snapshot();
    const renamed: IamSnapshot = {
      ...s,
      users: s.users.map((u) => (u.name === 'alice' ? { ...u, name: 'alice2' } : u)),
    };
    const r = run(renamed, first.index, later);
    expect(own(r.index.users, 'alice2')?.keys.find((k) => k.tagKey === 'ssh-key:laptop')?.start).toBe(
      NOW.toISOString(),
    );
  });

  it('a key past its age is not published: rejectedKeys reason expired, with its dates', () => {
    const r = run(snapshot({ rsaUploaded: '2026-10-01T00:00:00Z' }), undefined);
    expect(lines(r.objects.get('users/alice/authorized_keys'))).not.toContain(
      expect.stringContaining('ssh-rsa'),
    );
    expect(own(r.index.users, 'alice')?.rejectedKeys).toEqual([
      {
        id: 'APKARSA',
        fingerprint: rsa.fingerprint,
        start: '2026-10-01T00:00:00.000Z',
        expires: '2026-12-30T00:00:00.000Z',
        reason: 'expired',
      },
    ]);
    expect(r.problems).toContainEqual({
      user: 'alice',
      keyId: 'APKARSA',
      reason: 'expired (2026-12-30T00:00:00.000Z)',
    });
    expect(r.keyCount).toBe(3);
  });

  it("a grant puts the user's keys in that group's file until its end; index.json lists it", () => {
    const r = run(
      snapshot({ aliceTags: [{ key: 'ssh-grant:Administrators', value: '2027-01-10T16:00:00Z' }] }),
      undefined,
    );
    expect(lines(r.objects.get('groups/Administrators/authorized_keys')).slice(1)).toEqual([
      'environment="SSH_KEY_OWNER=alice",expiry-time="20270110160000" ssh-rsa',
      'environment="SSH_KEY_OWNER=alice",expiry-time="20270110160000" ssh-ed25519',
      'environment="SSH_KEY_OWNER=alice",expiry-time="20270110160000" sk-ssh-ed25519@openssh.com',
    ]);
    expect(r.index.grants).toEqual([
      {
        iamUser: 'alice',
        iamUserId: 'AIDAALICE',
        group: 'Administrators',
        until: '2027-01-10T16:00:00.000Z',
        status: 'active',
        tagKey: 'ssh-grant:Administrators',
        value: '2027-01-10T16:00:00Z',
        since: NOW.toISOString(),
      },
    ]);
    // Membership is IAM's alone: the grant changes neither the group's members nor the directory.
    expect(own(r.index.groups, 'Administrators')?.members).toEqual(['bob']);
    expect(r.directory).toContain(
      '"alice":{"userId":"AIDAALICE","localName":"alice","uid":5000,"groups":["Break-Glass","Developers"]}',
    );
  });

  it('after the grant ends, the next run drops its lines and lists it as ended', () => {
    const s = snapshot({ aliceTags: [{ key: 'ssh-grant:Administrators', value: '2027-01-10T12:02:00Z' }] });
    const first = run(s, undefined);
    expect(lines(first.objects.get('groups/Administrators/authorized_keys'))).toHaveLength(4);
    const r = run(s, first.index, new Date('2027-01-10T12:02:01.000Z'));
    expect(lines(r.objects.get('groups/Administrators/authorized_keys'))).toHaveLength(1);
    expect(r.index.grants?.[0]).toMatchObject({ status: 'refused', reason: 'ended' });
  });

  it("a verify-required group's file holds only sk-* lines, each with verify-required; the rest is listed", () => {
    const r = run(snapshot(), undefined);
    expect(lines(r.objects.get('groups/Break-Glass/authorized_keys'))).toEqual([
      'environment="SSH_KEY_OWNER=alice",expiry-time="20270410120000",verify-required sk-ssh-ed25519@openssh.com',
    ]);
    expect(own(r.index.groups, 'Break-Glass')).toEqual({
      members: ['alice'],
      verifyRequired: true,
      omittedKeys: [
        { user: 'alice', id: 'APKARSA', reason: NOT_FIDO_REASON },
        { user: 'alice', id: 'tag:ssh-key:laptop', reason: NOT_FIDO_REASON },
      ],
    });
    // Only that group's file: alice's own file and Developers' keep every key.
    expect(lines(r.objects.get('groups/Developers/authorized_keys'))).toHaveLength(3);
  });

  it('without lifecycle settings the objects are exactly what render wrote', () => {
    const s = snapshot();
    const off = { prefix: '', maxGrantHours: 12, verifyRequiredGroups: [], grantTagPrefix: 'ssh-grant:' };
    const plain = render(s, undefined, { prefix: '', uidBase: 5000, now: NOW });
    const { prefix, ...lifecycle } = off;
    const r = render(s, undefined, { prefix, uidBase: 5000, now: NOW, lifecycle });
    expect(r.objects).toEqual(plain.objects);
    expect(r.index.grants).toBeUndefined();
  });

  it('a targeted run (index.json standing in for IAM) renders the same bytes as a full run', () => {
    const s = snapshot({ aliceTags: [{ key: 'ssh-grant:Administrators', value: '2027-01-10T16:00:00Z' }] });
    const first = run(s, undefined);
    const later = new Date('2027-01-10T13:00:00.000Z');
    const full = run(s, first.index, later);
    const restored = snapshotFromIndex(first.index);
    expect(restored).toBeDefined();
    const targeted = run(frozen(restored as NonNullable<typeof restored>), first.index, later);
    expect(targeted.objects).toEqual(full.objects);
    expect(serializeIndex(targeted.index)).toBe(serializeIndex(full.index));
  });

  it("a refused copy is dated too: once published by a targeted run, its start is its UploadDate, as a full run's", () => {
    const shared = makeKey('ed25519');
    const s1: IamSnapshot = {
      users: [
        {
          name: 'ann',
          id: 'AIDAANN',
          groups: [],
          keys: [{ id: 'APKAANN', status: 'Active', uploadDate: new Date('2026-12-01T00:00:00Z') }],
          tags: [],
        },
        {
          name: 'ben',
          id: 'AIDABEN',
          groups: [],
          keys: [{ id: 'APKABEN', status: 'Active', uploadDate: new Date('2026-12-02T00:00:00Z') }],
          tags: [],
        },
      ],
      groups: [],
      bodies: new Map([
        ['APKAANN', shared.openssh],
        ['APKABEN', shared.openssh],
      ]),
    };
    const first = run(s1, undefined);
    expect(own(first.index.users, 'ben')?.rejectedKeys?.[0]).toMatchObject({
      id: 'APKABEN',
      start: '2026-12-02T00:00:00.000Z',
    });
    // ann deletes her key: ben's copy is published, by a full run and by a targeted run for ann.
    const later = new Date('2027-01-11T00:00:00.000Z');
    const s2: IamSnapshot = {
      ...s1,
      users: s1.users.map((u) => (u.name === 'ann' ? { ...u, keys: [] } : u)),
    };
    const full = run(s2, first.index, later);
    const restored = snapshotFromIndex(first.index);
    if (!restored) throw new Error('index cannot stand in');
    restored.users.set('ann', { ...(restored.users.get('ann') as IamUser), keys: [] });
    const targeted = run(frozen(restored), first.index, later);
    expect(own(full.index.users, 'ben')?.keys[0]?.start).toBe('2026-12-02T00:00:00.000Z');
    expect(serializeIndex(targeted.index)).toBe(serializeIndex(full.index));
    expect(targeted.objects).toEqual(full.objects);
  });

  it.each(['__proto__', 'constructor', 'toString'])(
    'an IAM user and a group named %s are plain data through the phase (grants and verify-required included)',
    (name) => {
      const k = makeSkKey();
      const s: IamSnapshot = {
        users: [
          {
            name,
            id: 'AIDAPROTO',
            groups: [name],
            keys: [],
            tags: [
              { key: 'ssh-key:k', value: k.openssh },
              { key: `ssh-grant:${name}`, value: '2027-01-10T13:00:00Z' },
            ],
          },
        ],
        groups: [name],
        bodies: new Map(),
      };
      const r = run(s, undefined, NOW, { ...settings, verifyRequiredGroups: [name] });
      expect(own(r.index.users, name)?.keys).toHaveLength(1);
      expect(own(r.index.groups, name)).toMatchObject({ members: [name], verifyRequired: true });
      expect(r.index.grants?.[0]).toMatchObject({ iamUser: name, group: name, status: 'active' });
      expect(lines(r.objects.get(`groups/${name}/authorized_keys`))).toEqual([
        `environment="SSH_KEY_OWNER=${name}",expiry-time="20270410120000",verify-required sk-ssh-ed25519@openssh.com`,
      ]);
    },
  );
});

import { describe, expect, it } from 'vitest';
import {
  GRANT_REASONS,
  type IndexGrant,
  type IndexUser,
  NOT_FIDO_REASON,
  type PublishedIndex,
} from '../../../contract/index.js';
import { makeKey, makeSkKey } from '../../../dev/keys.js';
import {
  groupObject,
  keyAge,
  keyStart,
  lifecycleCounts,
  type PublishedKey,
  parseGrantEnd,
  userGrants,
  userLines,
} from '../../../lambda/lifecycle.js';

const NOW = new Date('2027-01-10T12:00:00.000Z');
const k1 = makeKey('ed25519');
const sk = makeSkKey('ed25519');

const entry = (keys: IndexUser['keys'], rejectedKeys?: IndexUser['rejectedKeys']): IndexUser => ({
  userId: 'AIDAALICE',
  localName: 'alice',
  uid: 20000,
  groups: [],
  keys,
  ...(rejectedKeys ? { rejectedKeys } : {}),
});

describe('keyStart', () => {
  const tag = { id: 'tag:ssh-key:laptop', tagKey: 'ssh-key:laptop', fingerprint: k1.fingerprint };
  const recorded = '2026-12-01T00:00:00.000Z';
  it.each([
    [
      'a key-store key: its UploadDate',
      { id: 'APKA1', fingerprint: 'f', uploadDate: new Date(recorded) },
      undefined,
      recorded,
    ],
    [
      'a key-store key restored without UploadDate: the recorded start',
      { id: 'APKA1', fingerprint: 'f' },
      entry([{ id: 'APKA1', type: 't', fingerprint: 'f', start: recorded }]),
      recorded,
    ],
    ['a new tag key: now', tag, undefined, NOW.toISOString()],
    [
      'a published tag key: the recorded start',
      tag,
      entry([
        { id: tag.id, tagKey: tag.tagKey, type: k1.type, fingerprint: k1.fingerprint, start: recorded },
      ]),
      recorded,
    ],
    [
      'a tag key refused as expired: the recorded start',
      tag,
      entry(
        [],
        [{ id: tag.id, tagKey: tag.tagKey, fingerprint: k1.fingerprint, reason: 'expired', start: recorded }],
      ),
      recorded,
    ],
    [
      'a tag key whose value changed (another key): now',
      tag,
      entry([
        { id: tag.id, tagKey: tag.tagKey, type: k1.type, fingerprint: 'SHA256:other', start: recorded },
      ]),
      NOW.toISOString(),
    ],
  ] as [string, Parameters<typeof keyStart>[0], IndexUser | undefined, string][])(
    '%s',
    (_n, k, prev, want) => {
      expect(keyStart(k, prev, NOW).toISOString()).toBe(want);
    },
  );
});

describe('keyAge', () => {
  const up = (iso: string) => ({ id: 'APKA1', fingerprint: 'f', uploadDate: new Date(iso) });
  it.each([
    ['no maximum age: no expiry', up('2020-01-01T00:00:00Z'), undefined, undefined, false],
    ['90 days, uploaded 10 days ago', up('2026-12-31T12:00:00.500Z'), 90, '2027-03-31T12:00:00.000Z', false],
    [
      '1 day, uploaded a day and a second ago',
      up('2027-01-09T11:59:59Z'),
      1,
      '2027-01-10T11:59:59.000Z',
      true,
    ],
    [
      '1 day, uploaded exactly a day ago (sshd: valid during that second)',
      up('2027-01-09T12:00:00Z'),
      1,
      '2027-01-10T12:00:00.000Z',
      false,
    ],
  ])('%s', (_n, k, days, expires, expired) => {
    const a = keyAge(k, undefined, days === undefined ? {} : { maxKeyAgeDays: days }, NOW);
    expect(a).toEqual({ start: k.uploadDate.toISOString(), ...(expires ? { expires } : {}), expired });
  });
});

describe('parseGrantEnd', () => {
  it.each([
    ['2027-01-10T16:00:00Z', '2027-01-10T16:00:00.000Z'],
    ['2027-01-10T16:00Z', '2027-01-10T16:00:00.000Z'],
    ['2027-01-10T16:00:00.250Z', '2027-01-10T16:00:00.250Z'],
    ['2027-01-10T16:00:00+00:00', undefined],
    ['2027-01-10T16:00:00', undefined],
    ['2027-01-10', undefined],
    ['2027-02-30T16:00:00Z', undefined],
    ['2027-01-10T24:00:00Z', undefined],
    ['1799999999', undefined],
    ['', undefined],
  ])('%j -> %j', (value, want) => {
    expect(parseGrantEnd(value)?.toISOString()).toBe(want);
  });
});

describe('userGrants', () => {
  const groups = new Set(['Administrators', 'Developers']);
  const settings = { grantTagPrefix: 'ssh-grant:', maxGrantHours: 12 };
  const alice = (tags: { key: string; value: string }[]) => ({ name: 'alice', id: 'AIDAALICE', tags });
  const one = (key: string, value: string, previous?: PublishedIndex) =>
    userGrants(alice([{ key, value }]), groups, previous, settings, NOW)[0];
  const prevWith = (g: Partial<IndexGrant>): PublishedIndex =>
    ({
      grants: [
        {
          iamUser: 'alice',
          iamUserId: 'AIDAALICE',
          group: 'Administrators',
          until: null,
          status: 'refused',
          tagKey: 'ssh-grant:Administrators',
          value: '',
          since: NOW.toISOString(),
          ...g,
        },
      ],
    }) as unknown as PublishedIndex;

  it.each([
    [
      '4 h from now: active',
      'ssh-grant:Administrators',
      '2027-01-10T16:00:00Z',
      undefined,
      'active',
      undefined,
    ],
    [
      'exactly 12 h: active',
      'ssh-grant:Administrators',
      '2027-01-11T00:00:00Z',
      undefined,
      'active',
      undefined,
    ],
    [
      '12 h and a second: too long',
      'ssh-grant:Administrators',
      '2027-01-11T00:00:01Z',
      undefined,
      'refused',
      GRANT_REASONS.tooLong(12),
    ],
    [
      'a malformed time',
      'ssh-grant:Administrators',
      'tomorrow',
      undefined,
      'refused',
      GRANT_REASONS.malformed,
    ],
    [
      'a time with an offset',
      'ssh-grant:Administrators',
      '2027-01-10T16:00:00+02:00',
      undefined,
      'refused',
      GRANT_REASONS.malformed,
    ],
    [
      'an unknown group',
      'ssh-grant:Admins',
      '2027-01-10T16:00:00Z',
      undefined,
      'refused',
      GRANT_REASONS.unknownGroup,
    ],
    [
      'a group in another letter case (names as IAM spells them)',
      'ssh-grant:administrators',
      '2027-01-10T16:00:00Z',
      undefined,
      'refused',
      GRANT_REASONS.unknownGroup,
    ],
    [
      'an ended grant',
      'ssh-grant:Administrators',
      '2027-01-10T11:59:59Z',
      undefined,
      'refused',
      GRANT_REASONS.ended,
    ],
    [
      'ending this second (sshd still accepts it)',
      'ssh-grant:Administrators',
      '2027-01-10T12:00:00Z',
      undefined,
      'active',
      undefined,
    ],
    // A 24 h grant seen 20 h ago is still 24 h long: the length counts from when the value was first seen.
    [
      'too long when first seen, now within 12 h of its end',
      'ssh-grant:Administrators',
      '2027-01-10T16:00:00Z',
      prevWith({ value: '2027-01-10T16:00:00Z', since: '2027-01-09T16:00:00.000Z' }),
      'refused',
      GRANT_REASONS.tooLong(12),
    ],
    [
      'the same tag with a new value: counted from now',
      'ssh-grant:Administrators',
      '2027-01-10T16:00:00Z',
      prevWith({ value: '2027-01-10T15:00:00Z', since: '2027-01-09T16:00:00.000Z' }),
      'active',
      undefined,
    ],
  ] as [string, string, string, PublishedIndex | undefined, string, string | undefined][])(
    '%s',
    (_n, key, value, prev, status, reason) => {
      const g = one(key, value, prev);
      expect(g).toMatchObject({ iamUser: 'alice', iamUserId: 'AIDAALICE', tagKey: key, value, status });
      expect(g?.reason).toBe(reason);
    },
  );

  it('keeps when it first saw a value, so the length is judged from then', () => {
    const since = '2027-01-10T10:00:00.000Z';
    const g = one(
      'ssh-grant:Developers',
      '2027-01-10T20:00:00Z',
      prevWith({ tagKey: 'ssh-grant:Developers', value: '2027-01-10T20:00:00Z', since }),
    );
    expect(g).toMatchObject({
      since,
      until: '2027-01-10T20:00:00.000Z',
      group: 'Developers',
      status: 'active',
    });
  });

  it("ignores other tags and other users' records; sorts by tag key", () => {
    const gs = userGrants(
      alice([
        { key: 'ssh-key:laptop', value: 'ssh-ed25519 AAAA' },
        { key: 'ssh-grant:Developers', value: '2027-01-10T13:00:00Z' },
        { key: 'SSH-GRANT:Administrators', value: '2027-01-10T13:00:00Z' },
        { key: 'ssh-grant:Administrators', value: '2027-01-10T13:00:00Z' },
      ]),
      groups,
      prevWith({ iamUserId: 'AIDABOB', value: '2027-01-10T13:00:00Z', since: '2027-01-01T00:00:00.000Z' }),
      settings,
      NOW,
    );
    expect(gs.map((g) => [g.group, g.status, g.since])).toEqual([
      ['Administrators', 'active', NOW.toISOString()],
      ['Developers', 'active', NOW.toISOString()],
    ]);
  });
});

describe('userLines / groupObject', () => {
  const pk = (id: string, key: typeof k1, expires?: string): PublishedKey => ({
    id,
    key: { type: key.type, blob: key.blob },
    ...(expires ? { expires } : {}),
  });
  const bobKey = makeKey('ecdsa');
  const keys = new Map<string, PublishedKey[]>([
    ['alice', [pk('APKA1', k1, '2027-03-01T00:00:00.000Z'), pk('tag:ssh-key:yubi', sk)]],
    ['bob', [pk('APKA2', bobKey)]],
  ]);
  const grant = (
    user: string,
    group: string,
    until: string,
    status: 'active' | 'refused' = 'active',
  ): IndexGrant => ({
    iamUser: user,
    iamUserId: `AIDA${user}`,
    group,
    until,
    status,
    tagKey: `ssh-grant:${group}`,
    value: until,
    since: NOW.toISOString(),
  });
  const none = { verifyRequiredGroups: [] as string[] };

  it("a user's lines carry their key's expiry", () => {
    expect(userLines('alice', keys.get('alice') ?? [])).toBe(
      `environment="SSH_KEY_OWNER=alice",expiry-time="20270301000000" ${k1.type} ${k1.blob} alice\n` +
        `environment="SSH_KEY_OWNER=alice" ${sk.type} ${sk.blob} alice\n`,
    );
  });

  it.each([
    ['members only', ['bob'], [], none, [`environment="SSH_KEY_OWNER=bob" ${bobKey.type}`]],
    [
      'a grantee after the members, each line expiring at the earlier of grant and key',
      ['bob'],
      [grant('alice', 'Admins', '2027-01-10T14:00:00.000Z')],
      none,
      [
        `environment="SSH_KEY_OWNER=bob" ${bobKey.type}`,
        `environment="SSH_KEY_OWNER=alice",expiry-time="20270110140000" ${k1.type}`,
        `environment="SSH_KEY_OWNER=alice",expiry-time="20270110140000" ${sk.type}`,
      ],
    ],
    [
      'a grant ending after the key: the key expiry',
      [],
      [grant('alice', 'Admins', '2027-06-01T00:00:00.000Z')],
      none,
      [
        `environment="SSH_KEY_OWNER=alice",expiry-time="20270301000000" ${k1.type}`,
        `environment="SSH_KEY_OWNER=alice",expiry-time="20270601000000" ${sk.type}`,
      ],
    ],
    [
      'a refused grant adds nothing',
      [],
      [grant('alice', 'Admins', '2027-01-10T14:00:00.000Z', 'refused')],
      none,
      [],
    ],
    [
      "another group's grant adds nothing",
      [],
      [grant('alice', 'Devs', '2027-01-10T14:00:00.000Z')],
      none,
      [],
    ],
    [
      'a member granted too keeps their standing lines',
      ['alice'],
      [grant('alice', 'Admins', '2027-01-10T14:00:00.000Z')],
      none,
      [
        `environment="SSH_KEY_OWNER=alice",expiry-time="20270301000000" ${k1.type}`,
        `environment="SSH_KEY_OWNER=alice" ${sk.type}`,
      ],
    ],
    [
      'verify-required: only sk-* keys, each with verify-required',
      ['alice', 'bob'],
      [],
      { verifyRequiredGroups: ['Admins'] },
      [`environment="SSH_KEY_OWNER=alice",verify-required ${sk.type}`],
    ],
    [
      'verify-required and a grant',
      [],
      [grant('alice', 'Admins', '2027-01-10T14:00:00.000Z')],
      { verifyRequiredGroups: ['Admins'] },
      [`environment="SSH_KEY_OWNER=alice",expiry-time="20270110140000",verify-required ${sk.type}`],
    ],
  ] as [string, string[], IndexGrant[], { verifyRequiredGroups: string[] }, string[]][])(
    '%s',
    (_n, members, grants, settings, starts) => {
      const g = groupObject('Admins', members, grants, keys, settings);
      const lines = g.text.split('\n').filter((l) => l !== '');
      expect(lines.map((l) => l.split(' ').slice(0, 2).join(' '))).toEqual(starts);
    },
  );

  it('lists the keys a verify-required group leaves out', () => {
    const g = groupObject('Admins', ['alice', 'bob'], [], keys, { verifyRequiredGroups: ['Admins'] });
    expect(g.omitted).toEqual([
      { user: 'alice', id: 'APKA1', reason: NOT_FIDO_REASON },
      { user: 'bob', id: 'APKA2', reason: NOT_FIDO_REASON },
    ]);
  });
});

describe('lifecycleCounts', () => {
  it('counts published keys expiring within the horizon and keys refused as expired', () => {
    const users = {
      alice: entry(
        [
          { id: 'A', type: 't', fingerprint: 'a', expires: '2027-01-20T00:00:00.000Z' },
          { id: 'B', type: 't', fingerprint: 'b', expires: '2027-03-01T00:00:00.000Z' },
          { id: 'C', type: 't', fingerprint: 'c' },
        ],
        [
          { id: 'D', reason: 'expired' },
          { id: 'E', reason: 'something else' },
        ],
      ),
    };
    expect(lifecycleCounts({ users }, NOW, 14)).toEqual({ expiringSoon: 1, expired: 1 });
  });
});

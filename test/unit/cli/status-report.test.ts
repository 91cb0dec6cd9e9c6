import { describe, expect, it } from 'vitest';
import {
  firstImportReport,
  humanAge,
  progressOf,
  STATUS_EXIT,
  statusReport,
} from '../../../cli/status-report.js';
import { parseIndex } from '../../../contract/index.js';
import { makeKey } from '../../../dev/keys.js';
import { type ImportProgress, serializeProgress } from '../../../lambda/progress.js';
import { indexJson } from '../../helpers/index-fixture.js';

const rsa2048 = makeKey('rsa', 2048);
const rsa3072 = makeKey('rsa', 3072);
const ed = makeKey('ed25519');
const AT = '2026-01-01T00:00:00.000Z';
const at = (s: number) => new Date(Date.parse(AT) + s * 1000);
const key = (id: string, k: typeof ed, extra: object = {}) => ({
  id,
  type: k.type,
  fingerprint: k.fingerprint,
  ...extra,
});

const index = parseIndex(
  indexJson(
    {
      alice: { localName: 'alice', keys: [key('K1', rsa2048), key('K2', ed)] },
      bob: {
        localName: 'bob',
        keys: [
          key('K3', rsa3072),
          key('K4', rsa2048),
          key('tag:ssh-key:laptop', ed, { tagKey: 'ssh-key:laptop' }),
        ],
      },
      carol: {
        localName: 'carol',
        rejectedKeys: [
          { id: 'K5', fingerprint: ed.fingerprint, reason: 'the same public key belongs to IAM user alice' },
          { id: 'tag:ssh-key:dsa', reason: 'unsupported key type "ssh-dss"', tagKey: 'ssh-key:dsa' } as never,
        ],
      },
      'a-very-long-name-that-is-over-32-chars': { localNameProblem: 'longer than 32 characters' },
    },
    AT,
  ).replace(
    '"keyBodies": {}',
    `"keyBodies": ${JSON.stringify({ K1: rsa2048.openssh, K2: ed.openssh, K3: rsa3072.openssh, K4: rsa2048.openssh })}`,
  ),
);

describe('statusReport', () => {
  it('shows what an operator checks first', () => {
    const r = statusReport(index, at(125), 3600);
    expect(r.lines).toEqual([
      `last publish: ${AT} (2 min 5 s ago)`,
      'users: 4  groups: 0  keys: 5  rejected keys: 2  keys from tags: 1',
      'rejected key tag:ssh-key:dsa of carol: unsupported key type "ssh-dss"',
      `rejected key K5 of carol (copied key ${ed.fingerprint}): the same public key belongs to IAM user alice`,
      'users without keys (2): a-very-long-name-that-is-over-32-chars, carol',
      `RSA key under 3072 bits: K1 of alice: 2048 bits (${rsa2048.fingerprint})`,
      `RSA key under 3072 bits: K4 of bob: 2048 bits (${rsa2048.fingerprint})`,
      'no local name for a-very-long-name-that-is-over-32-chars: longer than 32 characters',
    ]);
    expect(r).toMatchObject({ ok: true, exitCode: 0, ageSeconds: 125 });
    expect(r.data).toMatchObject({
      state: 'ok',
      stale: false,
      users: 4,
      keys: 5,
      tagKeys: 1,
      usersWithoutKeys: ['a-very-long-name-that-is-over-32-chars', 'carol'],
      weakRsaKeys: [
        { user: 'alice', id: 'K1', bits: 2048 },
        { user: 'bob', id: 'K4', bits: 2048 },
      ],
      copiedKeyRefusals: [{ user: 'carol', id: 'K5', fingerprint: ed.fingerprint }],
      progress: null,
    });
  });

  it.each([
    [3600, 3600, 0, ''],
    [3601, 3600, STATUS_EXIT.stale, ' STALE: older than 1 h (--max-age 3600)'],
    [90000, 86400, STATUS_EXIT.stale, ' STALE: older than 1 d (--max-age 86400)'],
  ])('age %i s, --max-age %i: exit %i', (age, max, exitCode, suffix) => {
    const r = statusReport(index, at(age), max);
    expect(r.exitCode).toBe(exitCode);
    expect(r.lines[0]).toBe(`last publish: ${AT} (${humanAge(age)} ago)${suffix}`);
    expect(r.data.stale).toBe(exitCode !== 0);
  });

  it('says a resumed run is in progress', () => {
    const p = {
      startedAt: AT,
      savedAt: at(60).toISOString(),
      usersTotal: 900,
      usersRead: 300,
      keyBodiesFetched: 12,
    };
    const r = statusReport(index, at(100), 3600, p);
    expect(r.lines[1]).toBe(
      `a resumed publisher run is in progress: started ${AT}, 300/900 users read, 12 key bodies fetched, progress saved 40 s ago`,
    );
    expect(r.data.progress).toEqual({ ...p, savedSecondsAgo: 40 });
  });
});

describe('firstImportReport', () => {
  it('no index yet, progress saved: first import in progress, exit 3', () => {
    const r = firstImportReport(
      { startedAt: AT, savedAt: at(30).toISOString(), usersRead: 5 },
      at(90),
      's3://b/index.json',
    );
    expect(r.exitCode).toBe(3);
    expect(r.lines[0]).toBe(
      `no s3://b/index.json yet: first import in progress (started ${AT}, 5 users read, progress saved 1 min ago)`,
    );
    expect(r.data).toMatchObject({
      state: 'first-import-in-progress',
      progress: { usersRead: 5, savedSecondsAgo: 60 },
    });
  });
});

// The publisher's parseProgress (lambda/progress.ts) reads it: a file it would not resume from
// (a partial or hand-made one) is not shown as a run in progress.
describe('parseProgress', () => {
  const good = { kind: 'iam-ssh-keys-progress', version: 1, startedAt: AT, savedAt: AT };
  it.each([
    [JSON.stringify(good), undefined],
    [JSON.stringify({ ...good, usersTotal: 3, usersRead: 2, keyBodiesFetched: 1, extra: 'x' }), undefined],
    [JSON.stringify({ ...good, usersRead: -1, usersTotal: 'many' }), undefined],
    [undefined, undefined],
    ['{', undefined],
    ['[]', undefined],
    ['null', undefined],
    [JSON.stringify({ ...good, kind: 'other' }), undefined],
    [JSON.stringify({ ...good, version: 2 }), undefined],
    [JSON.stringify({ ...good, savedAt: 'yesterday' }), undefined],
  ])('%s', (text, want) => expect(progressOf(text)).toEqual(want));

  const saved: ImportProgress = {
    kind: 'iam-ssh-keys-progress',
    version: 1,
    startedAt: AT,
    savedAt: AT,
    runs: 2,
    firstImport: true,
    usersTotal: 3,
    usersRead: 1,
    usersFound: 0,
    keyBodiesFetched: 1,
    keyBodiesMissing: 0,
    keyListsSince: AT,
    keyLists: { alice: { userId: 'AIDAALICE', keys: [{ id: 'APKA1', status: 'Active' }] } },
    keyBodies: { APKA1: 'ssh-ed25519 AAAA' },
  };
  it('a progress.json the publisher wrote: its counters', () =>
    expect(progressOf(serializeProgress(saved))).toEqual({
      startedAt: AT,
      savedAt: AT,
      usersTotal: 3,
      usersRead: 1,
      keyBodiesFetched: 1,
    }));
  it('a progress.json whose counters disagree with its data: not shown', () =>
    expect(progressOf(serializeProgress({ ...saved, usersRead: 5 }))).toBeUndefined());
});

describe('humanAge', () => {
  it.each([
    [0, '0 s'],
    [59, '59 s'],
    [60, '1 min'],
    [75, '1 min 15 s'],
    [3600, '1 h'],
    [7300, '2 h 1 min'],
    [86400, '1 d'],
    [200000, '2 d 7 h'],
  ])('%i', (s, want) => expect(humanAge(s)).toBe(want));
});

describe('statusReport with names that are Object.prototype properties', () => {
  it('a key id `constructor` with no recorded body is not an RSA key to measure (never Object.prototype.constructor)', () => {
    const plain = JSON.parse(
      indexJson({ constructor: { localName: 'constructor', keys: [key('constructor', rsa2048)] } }, AT),
    );
    const r = statusReport(plain, at(1), 3600);
    expect(r.lines[1]).toBe('users: 1  groups: 0  keys: 1  rejected keys: 0  keys from tags: 0');
    expect(r.data).toMatchObject({ weakRsaKeys: [] });
  });
});

describe('statusReport: key lifecycle', () => {
  const NOW = new Date('2027-01-10T12:00:00.000Z');
  const base = JSON.parse(
    indexJson(
      {
        alice: {
          localName: 'alice',
          keys: [
            key('K1', ed, { start: '2026-10-13T00:00:00.000Z', expires: '2027-01-11T00:00:00.000Z' }),
            key('K2', rsa3072, { start: '2026-12-01T00:00:00.000Z', expires: '2027-03-01T00:00:00.000Z' }),
          ],
        },
        bob: {
          localName: 'bob',
          keys: [
            key('tag:ssh-key:laptop', ed, { tagKey: 'ssh-key:laptop', expires: '2027-01-20T00:00:00.000Z' }),
          ],
          rejectedKeys: [
            { id: 'K3', fingerprint: ed.fingerprint, reason: 'expired', expires: '2027-01-01T00:00:00.000Z' },
          ],
        },
      },
      '2027-01-10T11:59:00.000Z',
    ),
  );
  base.groups = {
    Administrators: {
      members: ['alice'],
      verifyRequired: true,
      omittedKeys: [{ user: 'alice', id: 'K1', reason: 'not FIDO' }],
    },
  };
  const grant = (status: 'active' | 'refused', value: string, reason?: string) => ({
    iamUser: 'bob',
    iamUserId: 'AIDABOB',
    group: 'Administrators',
    until: status === 'active' ? value.replace('Z', '.000Z') : null,
    status,
    ...(reason ? { reason } : {}),
    tagKey: 'ssh-grant:Administrators',
    value,
    since: NOW.toISOString(),
  });
  base.grants = [
    grant('active', '2027-01-10T16:00:00Z'),
    { ...grant('refused', 'soon', 'malformed'), iamUser: 'alice' },
  ];
  const index = parseIndex(JSON.stringify(base));

  it.each([
    [
      14,
      [
        'keys expiring within 14 d: 2  expired keys: 1',
        `expires 2027-01-11T00:00:00.000Z: K1 of alice (${ed.fingerprint})`,
        `expires 2027-01-20T00:00:00.000Z: tag:ssh-key:laptop of bob (${ed.fingerprint})`,
      ],
    ],
    [
      1,
      [
        'keys expiring within 1 d: 1  expired keys: 1',
        `expires 2027-01-11T00:00:00.000Z: K1 of alice (${ed.fingerprint})`,
      ],
    ],
    [60, ['keys expiring within 60 d: 3  expired keys: 1']],
  ])(
    '--expiring-within %i lists the keys expiring by then, with owners and dates, soonest first',
    (days, want) => {
      const r = statusReport(index, NOW, 3600, undefined, days);
      const shown = r.lines.filter((l) => l.startsWith('keys expiring') || l.startsWith('expires '));
      expect(shown.slice(0, want.length)).toEqual(want);
      expect((r.data.expiringKeys as unknown[]).length).toBe(Number(want[0]?.split(': ')[1]?.split(' ')[0]));
    },
  );

  it('lists grants (refused ones with the reason) and keys a verify-required group leaves out; --json too', () => {
    const r = statusReport(index, NOW, 3600);
    expect(r.lines.slice(-3)).toEqual([
      'grant: bob -> Administrators until 2027-01-10T16:00:00.000Z',
      'refused grant: alice -> Administrators (tag ssh-grant:Administrators = "soon"): malformed',
      'left out of group Administrators: K1 of alice: not FIDO',
    ]);
    expect(r.data).toMatchObject({
      expiringWithinDays: 14,
      expiredKeys: 1,
      expiringKeys: [
        { user: 'alice', id: 'K1', fingerprint: ed.fingerprint, expires: '2027-01-11T00:00:00.000Z' },
        {
          user: 'bob',
          id: 'tag:ssh-key:laptop',
          tagKey: 'ssh-key:laptop',
          expires: '2027-01-20T00:00:00.000Z',
        },
      ],
      keysLeftOutOfGroups: [{ group: 'Administrators', user: 'alice', id: 'K1', reason: 'not FIDO' }],
    });
    expect((r.data.grants as { status: string }[]).map((g) => g.status)).toEqual(['active', 'refused']);
  });

  it('an expired key is a rejected key, not a copied one', () => {
    const r = statusReport(index, NOW, 3600);
    expect(r.lines).toContain('rejected key K3 of bob: expired');
    expect(r.data.copiedKeyRefusals).toEqual([]);
  });

  it('says nothing of lifecycle when no key expires', () => {
    const r = statusReport(
      parseIndex(indexJson({ carol: { localName: 'carol', keys: [key('K9', ed)] } }, AT)),
      at(1),
      3600,
    );
    expect(r.lines.some((l) => /expir|grant|left out/.test(l))).toBe(false);
  });
});

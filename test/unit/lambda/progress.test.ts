import { describe, expect, it } from 'vitest';
import { parseLayoutKey } from '../../../contract/index.js';
import type { PartialRead } from '../../../lambda/iam-source.js';
import {
  describeProgress,
  type ImportProgress,
  nextProgress,
  PROGRESS_KIND,
  ProgressFormatError,
  parseProgress,
  progressKey,
  resume,
  serializeProgress,
  withoutKeyLists,
} from '../../../lambda/progress.js';

const T0 = '2026-01-01T00:00:00.000Z';
const T1 = '2026-01-01T00:15:00.000Z';
const valid: ImportProgress = {
  kind: PROGRESS_KIND,
  version: 1,
  startedAt: T0,
  savedAt: T1,
  runs: 2,
  firstImport: true,
  usersTotal: 3,
  usersRead: 2,
  keyBodiesFetched: 1,
  keyBodiesMissing: 1,
  keyListsSince: T0,
  keyLists: {
    alice: {
      userId: 'AIDAALICE',
      keys: [
        { id: 'APKA1', status: 'Active', uploadDate: new Date(T0) },
        { id: 'APKA2', status: 'Active' },
      ],
    },
    bob: { userId: 'AIDABOB', keys: [{ id: 'APKA3', status: 'Inactive' }] },
  },
  keyBodies: { APKA1: 'ssh-ed25519 AAAA' },
};

describe('progress.json', () => {
  it('lives outside the layout: never a principal, never planned or deleted as one', () => {
    expect(progressKey('p/')).toBe('p/publisher/progress.json');
    expect(parseLayoutKey('p/', progressKey('p/'))).toBeUndefined();
    expect(parseLayoutKey('', progressKey(''))).toBeUndefined();
  });

  it('round-trips through serializeProgress and parseProgress', () => {
    expect(parseProgress(serializeProgress(valid))).toEqual(valid);
  });

  it('keeps key lists of users named like Object.prototype properties (valid IAM names)', () => {
    const names = ['__proto__', 'constructor', 'toString'];
    const text = serializeProgress(valid).replace(
      '"keyLists":{',
      `"keyLists":{${names.map((n) => `"${n}": {"userId": "AIDA${n.length}", "keys": []},`).join('')}`,
    );
    const p = parseProgress(text.replace('"usersRead":2', '"usersRead":5'));
    expect(Object.keys(p.keyLists).sort()).toEqual([...names, 'alice', 'bob'].sort());
    const rest = withoutKeyLists(p, ['constructor', 'valueOf']);
    expect(Object.keys(rest.keyLists).sort()).toEqual(['__proto__', 'alice', 'bob', 'toString']);
    expect(parseProgress(serializeProgress(rest)).usersRead).toBe(4);
  });

  const mutate = (f: (o: Record<string, unknown>) => void) => {
    const o = JSON.parse(serializeProgress(valid)) as Record<string, unknown>;
    f(o);
    return JSON.stringify(o);
  };
  it.each([
    ['not JSON', '{"kind":', /not JSON/],
    ['an array', '[]', /not an object/],
    ['another kind', mutate((o) => (o.kind = 'iam-ssh-keys-index')), /kind/],
    ['a newer version', mutate((o) => (o.version = 2)), /unsupported version 2/],
    ['startedAt not a time', mutate((o) => (o.startedAt = 'soon')), /startedAt/],
    ['a negative count', mutate((o) => (o.usersTotal = -1)), /usersTotal/],
    ['a fractional count', mutate((o) => (o.runs = 1.5)), /runs/],
    ['firstImport missing', mutate((o) => delete o.firstImport), /firstImport/],
    ['keyLists missing', mutate((o) => delete o.keyLists), /keyLists/],
    [
      'a list without userId',
      mutate((o) => ((o.keyLists as Record<string, unknown>).bob = { keys: [] })),
      /userId/,
    ],
    [
      'a key with a bad status',
      mutate(
        (o) =>
          ((o.keyLists as Record<string, unknown>).bob = {
            userId: 'AIDAB',
            keys: [{ id: 'K', status: 'On' }],
          }),
      ),
      /invalid status/,
    ],
    [
      'a key id with a slash',
      mutate(
        (o) =>
          ((o.keyLists as Record<string, unknown>).bob = {
            userId: 'AIDAB',
            keys: [{ id: 'a/b', status: 'Active' }],
          }),
      ),
      /no valid id/,
    ],
    [
      'a body that is not text',
      mutate((o) => ((o.keyBodies as Record<string, unknown>).APKA1 = 7)),
      /key body APKA1/,
    ],
    ['usersRead that disagrees with keyLists', mutate((o) => (o.usersRead = 5)), /usersRead does not match/],
    [
      'keyBodiesFetched that disagrees',
      mutate((o) => (o.keyBodiesFetched = 0)),
      /keyBodiesFetched does not match/,
    ],
  ])('refuses %s', (_what, text, message) => {
    expect(() => parseProgress(text)).toThrow(ProgressFormatError);
    expect(() => parseProgress(text)).toThrow(message);
  });
});

describe('resume', () => {
  const now = Date.parse(T1);
  const sixHours = 6 * 3600_000;
  it('no file: nothing to reuse, no warning', () => {
    expect(resume(undefined, now, sixHours)).toEqual({
      keyLists: new Map(),
      keyBodies: new Map(),
      warnings: [],
    });
  });
  it('a fresh file: lists and bodies reused', () => {
    const r = resume(serializeProgress(valid), now, sixHours);
    expect([...r.keyLists.keys()]).toEqual(['alice', 'bob']);
    expect(r.keyBodies.get('APKA1')).toBe('ssh-ed25519 AAAA');
    expect(r.warnings).toEqual([]);
  });
  it('lists older than the bound: dropped with a warning, bodies kept', () => {
    const r = resume(serializeProgress(valid), Date.parse(T0) + sixHours + 1, sixHours);
    expect(r.keyLists.size).toBe(0);
    expect(r.keyBodies.size).toBe(1);
    expect(r.progress?.runs).toBe(2);
    expect(r.warnings[0]).toMatch(/older than 360 min: reading them again \(1 saved key bodies kept\)/);
  });
  it('a malformed file: ignored with a warning, never a crash', () => {
    const r = resume('{"kind":"iam-ssh-keys-progress","version":1}', now, sixHours);
    expect(r.progress).toBeUndefined();
    expect(r.keyLists.size + r.keyBodies.size).toBe(0);
    expect(r.warnings[0]).toMatch(/^ignoring unreadable progress \(progress.json: /);
  });
});

describe('nextProgress', () => {
  const partial = (over: Partial<PartialRead> = {}): PartialRead => ({
    usersTotal: 3,
    keyLists: new Map([
      ['alice', valid.keyLists.alice as ImportProgress['keyLists'][string]],
      ['carol', { userId: 'AIDACAROL', keys: [{ id: 'APKA4', status: 'Active' as const }] }],
    ]),
    fetched: new Map([['APKA2', 'ssh-ed25519 BBBB']]),
    ...over,
  });
  const base = {
    knownBodies: new Map<string, string>(),
    knownRejected: new Set<string>(),
    noIndex: true,
    started: new Date(T1),
    now: new Date('2026-01-01T00:29:00.000Z'),
  };

  it('the first run of a series starts it now', () => {
    const p = nextProgress({ ...base, resumed: resume(undefined, 0, 1), partial: partial() });
    expect(p).toMatchObject({
      startedAt: T1,
      savedAt: '2026-01-01T00:29:00.000Z',
      runs: 1,
      firstImport: true,
      usersTotal: 3,
      usersRead: 2,
      keyBodiesFetched: 1,
      keyBodiesMissing: 2, // APKA1 (alice) and APKA4 (carol)
      keyListsSince: T1,
    });
    expect(() => parseProgress(serializeProgress(p))).not.toThrow();
  });

  it('a later run keeps the series start, the oldest list time, and every body', () => {
    const resumed = resume(serializeProgress(valid), Date.parse(T1), 6 * 3600_000);
    const p = nextProgress({ ...base, noIndex: false, resumed, partial: partial() });
    expect(p).toMatchObject({ startedAt: T0, runs: 3, firstImport: true, keyListsSince: T0 });
    expect(Object.keys(p.keyBodies)).toEqual(['APKA1', 'APKA2']);
    // bob is gone from IAM (not in the partial read): his list is not kept.
    expect(Object.keys(p.keyLists)).toEqual(['alice', 'carol']);
    expect(p.keyBodiesMissing).toBe(1);
  });

  it('bodies in index.json and rejected keys are not counted as missing', () => {
    const p = nextProgress({
      ...base,
      knownBodies: new Map([['APKA1', 'x']]),
      knownRejected: new Set(['APKA4']),
      resumed: resume(undefined, 0, 1),
      partial: partial(),
    });
    expect(p.keyBodiesMissing).toBe(0);
  });

  it('a read cut short before IAM answered anything keeps the users total of the series', () => {
    const resumed = resume(serializeProgress(valid), Date.parse(T1), 6 * 3600_000);
    const p = nextProgress({
      ...base,
      resumed,
      partial: { usersTotal: undefined, keyLists: resumed.keyLists, fetched: new Map() },
    });
    expect(p).toMatchObject({ usersTotal: 3, usersRead: 2, keyBodiesFetched: 1 });
  });

  it('withoutKeyLists drops the named users so the finishing run reads them again', () => {
    const p = withoutKeyLists(valid, ['alice', 'nobody']);
    expect(Object.keys(p.keyLists)).toEqual(['bob']);
    expect(() => parseProgress(serializeProgress(p))).not.toThrow();
  });
});

describe('describeProgress', () => {
  it.each([
    [
      'a first import',
      valid,
      '2026-01-01T00:16:00.000Z',
      'first import in progress: 2 of 3 users read, 1 key bodies fetched, 1 to fetch for the users read; 2 runs since 2026-01-01T00:00:00.000Z (16 min ago), last saved 2026-01-01T00:15:00.000Z (60 s ago)',
      'first-import-in-progress',
    ],
    [
      'a steady series, all bodies known, users total unknown',
      { ...valid, firstImport: false, usersTotal: 0, keyBodiesMissing: 0, runs: 1 },
      '2026-01-01T03:00:00.000Z',
      'publish in progress (runs ran out of time): 2 users read, 1 key bodies fetched; 1 run since 2026-01-01T00:00:00.000Z (3.0 h ago), last saved 2026-01-01T00:15:00.000Z (2.8 h ago)',
      'publish-in-progress',
    ],
  ])('%s', (_what, p, now, line, state) => {
    const d = describeProgress(p, new Date(now));
    expect(d.lines).toEqual([line]);
    expect(d.data.state).toBe(state);
    expect(d.data.usersRead).toBe(2);
    expect(d.data).not.toHaveProperty('keyBodies');
    expect(d.data).not.toHaveProperty('keyLists');
  });
});

import { describe, expect, it } from 'vitest';
import { INDEX_VERSION, parseIndex, serializeIndex } from '../../../contract/index-schema.js';

const good = {
  version: INDEX_VERSION,
  generatedAt: '2026-01-01T00:00:00.000Z',
  users: {
    alice: { userId: 'AIDAALICE0000000001', localName: 'alice', uid: 20000, groups: ['admins'], keys: [] },
  },
  groups: { admins: { members: ['alice'] } },
  keyBodies: {},
  uids: { AIDAALICE0000000001: 20000 },
  retiredUids: { 'left.before.v2': 19999 },
  nextUid: 20001,
};

/** What a version 1 publisher wrote: uids by name, no userId. */
const v1 = {
  version: 1,
  generatedAt: '2026-01-01T00:00:00.000Z',
  users: { 'bob@x': { localName: 'bob.at.x', uid: 20000, groups: [], keys: [] } },
  groups: {},
  keyBodies: {},
  uids: { 'bob@x': 20000, 'gone+1': 20001 },
  nextUid: 20002,
};

describe('parseIndex', () => {
  it('round-trips with sorted keys', () => {
    const text = serializeIndex(parseIndex(JSON.stringify(good)));
    expect(parseIndex(text)).toEqual(good);
    expect(text.indexOf('"generatedAt"')).toBeLessThan(text.indexOf('"version"'));
  });
  it('writes version 2 and still reads version 1 (hosts read both while publishers are upgraded)', () => {
    expect(INDEX_VERSION).toBe(2);
    expect(parseIndex(JSON.stringify(v1))).toEqual(v1);
  });
  it.each([
    ['not JSON', '{', /not valid JSON/],
    ['an array', '[]', /not an object/],
    ['a newer version', JSON.stringify({ ...good, version: 3 }), /unsupported version 3/],
    ['no version', JSON.stringify({ ...good, version: undefined }), /unsupported version/],
    ['no generatedAt', JSON.stringify({ ...good, generatedAt: 'yesterday' }), /generatedAt/],
    ['no users', JSON.stringify({ ...good, users: undefined }), /lacks users/],
    [
      'hostile local name',
      JSON.stringify({ ...good, users: { alice: { ...good.users.alice, localName: '../root' } } }),
      /bad localName/,
    ],
    ['uid 0', JSON.stringify({ ...good, users: { alice: { ...good.users.alice, uid: 0 } } }), /bad uid/],
    ['bad user name', JSON.stringify({ ...good, users: { 'a b': good.users.alice } }), /bad user entry/],
    [
      'bad group list',
      JSON.stringify({ ...good, users: { alice: { ...good.users.alice, groups: ['a/b'] } } }),
      /bad groups/,
    ],
    ['bad key body', JSON.stringify({ ...good, keyBodies: { K: 1 } }), /bad key body/],
    [
      'version 2 without a userId',
      JSON.stringify({ ...good, users: { alice: { ...good.users.alice, userId: undefined } } }),
      /bad userId for alice/,
    ],
    [
      'a userId that is no IAM id',
      JSON.stringify({ ...good, users: { alice: { ...good.users.alice, userId: 'a/b' } } }),
      /bad userId/,
    ],
    [
      'version 2 uids keyed by name',
      JSON.stringify({ ...good, uids: { 'alice@example.com': 20000 } }),
      /not keyed by IAM user id/,
    ],
    ['bad retired uid', JSON.stringify({ ...good, retiredUids: { x: 'one' } }), /bad uid for x/],
    ['retiredUids in version 1', JSON.stringify({ ...v1, retiredUids: {} }), /bad retiredUids/],
  ])('refuses %s', (_n, text, reason) => {
    expect(() => parseIndex(text)).toThrow(reason);
  });
});

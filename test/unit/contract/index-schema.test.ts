import { describe, expect, it } from 'vitest';
import { INDEX_VERSION, parseIndex, serializeIndex } from '../../../contract/index-schema.js';

const good = {
  version: INDEX_VERSION,
  generatedAt: '2026-01-01T00:00:00.000Z',
  users: { alice: { localName: 'alice', uid: 20000, groups: ['admins'], keys: [] } },
  groups: { admins: { members: ['alice'] } },
  keyBodies: {},
  uids: { alice: 20000 },
  nextUid: 20001,
};

describe('parseIndex', () => {
  it('round-trips with sorted keys', () => {
    const text = serializeIndex(parseIndex(JSON.stringify(good)));
    expect(parseIndex(text)).toEqual(good);
    expect(text.indexOf('"generatedAt"')).toBeLessThan(text.indexOf('"version"'));
  });
  it.each([
    ['not JSON', '{', /not valid JSON/],
    ['an array', '[]', /not an object/],
    ['another version', JSON.stringify({ ...good, version: 2 }), /unsupported version/],
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
  ])('refuses %s', (_n, text, reason) => {
    expect(() => parseIndex(text)).toThrow(reason);
  });
});

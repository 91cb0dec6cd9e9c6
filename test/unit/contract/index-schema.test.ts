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

function withKeys(keys: unknown[], rejectedKeys?: unknown): string {
  return JSON.stringify({ ...good, users: { alice: { ...good.users.alice, keys, rejectedKeys } } });
}

describe('parseIndex', () => {
  it('reads tag keys (published and refused) beside key-store keys, and indexes without them', () => {
    const text = withKeys(
      [
        { id: 'APKA1', type: 'ssh-rsa', fingerprint: 'SHA256:a' },
        {
          id: 'tag:ssh-key:Ünï cödé',
          tagKey: 'ssh-key:Ünï cödé',
          type: 'ssh-ed25519',
          fingerprint: 'SHA256:b',
        },
      ],
      [{ id: 'tag:ssh-key:old', tagKey: 'ssh-key:old', reason: 'tag value longer than IAM allows' }],
    );
    expect(parseIndex(text).users.alice?.keys[1]?.tagKey).toBe('ssh-key:Ünï cödé');
    expect(parseIndex(text).users.alice?.rejectedKeys?.[0]?.tagKey).toBe('ssh-key:old');
    expect(parseIndex(withKeys([{ id: 'APKA1', type: 'ssh-rsa', fingerprint: 'SHA256:a' }]))).toBeTruthy();
  });

  it.each([
    [
      'a key',
      [{ id: 'APKA1', type: 'ssh-rsa', fingerprint: 'SHA256:a', activeSince: '2026-01-01T00:00:00.000Z' }],
      undefined,
      true,
    ],
    [
      'a refused copy',
      [],
      [{ id: 'APKA2', reason: 'copy', fingerprint: 'SHA256:a', activeSince: '2026-01-01T00:00:00.000Z' }],
      true,
    ],
    [
      'not a date',
      [{ id: 'APKA1', type: 'ssh-rsa', fingerprint: 'SHA256:a', activeSince: 'yesterday' }],
      undefined,
      false,
    ],
    [
      'not a string',
      [{ id: 'APKA1', type: 'ssh-rsa', fingerprint: 'SHA256:a', activeSince: 1 }],
      undefined,
      false,
    ],
  ])('activeSince on %s: read when a valid time', (_n, keys, rejected, ok) => {
    const parse = () => parseIndex(withKeys(keys, rejected));
    if (ok) expect(parse()).toBeTruthy();
    else expect(parse).toThrow(/bad (keys|rejectedKeys) for alice/);
  });

  it('name-keyed records have no prototype: `__proto__` is a user, `constructor` is nobody', () => {
    const text = JSON.stringify(good).replace(
      '"users":{',
      '"users":{"__proto__":{"userId":"AIDAPROTO","localName":"__proto__","uid":20002,"groups":[],"keys":[]},',
    );
    const index = parseIndex(text);
    expect(Object.keys(index.users)).toEqual(['__proto__', 'alice']);
    for (const r of [index.users, index.groups, index.keyBodies, index.uids, index.retiredUids ?? {}])
      expect(Object.getPrototypeOf(r)).toBeNull();
    expect(index.users.constructor).toBeUndefined();
    expect(index.groups.toString).toBeUndefined();
    expect(serializeIndex(parseIndex(serializeIndex(index)))).toBe(serializeIndex(index));
    expect(serializeIndex(index)).toContain('"__proto__": {');
  });

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
    [
      'a key without an id',
      withKeys([{ type: 'ssh-ed25519', fingerprint: 'SHA256:x' }]),
      /bad keys for alice/,
    ],
    [
      'a tag key whose id is not tag:<tag key>',
      withKeys([{ id: 'tag:ssh-key:b', tagKey: 'ssh-key:a', type: 'ssh-ed25519', fingerprint: 'SHA256:x' }]),
      /bad keys for alice/,
    ],
    [
      'a tag key IAM could not have (#)',
      withKeys([{ id: 'tag:ssh-key:#', tagKey: 'ssh-key:#', type: 'ssh-ed25519', fingerprint: 'SHA256:x' }]),
      /bad keys for alice/,
    ],
    [
      'a refused tag key with a mismatched id',
      withKeys([], [{ id: 'APKA1', tagKey: 'ssh-key:a', reason: 'r' }]),
      /bad rejectedKeys for alice/,
    ],
    ['rejectedKeys that is no list', withKeys([], 'none'), /bad rejectedKeys for alice/],
  ])('refuses %s', (_n, text, reason) => {
    expect(() => parseIndex(text)).toThrow(reason);
  });
});

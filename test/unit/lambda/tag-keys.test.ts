// Keys from IAM user tags: which tags are keys, how they are published beside
// the key store, and who keeps a key copied across both stores.
import { createHash, generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  type PublishedIndex,
  parseIndex,
  parsePublicKeyText,
  serializeIndex,
} from '../../../contract/index.js';
import { makeKey, makeSkKey, type TestKey } from '../../../dev/keys.js';
import type { IamSnapshot, IamUser } from '../../../lambda/iam-source.js';
import { copiedKeyReason, DUPLICATE_KEY_REASON, knownKeyBodies, render } from '../../../lambda/render.js';
import { tagKeysOf } from '../../../lambda/tag-keys.js';

const ed = makeKey('ed25519');
const ed2 = makeKey('ed25519');
const rsa = makeKey('rsa');
const ec = makeKey('ecdsa');
const skEd = makeSkKey('ed25519');
const skEc = makeSkKey('ecdsa');
function ecdsa(curve: 'P-384' | 'P-521'): TestKey {
  const pem = generateKeyPairSync('ec', { namedCurve: curve })
    .publicKey.export({ type: 'spki', format: 'pem' })
    .toString();
  const r = parsePublicKeyText(pem);
  if (!r.ok) throw new Error(r.reason);
  return { openssh: `${r.key.type} ${r.key.blob}`, ...r.key };
}
const ec384 = ecdsa('P-384');
const ec521 = ecdsa('P-521');

const now = new Date('2026-01-02T03:04:05.000Z');
const opts = { prefix: '', uidBase: 5000, now };
const T1 = new Date('2025-01-01T00:00:00Z');
const T2 = new Date('2025-06-01T00:00:00Z');
const idOf = (name: string) =>
  `AIDA${createHash('sha256').update(name).digest('hex').slice(0, 17).toUpperCase()}`;
const line = (owner: string, k: { type: string; blob: string }) =>
  `environment="SSH_KEY_OWNER=${owner}" ${k.type} ${k.blob} ${owner}\n`;

type UserIn = Omit<IamUser, 'id' | 'keys' | 'groups'> & Partial<Pick<IamUser, 'keys' | 'groups'>>;
function snap(users: UserIn[], bodies: Record<string, string> = {}): IamSnapshot {
  return {
    users: users.map((u) => ({ groups: ['g'], keys: [], ...u, id: idOf(u.name) })),
    groups: ['g'],
    bodies: new Map(Object.entries(bodies)),
  };
}
const userObject = (r: ReturnType<typeof render>, name: string) =>
  r.objects.get(`users/${name}/authorized_keys`);

describe('tagKeysOf', () => {
  it.each([
    ['ed25519', ed],
    ['ecdsa P-256', ec],
    ['ecdsa P-384', ec384],
    ['ecdsa P-521 (the longest that fits: 252 characters)', ec521],
    ['sk-ssh-ed25519@openssh.com', skEd],
    ['sk-ecdsa-sha2-nistp256@openssh.com', skEc],
  ])('accepts %s', (_n, k) => {
    expect(k.openssh.length).toBeLessThanOrEqual(256);
    const [t] = tagKeysOf({ tags: [{ key: 'ssh-key:x', value: k.openssh }] }, 'ssh-key:');
    expect(t).toEqual({
      id: 'tag:ssh-key:x',
      tagKey: 'ssh-key:x',
      value: k.openssh,
      key: expect.objectContaining({ fingerprint: k.fingerprint }),
    });
  });

  it.each([
    ['a comment', `${ed.openssh} me@laptop`, "tag value is not '<key type> <base64>'"],
    ['options', `from="10.0.0.1" ${ed.openssh}`, "tag value is not '<key type> <base64>'"],
    ['PEM', '-----BEGIN PUBLIC KEY-----', "tag value is not '<key type> <base64>'"],
    ['over 256 characters (RSA)', rsa.openssh, 'tag value longer than IAM allows'],
    ['ssh-dss', 'ssh-dss AAAAB3NzaC1kc3M=', 'unsupported key type "ssh-dss"'],
    ['a type/blob mismatch', `ssh-ed25519 ${ec.blob}`, 'key blob does not hold a ssh-ed25519 key'],
    ['an empty value', '', "tag value is not '<key type> <base64>'"],
  ])('refuses %s with a reason', (_n, value, reason) => {
    expect(tagKeysOf({ tags: [{ key: 'ssh-key:x', value }] }, 'ssh-key:')).toEqual([
      { id: 'tag:ssh-key:x', tagKey: 'ssh-key:x', value, reason },
    ]);
  });

  it('takes only tags with the prefix (case-sensitive), in tag key order', () => {
    const tags = [
      { key: 'team', value: 'ops' },
      { key: 'ssh-key:b', value: ed2.openssh },
      { key: 'SSH-KEY:c', value: ed.openssh },
      { key: 'ssh-key:a', value: ed.openssh },
    ];
    expect(tagKeysOf({ tags }, 'ssh-key:').map((t) => t.tagKey)).toEqual(['ssh-key:a', 'ssh-key:b']);
    expect(tagKeysOf({ tags }, 'team').map((t) => t.id)).toEqual(['tag:team']);
  });
});

describe('render with tag keys', () => {
  it('publishes a tag key in the same line format, after the key-store keys, and records it in index.json', () => {
    const r = render(
      snap(
        [
          {
            name: 'alice',
            keys: [{ id: 'APKA1', status: 'Active', uploadDate: T1 }],
            tags: [
              { key: 'ssh-key:yubikey', value: skEd.openssh },
              { key: 'ssh-key:laptop', value: ed.openssh },
              { key: 'cost-center', value: '42' },
            ],
          },
        ],
        { APKA1: rsa.openssh },
      ),
      undefined,
      opts,
    );
    expect(userObject(r, 'alice')).toBe(line('alice', rsa) + line('alice', ed) + line('alice', skEd));
    expect(r.objects.get('groups/g/authorized_keys')).toBe(userObject(r, 'alice'));
    expect(r.index.users.alice?.keys).toEqual([
      { id: 'APKA1', type: 'ssh-rsa', fingerprint: rsa.fingerprint },
      {
        id: 'tag:ssh-key:laptop',
        tagKey: 'ssh-key:laptop',
        type: 'ssh-ed25519',
        fingerprint: ed.fingerprint,
      },
      {
        id: 'tag:ssh-key:yubikey',
        tagKey: 'ssh-key:yubikey',
        type: 'sk-ssh-ed25519@openssh.com',
        fingerprint: skEd.fingerprint,
      },
    ]);
    expect(r.index.keyBodies).toEqual({
      APKA1: rsa.openssh,
      [`tag:${idOf('alice')}:ssh-key:laptop`]: ed.openssh,
      [`tag:${idOf('alice')}:ssh-key:yubikey`]: skEd.openssh,
    });
    expect(r.keyCount).toBe(3);
    expect(r.problems).toEqual([]);
    // The index parses back, tag keys and all, and serialises to the same bytes.
    const text = serializeIndex(r.index);
    expect(serializeIndex(parseIndex(text))).toBe(text);
  });

  it('uses the configured prefix and nothing else', () => {
    const s = snap([
      {
        name: 'bob',
        tags: [
          { key: 'ssh-key:a', value: ed.openssh },
          { key: 'corp/ssh:b', value: ec.openssh },
        ],
      },
    ]);
    expect(userObject(render(s, undefined, { ...opts, tagKeyPrefix: 'corp/ssh:' }), 'bob')).toBe(
      line('bob', ec),
    );
    expect(userObject(render(s, undefined, opts), 'bob')).toBe(line('bob', ed));
  });

  it("lists a refused tag under the user's rejectedKeys with its tag key and reason", () => {
    const r = render(
      snap([{ name: 'carol', tags: [{ key: 'ssh-key:old', value: rsa.openssh }] }]),
      undefined,
      opts,
    );
    expect(userObject(r, 'carol')).toBe('');
    expect(r.index.users.carol?.rejectedKeys).toEqual([
      { id: 'tag:ssh-key:old', tagKey: 'ssh-key:old', reason: 'tag value longer than IAM allows' },
    ]);
    expect(r.problems).toEqual([
      {
        user: 'carol',
        keyId: 'tag:ssh-key:old',
        tagKey: 'ssh-key:old',
        reason: 'tag value longer than IAM allows',
      },
    ]);
    // Its value is recorded as IAM holds it, so a targeted run can restore the tag of an untouched user.
    expect(Object.values(r.index.keyBodies)).toEqual([rsa.openssh]);
    expect(Object.keys(r.index.keyBodies)).toEqual([`tag:${r.index.users.carol?.userId}:ssh-key:old`]);
  });

  it.each([
    [
      'in the key store and a tag: the key-store line, once',
      {
        keys: [{ id: 'APKA1', status: 'Active' as const, uploadDate: T1 }],
        tags: [{ key: 'ssh-key:a', value: ec.openssh }],
      },
      'APKA1',
      'tag:ssh-key:a',
    ],
    [
      'in two tags: the first tag key, once',
      {
        tags: [
          { key: 'ssh-key:b', value: ec.openssh },
          { key: 'ssh-key:a', value: ec.openssh },
        ],
      },
      'tag:ssh-key:a',
      'tag:ssh-key:b',
    ],
  ])('a user holding one key twice, %s', (_n, u, publishedId, duplicateId) => {
    const r = render(snap([{ name: 'dave', ...u }], { APKA1: ec.openssh }), undefined, opts);
    expect(userObject(r, 'dave')).toBe(line('dave', ec));
    expect(r.index.users.dave?.keys.map((k) => k.id)).toEqual([publishedId]);
    expect(r.index.users.dave?.rejectedKeys).toEqual([
      expect.objectContaining({
        id: duplicateId,
        fingerprint: ec.fingerprint,
        reason: `the same public key as ${publishedId} of this user, which is published: listed once`,
      }),
    ]);
  });

  describe('a key copied across the stores: a copy never takes a key from its first holder', () => {
    // 'aaron' sorts first: the rule must not depend on names.
    const victim = (tagged: boolean) =>
      tagged
        ? { name: 'zoe', tags: [{ key: 'ssh-key:laptop', value: ed.openssh }] }
        : { name: 'zoe', keys: [{ id: 'APKAZ', status: 'Active' as const, uploadDate: T2 }], tags: [] };
    const previousWith = (s: IamSnapshot, holder: string): PublishedIndex => {
      const only = { ...s, users: s.users.filter((u) => u.name === holder) };
      return render(only, undefined, opts).index;
    };

    it.each([
      [
        'a tag copy of a published tag key',
        true,
        { name: 'aaron', tags: [{ key: 'ssh-key:x', value: ed.openssh }] },
      ],
      [
        'an earlier-dated key-store copy of a published tag key',
        true,
        { name: 'aaron', keys: [{ id: 'APKAA', status: 'Active' as const, uploadDate: T1 }], tags: [] },
      ],
      [
        'a tag copy of a published key-store key',
        false,
        { name: 'aaron', tags: [{ key: 'ssh-key:x', value: ed.openssh }] },
      ],
    ])('%s is refused; the holder keeps it', (_n, tagged, copier) => {
      const s = snap([victim(tagged), copier], { APKAZ: ed.openssh, APKAA: ed.openssh });
      const r = render(s, previousWith(s, 'zoe'), opts);
      expect(userObject(r, 'zoe')).toBe(line('zoe', ed));
      expect(userObject(r, 'aaron')).toBe('');
      expect(r.index.users.aaron?.rejectedKeys).toEqual([
        expect.objectContaining({ fingerprint: ed.fingerprint, reason: copiedKeyReason('zoe') }),
      ]);
      expect(r.problems).toContainEqual(
        expect.objectContaining({ user: 'aaron', firstHolder: 'zoe', sharedWith: ['zoe'] }),
      );
    });

    it('a tag copy seen in the same run as the original (nothing published yet): every copy refused', () => {
      const s = snap(
        [
          victim(true),
          { name: 'aaron', keys: [{ id: 'APKAA', status: 'Active', uploadDate: T1 }], tags: [] },
        ],
        {
          APKAA: ed.openssh,
        },
      );
      const r = render(s, undefined, opts);
      expect(userObject(r, 'zoe')).toBe('');
      expect(userObject(r, 'aaron')).toBe('');
      expect(r.index.users.zoe?.rejectedKeys).toEqual([
        {
          id: 'tag:ssh-key:laptop',
          tagKey: 'ssh-key:laptop',
          fingerprint: ed.fingerprint,
          activeSince: now.toISOString(),
          reason: DUPLICATE_KEY_REASON,
        },
      ]);
    });

    it("a user's claim dates from their earliest Active copy, key store or tag", () => {
      const s = (zoeInStore: boolean) =>
        snap(
          [
            {
              name: 'zoe',
              keys: zoeInStore ? [{ id: 'APKAZ', status: 'Active', uploadDate: T1 }] : [],
              tags: [{ key: 'ssh-key:a', value: ed.openssh }],
            },
            { name: 'aaron', keys: [{ id: 'APKAA', status: 'Active', uploadDate: T2 }], tags: [] },
          ],
          { APKAZ: ed.openssh, APKAA: ed.openssh },
        );
      // Both first seen by the same run: a tie. zoe's later key-store copy does not move her claim.
      const r1 = render(s(false), undefined, opts);
      const r2 = render(s(true), parseIndex(serializeIndex(r1.index)), {
        ...opts,
        now: new Date(now.getTime() + 1),
      });
      expect(userObject(r2, 'zoe')).toBe('');
      expect(userObject(r2, 'aaron')).toBe('');
      expect(r2.problems.filter((p) => p.reason === DUPLICATE_KEY_REASON).map((p) => p.user)).toEqual(
        ['zoe', 'zoe', 'aaron'].sort(),
      );
    });
  });

  it('a changed tag value is read afresh: tag bodies are never a cache and their rejections never carried', () => {
    const first = render(
      snap([{ name: 'erin', tags: [{ key: 'ssh-key:a', value: 'garbage' }] }]),
      undefined,
      opts,
    );
    expect(first.index.users.erin?.rejectedKeys?.[0]?.id).toBe('tag:ssh-key:a');
    const known = knownKeyBodies(first.index);
    expect([...known.rejectedIds]).toEqual([]);
    const second = render(
      snap([{ name: 'erin', tags: [{ key: 'ssh-key:a', value: ed.openssh }] }]),
      first.index,
      opts,
    );
    expect(userObject(second, 'erin')).toBe(line('erin', ed));
    const third = render(
      snap([{ name: 'erin', tags: [{ key: 'ssh-key:a', value: ed2.openssh }] }]),
      second.index,
      opts,
    );
    expect(userObject(third, 'erin')).toBe(line('erin', ed2));
    expect([...knownKeyBodies(third.index).bodies.keys()]).toEqual([]);
  });
});

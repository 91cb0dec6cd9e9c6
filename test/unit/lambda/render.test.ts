import { describe, expect, it } from 'vitest';
import { parseIndex, serializeIndex } from '../../../contract/index.js';
import type { IamSnapshot, IamUser } from '../../../lambda/iam-source.js';
import { DUPLICATE_KEY_REASON, knownKeyBodies, render } from '../../../lambda/render.js';
import { makeKey } from '../../helpers/keys.js';

const k1 = makeKey('ed25519');
const k2 = makeKey('rsa');
const k3 = makeKey('ecdsa');
const now = new Date('2026-01-02T03:04:05.000Z');
const opts = { prefix: 'p/', uidBase: 5000, now };

function snap(users: IamUser[], groups: string[], bodies: Record<string, string>): IamSnapshot {
  return { users, groups, bodies: new Map(Object.entries(bodies)) };
}
const line = (owner: string, k: { type: string; blob: string }) =>
  `environment="SSH_KEY_OWNER=${owner}" ${k.type} ${k.blob} ${owner}\n`;

describe('render', () => {
  const base = snap(
    [
      {
        name: 'zed',
        groups: ['g1', 'g2'],
        keys: [
          { id: 'K2', status: 'Active' },
          { id: 'K1', status: 'Active' },
        ],
      },
      { name: 'a+b=c,d@e.f_g-h', groups: ['g1'], keys: [{ id: 'K3', status: 'Active' }] },
      { name: 'nokeys', groups: [], keys: [] },
      { name: 'inactive', groups: ['g2'], keys: [{ id: 'K9', status: 'Inactive' }] },
    ],
    ['g1', 'g2', 'empty'],
    { K1: `${k1.openssh} laptop`, K2: k2.openssh, K3: k3.openssh },
  );

  it.each([
    [
      'user with keys in key-id order, comment dropped',
      'p/users/zed/authorized_keys',
      line('zed', k1) + line('zed', k2),
    ],
    ['every IAM name character', 'p/users/a+b=c,d@e.f_g-h/authorized_keys', line('a+b=c,d@e.f_g-h', k3)],
    ['user without keys: empty object', 'p/users/nokeys/authorized_keys', ''],
    ['inactive keys never appear', 'p/users/inactive/authorized_keys', ''],
    [
      'group: members in name order',
      'p/groups/g1/authorized_keys',
      line('a+b=c,d@e.f_g-h', k3) + line('zed', k1) + line('zed', k2),
    ],
    [
      'user in several groups appears in each',
      'p/groups/g2/authorized_keys',
      line('zed', k1) + line('zed', k2),
    ],
    ['empty group: empty object', 'p/groups/empty/authorized_keys', ''],
  ])('%s', (_n, key, body) => {
    expect(render(base, undefined, opts).objects.get(key)).toBe(body);
  });

  it('renders one object per user and group and nothing else', () => {
    expect([...render(base, undefined, opts).objects.keys()].sort()).toEqual([
      'p/groups/empty/authorized_keys',
      'p/groups/g1/authorized_keys',
      'p/groups/g2/authorized_keys',
      'p/users/a+b=c,d@e.f_g-h/authorized_keys',
      'p/users/inactive/authorized_keys',
      'p/users/nokeys/authorized_keys',
      'p/users/zed/authorized_keys',
    ]);
  });

  it('is deterministic: shuffled input gives the same bytes', () => {
    const a = render(base, undefined, opts);
    const shuffled = snap(
      [...base.users].reverse(),
      [...base.groups].reverse(),
      Object.fromEntries([...base.bodies].reverse()),
    );
    const b = render(shuffled, undefined, opts);
    expect([...b.objects].sort()).toEqual([...a.objects].sort());
    expect(serializeIndex(b.index)).toBe(serializeIndex(a.index));
  });

  it.each([
    ['dsa key', 'ssh-dss AAAAB3NzaC1kc3MAAACBAP', /unsupported key type/],
    ['garbage', 'hello world', /unsupported key type/],
    ['truncated', `${k1.type} ${k1.blob.slice(0, 20)}`, /base64|malformed/],
  ])('drops an unsupported key (%s) with a reason and keeps the others', (_n, body, reason) => {
    const s = snap(
      [
        {
          name: 'u',
          groups: [],
          keys: [
            { id: 'BAD', status: 'Active' },
            { id: 'OK', status: 'Active' },
          ],
        },
      ],
      [],
      {
        BAD: body,
        OK: k1.openssh,
      },
    );
    const r = render(s, undefined, opts);
    expect(r.objects.get('p/users/u/authorized_keys')).toBe(line('u', k1));
    expect(r.problems).toEqual([{ user: 'u', keyId: 'BAD', reason: expect.stringMatching(reason) }]);
    expect(r.index.users.u?.rejectedKeys?.[0]?.id).toBe('BAD');
    // A rejected body is not fetched again next run, and keeps its reason.
    const known = knownKeyBodies(r.index);
    expect(known.rejectedIds.has('BAD')).toBe(true);
    expect(known.bodies.has('BAD')).toBe(false);
    const again = render({ ...s, bodies: new Map([['OK', k1.openssh]]) }, r.index, opts);
    expect(again.index.users.u?.rejectedKeys).toEqual(r.index.users.u?.rejectedKeys);
  });

  it("skips IAM users named '.' or '..' (no object key can hold them) and says so", () => {
    const s = snap([{ name: '..', groups: [], keys: [{ id: 'K', status: 'Active' }] }], [], {
      K: k1.openssh,
    });
    const r = render(s, undefined, opts);
    expect([...r.objects.keys()]).toEqual([]);
    expect(r.problems).toEqual([{ user: '..', reason: 'user name cannot be an object key' }]);
  });

  it('refuses a key registered to several users: the owner would be ambiguous', () => {
    const s = snap(
      [
        { name: 'alice', groups: [], keys: [{ id: 'A', status: 'Active' }] },
        {
          name: 'mallory',
          groups: [],
          keys: [
            { id: 'M', status: 'Active' },
            { id: 'M2', status: 'Active' },
          ],
        },
      ],
      [],
      { A: k1.openssh, M: `${k1.openssh} copied`, M2: k2.openssh },
    );
    const r = render(s, undefined, opts);
    expect(r.objects.get('p/users/alice/authorized_keys')).toBe('');
    expect(r.objects.get('p/users/mallory/authorized_keys')).toBe(line('mallory', k2));
    expect(r.problems.filter((p) => p.reason === DUPLICATE_KEY_REASON).map((p) => p.user)).toEqual([
      'alice',
      'mallory',
    ]);
  });

  it('withholds local names that are too long or shared by two IAM users', () => {
    const s = snap(
      [
        { name: 'a+b', groups: [], keys: [] },
        { name: 'a.plus.b', groups: [], keys: [] },
        { name: `${'x'.repeat(30)}@y`, groups: [], keys: [] },
        { name: 'fine', groups: [], keys: [] },
      ],
      [],
      {},
    );
    const users = render(s, undefined, opts).index.users;
    expect(users['a+b']?.localName).toBeNull();
    expect(users['a.plus.b']?.localName).toBeNull();
    expect(users['a+b']?.localNameProblem).toMatch(/shared by IAM users a\+b, a\.plus\.b/);
    expect(users[`${'x'.repeat(30)}@y`]?.localName).toBeNull();
    expect(users.fine?.localName).toBe('fine');
  });

  it('keeps a local name with the IAM user that already had it when a newcomer collides', () => {
    const before = render(snap([{ name: 'a.plus.b', groups: [], keys: [] }], [], {}), undefined, opts);
    expect(before.index.users['a.plus.b']?.localName).toBe('a.plus.b');
    const after = render(
      snap(
        [
          { name: 'a.plus.b', groups: [], keys: [] },
          { name: 'a+b', groups: [], keys: [] },
        ],
        [],
        {},
      ),
      before.index,
      opts,
    );
    expect(after.index.users['a.plus.b']?.localName).toBe('a.plus.b');
    expect(after.index.users['a+b']?.localName).toBeNull();
    expect(after.index.users['a+b']?.localNameProblem).toBe(
      'local name a.plus.b already belongs to IAM user a.plus.b',
    );
  });

  it('allocates uids once and never reuses them', () => {
    const s1 = snap(
      [
        { name: 'b', groups: [], keys: [] },
        { name: 'a', groups: [], keys: [] },
      ],
      [],
      {},
    );
    const r1 = render(s1, undefined, opts);
    expect([r1.index.users.a?.uid, r1.index.users.b?.uid]).toEqual([5000, 5001]);
    // 'a' leaves, 'c' arrives: c gets a fresh uid, not a's.
    const r2 = render(
      snap(
        [
          { name: 'b', groups: [], keys: [] },
          { name: 'c', groups: [], keys: [] },
        ],
        [],
        {},
      ),
      r1.index,
      opts,
    );
    expect([r2.index.users.b?.uid, r2.index.users.c?.uid]).toEqual([5001, 5002]);
    // 'a' returns: same uid as before.
    const r3 = render(snap([{ name: 'a', groups: [], keys: [] }], [], {}), r2.index, opts);
    expect(r3.index.users.a?.uid).toBe(5000);
    expect(r3.index.nextUid).toBe(5003);
  });

  it('produces an index that parses and records published key bodies by id', () => {
    const r = render(base, undefined, opts);
    const index = parseIndex(serializeIndex(r.index));
    expect(index.generatedAt).toBe(now.toISOString());
    expect(index.keyBodies).toEqual({ K1: k1.openssh, K2: k2.openssh, K3: k3.openssh });
    expect(index.users.zed?.keys.map((k) => k.id)).toEqual(['K1', 'K2']);
    expect(index.groups.g2?.members).toEqual(['inactive', 'zed']);
    expect(r.keyCount).toBe(3);
  });
});

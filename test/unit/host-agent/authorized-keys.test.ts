import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type DirectoryUser, parseDirectory } from '../../../contract/directory.js';
import { parseLine, renderLine } from '../../../contract/line.js';
import { isValidLocalName } from '../../../contract/names.js';
import { makeKey, makeSkKey } from '../../../dev/keys.js';
import {
  authorizedKeys,
  deriveObject,
  matchIamUser,
  readDerived,
  uidFromPasswd,
} from '../../../host-agent/authorized-keys.js';
import type { ChainResult } from '../../../host-agent/chain.js';
import { type AgentConfig, parseConfig } from '../../../host-agent/config.js';
import { ObjectTooLargeError, StoreUnavailableError } from '../../../host-agent/errors.js';
import type { ReadResult, Store } from '../../../host-agent/store.js';
import { directoryJson, heartbeatJson } from '../../helpers/index-fixture.js';

const NOW = Date.parse('2024-06-01T12:00:00Z');
const alice = makeKey();
const alice2 = makeKey('ecdsa');
const bob = makeKey();
const aliceLine = renderLine('alice', alice);
const alice2Line = renderLine('alice', alice2);
const bobLine = renderLine('bob', bob);

type Objects = Record<string, string | Error>;

/** An in-memory Store: objects by key; records reads. */
function memStore(objects: Objects, source: ReadResult['source'] = 's3') {
  const reads: string[] = [];
  const store: Store = {
    async read(key) {
      reads.push(key);
      const o = objects[key];
      if (o instanceof Error) throw o;
      return o === undefined
        ? { found: false, source }
        : { found: true, body: Buffer.from(o), source, fetchedAt: NOW };
    },
  };
  return { store, reads };
}

function cfg(extra: Record<string, unknown> = {}): AgentConfig {
  return parseConfig(JSON.stringify({ bucket: 'bkt', region: 'us-east-1', ...extra }), 'test');
}

type Users = Record<string, Partial<DirectoryUser>> | [string, Partial<DirectoryUser>][];

/** directory.json and heartbeat.json as the publisher writes them. */
function published(users: Users, generatedAt = '2024-06-01T11:59:00Z'): Objects {
  return { 'directory.json': directoryJson(users), 'heartbeat.json': heartbeatJson(generatedAt) };
}

async function run(
  config: AgentConfig,
  objects: Objects,
  user: string,
  fingerprint?: string,
  chain?: ChainResult,
) {
  const m = memStore(objects);
  // Local accounts as sync-users creates them: the published uid of the IAM user with that local name.
  const localUid = (u: string) => {
    const text = objects['directory.json'];
    if (typeof text !== 'string') return undefined;
    try {
      return [...parseDirectory(text).users.values()].find((x) => x.localName === u)?.uid;
    } catch {
      return undefined;
    }
  };
  const out = await authorizedKeys(
    config,
    { user, ...(fingerprint ? { fingerprint } : {}) },
    { store: m.store, now: () => NOW, localUid, ...(chain ? { runChain: async () => chain } : {}) },
  );
  return { ...out, reads: m.reads };
}

describe('users map (shared-account mode)', () => {
  const config = cfg({ users: { 'ec2-user': ['groups/Admins', 'users/alice', 'users/ghost'] }, prefix: 'p' });
  const objects = {
    'p/groups/Admins/authorized_keys': aliceLine + bobLine,
    'p/users/alice/authorized_keys': aliceLine + alice2Line,
  };

  it('prints every principal line once, in order', async () => {
    const r = await run(config, objects, 'ec2-user');
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toBe(aliceLine + bobLine + alice2Line);
    expect(r.audit).toEqual([]);
    expect(r.diagnostics).toContain('unknown principal users/ghost (no object in the bucket)');
  });

  it('with a fingerprint prints only that key and audits it with every principal', async () => {
    const r = await run(config, objects, 'ec2-user', alice.fingerprint);
    expect(r.stdout).toBe(aliceLine);
    expect(r.audit).toEqual([
      `key-matched user=ec2-user fingerprint=${alice.fingerprint} owner=alice principal=groups/Admins,users/alice source=s3,s3`,
    ]);
  });

  it('prints nothing (exit 0) for a fingerprint no principal has', async () => {
    const r = await run(config, objects, 'ec2-user', makeKey().fingerprint);
    expect(r).toMatchObject({ exitCode: 0, stdout: '', audit: [] });
  });

  it('answers an unmapped user at once, without reading anything', async () => {
    const r = await run(config, objects, 'root');
    expect(r).toMatchObject({ exitCode: 0, stdout: '', reads: [] });
  });

  it('fails closed (nothing printed) when a principal cannot be read', async () => {
    const r = await run(
      config,
      { ...objects, 'p/users/alice/authorized_keys': new StoreUnavailableError('down') },
      'ec2-user',
    );
    expect(r.exitCode).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.diagnostics.at(-1)).toMatch(/cannot decide: down/);
  });

  it('fails closed (exit 1, nothing printed) on an oversized object: an error, never "no keys"', async () => {
    const r = await run(
      config,
      {
        ...objects,
        'p/groups/Admins/authorized_keys': new ObjectTooLargeError('object is over the 8388608-byte limit'),
      },
      'ec2-user',
    );
    expect(r).toMatchObject({ exitCode: 1, stdout: '' });
    expect(r.diagnostics.at(-1)).toBe('cannot decide: object is over the 8388608-byte limit');
  });
});

describe('hostile object contents are dropped with a diagnostic', () => {
  const config = cfg({ users: { u: ['groups/G', 'users/alice'] } });
  const [type, blob] = [alice.type, alice.blob];
  const hostile: [string, string][] = [
    ['command= option', `command="/bin/sh",environment="SSH_KEY_OWNER=alice" ${type} ${blob} alice`],
    ['from= option', `from="*",environment="SSH_KEY_OWNER=alice" ${type} ${blob} alice`],
    ['no option', `${type} ${blob} alice`],
    ['CRLF', `environment="SSH_KEY_OWNER=alice" ${type} ${blob} alice\r`],
    ['injected newline in owner', `environment="SSH_KEY_OWNER=alice\nx" ${type} ${blob} alice`],
    ['owner/comment mismatch', `environment="SSH_KEY_OWNER=alice" ${type} ${blob} bob`],
    ['unsupported type', `environment="SSH_KEY_OWNER=alice" ssh-dss ${blob} alice`],
    ['type/blob mismatch', `environment="SSH_KEY_OWNER=alice" ssh-rsa ${blob} alice`],
    ['bad base64', `environment="SSH_KEY_OWNER=alice" ${type} ${blob.slice(0, -2)}!! alice`],
    ['NUL', `environment="SSH_KEY_OWNER=alice" ${type} ${blob} alice\0`],
    ['huge line', `environment="SSH_KEY_OWNER=alice" ${type} ${'A'.repeat(5000)} alice`],
  ];
  it.each(hostile)('%s', async (_n, line) => {
    const r = await run(config, { 'groups/G/authorized_keys': `${line}\n${bobLine}` }, 'u');
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toBe(bobLine);
    expect(r.diagnostics.some((d) => d.startsWith('groups/G: dropped line'))).toBe(true);
  });

  it("drops another user's key from a user's own object", async () => {
    const r = await run(config, { 'users/alice/authorized_keys': aliceLine + bobLine }, 'u');
    expect(r.stdout).toBe(aliceLine);
    expect(r.diagnostics).toContain('users/alice: dropped a key of bob in users/alice');
  });

  it('caps the diagnostics per object', async () => {
    const r = await run(config, { 'groups/G/authorized_keys': 'junk\n'.repeat(50) }, 'u');
    expect(r.diagnostics.filter((d) => d.startsWith('groups/G:'))).toHaveLength(6);
    expect(r.diagnostics).toContain('groups/G: dropped 45 more invalid lines');
  });
});

describe('key lifecycle options (expiry-time, verify-required)', () => {
  const config = cfg({ users: { u: ['groups/G', 'users/alice'] } });
  const sk = makeSkKey('ed25519');
  // NOW is 2024-06-01T12:00:00Z.
  const expiring = (t: string) => renderLine('alice', alice, { expiryTime: t });
  const skLine = renderLine('alice', sk, { expiryTime: '20240601130000', verifyRequired: true });

  it('prints lines with the options the publisher writes, exactly as written', async () => {
    const later = expiring('20240601120100');
    const r = await run(config, { 'groups/G/authorized_keys': later + skLine + bobLine }, 'u');
    expect(r.stdout).toBe(later + skLine + bobLine);
    expect(r.diagnostics.filter((d) => d.includes('dropped'))).toEqual([]);
  });

  it.each([
    ['expired a second ago', '20240601115959', true],
    ['expires this second (sshd still accepts it)', '20240601120000', false],
    ['expired a year ago, written with Z', '20230601120000Z', true],
  ])('a line that %s: dropped with a diagnostic when past', async (_n, t, dropped) => {
    const r = await run(config, { 'groups/G/authorized_keys': expiring(t) + bobLine }, 'u');
    expect(r.stdout).toBe(dropped ? bobLine : expiring(t) + bobLine);
    const said = r.diagnostics.filter((d) => d.startsWith('groups/G: dropped a key of alice'));
    expect(said).toEqual(
      dropped
        ? [
            `groups/G: dropped a key of alice (${alice.fingerprint}): expired at ${new Date(Date.parse(`${t.slice(0, 4)}-${t.slice(4, 6)}-${t.slice(6, 8)}T${t.slice(8, 10)}:${t.slice(10, 12)}:${t.slice(12, 14)}Z`)).toISOString()}`,
          ]
        : [],
    );
  });

  it('an expired line from the cache is dropped as well (the derived lines keep the expiry)', async () => {
    const body = expiring('20240601115959') + bobLine;
    const d = deriveObject('groups/G/authorized_keys', Buffer.from(body));
    expect(readDerived(d)?.lines[0]?.expiryTime).toBe('20240601115959');
  });

  it.each([
    ['any other option after the owner', aliceLine.replace('" ssh-', '",no-pty ssh-')],
    ['verify-required on a key that is not sk-*', aliceLine.replace('" ssh-', '",verify-required ssh-')],
    ['an expiry-time in another form', aliceLine.replace('" ssh-', '",expiry-time="202406011300" ssh-')],
    [
      'options out of order',
      skLine.replace(
        ',expiry-time="20240601130000",verify-required',
        ',verify-required,expiry-time="20240601130000"',
      ),
    ],
  ])('refuses %s', async (_n, line) => {
    const r = await run(config, { 'groups/G/authorized_keys': line + bobLine }, 'u');
    expect(r.stdout).toBe(bobLine);
    expect(r.diagnostics.some((d) => d.startsWith('groups/G: dropped line 1'))).toBe(true);
  });
});

describe('input validation', () => {
  const config = cfg({ users: { u: ['users/alice'] } });
  it.each(['', '-oProxyCommand', '../etc', 'a/b', 'a b', 'x'.repeat(33), '123', 'é', 'a\nb', 'u\0'])(
    'refuses user %j before any read',
    async (user) => {
      const r = await run(config, {}, user);
      expect(r).toMatchObject({ exitCode: 2, stdout: '', reads: [] });
      expect(r.diagnostics[0]).toMatch(/^invalid user name /);
      expect(r.diagnostics[0]).not.toContain('\n');
    },
  );
  it.each(['MD5:aa:bb', 'SHA256:short', `SHA256:${'A'.repeat(43)}\n`, 'sha256:x'])(
    'refuses fingerprint %j',
    async (fp) => {
      const r = await run(config, {}, 'u', fp);
      expect(r).toMatchObject({ exitCode: 2, stdout: '', reads: [] });
    },
  );
});

describe('iamUsers mode', () => {
  const objects = (pub: Objects): Objects => ({
    ...pub,
    'users/alice/authorized_keys': aliceLine,
    'users/bob+ops@example.com/authorized_keys': renderLine('bob+ops@example.com', bob),
  });
  const dir = published({
    alice: { localName: 'alice', groups: ['Developers'] },
    'bob+ops@example.com': { localName: 'bob.plus.ops.at.example.com', groups: ['Ops'] },
  });

  it('maps a local name to its IAM user from directory.json (index.json is never read)', async () => {
    const r = await run(cfg({ iamUsers: {} }), objects(dir), 'bob.plus.ops.at.example.com');
    expect(r.stdout).toBe(renderLine('bob+ops@example.com', bob));
    expect(r.reads.sort()).toEqual([
      'directory.json',
      'heartbeat.json',
      'users/bob+ops@example.com/authorized_keys',
    ]);
  });

  it('audits the key by its fingerprint, with no key id (hosts read none)', async () => {
    const o = { ...objects(dir), 'users/alice/authorized_keys': alice2Line + aliceLine };
    const r = await run(cfg({ iamUsers: {} }), o, 'alice', alice.fingerprint);
    expect(r.stdout).toBe(aliceLine);
    expect(r.audit).toEqual([
      `key-matched user=alice fingerprint=${alice.fingerprint} owner=alice principal=users/alice source=s3`,
    ]);
  });

  it('serves FIDO security keys (sk-*) like any other', async () => {
    const skEd = makeSkKey('ed25519');
    const skEc = makeSkKey('ecdsa');
    const body = renderLine('alice', skEd) + renderLine('alice', skEc);
    const r = await run(
      cfg({ iamUsers: {} }),
      { ...objects(dir), 'users/alice/authorized_keys': body },
      'alice',
    );
    expect(r.stdout).toBe(body);
    const one = await run(
      cfg({ iamUsers: {} }),
      { ...objects(dir), 'users/alice/authorized_keys': body },
      'alice',
      skEc.fingerprint,
    );
    expect(one.stdout).toBe(renderLine('alice', skEc));
  });

  it('gates by allowGroups', async () => {
    const config = cfg({ iamUsers: { allowGroups: ['Developers'] } });
    expect((await run(config, objects(dir), 'alice')).stdout).toBe(aliceLine);
    const bobR = await run(config, objects(dir), 'bob.plus.ops.at.example.com');
    expect(bobR.stdout).toBe('');
    expect(bobR.exitCode).toBe(0);
    expect(bobR.diagnostics.join('\n')).toMatch(/in none of iamUsers.allowGroups/);
  });

  it('does not trust a directory localName that differs from the computed one', async () => {
    const forged = published({ alice: { localName: 'root', groups: ['Developers'] } });
    const r = await run(cfg({ iamUsers: {} }), objects(forged), 'root');
    expect(r.stdout).toBe('');
    expect(r.diagnostics.join('\n')).toMatch(/has localName "root", expected "alice": ignored/);
  });

  it('merges with the users map without reading twice', async () => {
    const config = cfg({ iamUsers: {}, users: { alice: ['users/alice', 'users/bob'] } });
    const r = await run(config, { ...objects(dir), 'users/bob/authorized_keys': bobLine }, 'alice');
    expect(r.stdout).toBe(aliceLine + bobLine);
    expect(r.reads.filter((k) => k === 'users/alice/authorized_keys')).toHaveLength(1);
  });

  it('fails closed on a malformed directory', async () => {
    const r = await run(cfg({ iamUsers: {} }), { 'directory.json': '{"version":1}' }, 'alice');
    expect(r).toMatchObject({ exitCode: 1, stdout: '' });
    expect(r.diagnostics.at(-1)).toMatch(/^cannot decide: directory.json has no users$/);
  });

  it('fails closed (exit 1) when directory.json is missing: a publisher older than the agent', async () => {
    const r = await run(
      cfg({ iamUsers: {} }),
      { 'heartbeat.json': heartbeatJson('2024-06-01T11:59:00Z') },
      'alice',
    );
    expect(r).toMatchObject({ exitCode: 1, stdout: '' });
    expect(r.diagnostics.at(-1)).toMatch(/directory.json not found .*upgrade the publisher first/);
  });

  it.each([
    [
      'over the size limit',
      new ObjectTooLargeError('object of 8388609 bytes is over the 8388608-byte limit'),
    ],
    ['unreadable (S3 down, no usable cache)', new StoreUnavailableError('cannot read directory.json: down')],
  ])('fails closed (exit 1, nothing printed, chain dropped) when directory.json is %s', async (_n, error) => {
    const config = cfg({ iamUsers: {}, users: { alice: ['users/alice'] } });
    const chain: ChainResult = { ok: true, stdout: bobLine };
    const r = await run(config, { ...objects(dir), 'directory.json': error }, 'alice', undefined, chain);
    expect(r).toMatchObject({ exitCode: 1, stdout: '' });
    expect(r.diagnostics.at(-1)).toBe(`cannot decide: ${error.message}`);
  });

  it('warns when the heartbeat is older than maxStaleSeconds, and still serves', async () => {
    const old = published({ alice: { localName: 'alice' } }, '2024-05-01T00:00:00Z');
    const r = await run(cfg({ iamUsers: {} }), objects(old), 'alice');
    expect(r.stdout).toBe(aliceLine);
    expect(r.diagnostics.join('\n')).toMatch(/the publisher's last run was \d+s ago \(publisher stopped\?\)/);
  });

  it('only warns when heartbeat.json is missing or unreadable: the directory decides', async () => {
    const { 'directory.json': d } = published({ alice: { localName: 'alice' } });
    for (const hb of [undefined, new StoreUnavailableError('down'), '{"version":7}']) {
      const o: Objects = { ...objects({}), 'directory.json': d as string };
      if (hb !== undefined) o['heartbeat.json'] = hb;
      const r = await run(cfg({ iamUsers: {} }), o, 'alice');
      expect(r).toMatchObject({ exitCode: 0, stdout: aliceLine });
      expect(r.diagnostics.join('\n')).toMatch(/heartbeat.json.*cannot tell how current directory.json is/);
    }
  });

  // IAM user names that are Object.prototype's own names: plain data, never a prototype lookup.
  it.each(['__proto__', 'toString', 'constructor', 'valueOf', 'hasOwnProperty'])(
    'an IAM user named %s logs in to its own account',
    async (name) => {
      const key = makeKey();
      const line = renderLine(name, key);
      const o: Objects = {
        ...published([
          ['alice', { localName: 'alice' }],
          [name, { localName: name }],
        ]),
        [`users/${name}/authorized_keys`]: line,
      };
      const r = await run(cfg({ iamUsers: {} }), o, name, key.fingerprint);
      expect(r.diagnostics.join('\n')).not.toMatch(/unexpected|internal/);
      expect(r).toMatchObject({ exitCode: 0, stdout: line });
      expect(r.audit).toEqual([
        `key-matched user=${name} fingerprint=${key.fingerprint} owner=${name} principal=users/${name} source=s3`,
      ]);
    },
  );

  it.each(['toString', 'constructor', '__proto__', 'valueOf'])(
    'a local user %s that the users map does not name maps nothing from the map (iamUsers still works)',
    async (name) => {
      const key = makeKey();
      const line = renderLine(name, key);
      const config = cfg({ iamUsers: {}, users: { 'ec2-user': ['users/alice'] } });
      const o: Objects = {
        ...published([[name, { localName: name }]]),
        [`users/${name}/authorized_keys`]: line,
      };
      const r = await run(config, o, name);
      expect(r).toMatchObject({ exitCode: 0, stdout: line });
    },
  );

  it('a users map entry named __proto__ is that local user, not a prototype', async () => {
    const config = parseConfig(
      '{"bucket":"bkt","region":"us-east-1","users":{"__proto__":["users/alice"]}}',
      't',
    );
    const r = await run(config, { 'users/alice/authorized_keys': aliceLine }, '__proto__');
    expect(r).toMatchObject({ exitCode: 0, stdout: aliceLine });
    expect((await run(config, { 'users/alice/authorized_keys': aliceLine }, 'toString')).stdout).toBe('');
  });
});

describe('matchIamUser', () => {
  const mk = (users: Record<string, Partial<DirectoryUser>>) => parseDirectory(directoryJson(users));
  it.each([
    ['exact match', { alice: { localName: 'alice', uid: 20000 } }, 'alice', [], 20000, ['users/alice']],
    ['no match', { alice: { localName: 'alice', uid: 20000 } }, 'bob', [], 20000, []],
    ['null localName (unusable)', { alice: { localName: null, uid: 20000 } }, 'alice', [], 20000, []],
    [
      'allowed group',
      { alice: { localName: 'alice', groups: ['A'], uid: 20000 } },
      'alice',
      ['B', 'A'],
      20000,
      ['users/alice'],
    ],
    [
      'no allowed group',
      { alice: { localName: 'alice', groups: ['A'], uid: 20000 } },
      'alice',
      ['B'],
      20000,
      [],
    ],
    [
      'two IAM users claiming one name',
      { 'a+b': { localName: 'a.plus.b' }, 'a.plus.b': { localName: 'a.plus.b' } },
      'a.plus.b',
      [],
      2000,
      [],
    ],
    [
      'an IAM user named root: uid 0 never maps',
      { root: { localName: 'root', uid: 20000 } },
      'root',
      [],
      0,
      [],
    ],
    [
      'an existing account with another uid (ec2-user)',
      { 'ec2-user': { localName: 'ec2-user', uid: 20000 } },
      'ec2-user',
      [],
      1000,
      [],
    ],
    ['no local account', { alice: { localName: 'alice', uid: 20000 } }, 'alice', [], undefined, []],
  ] as [string, Record<string, Partial<DirectoryUser>>, string, string[], number | undefined, string[]][])(
    '%s',
    (_n, users, user, allow, localUid, expected) => {
      expect(matchIamUser(mk(users), user, allow, localUid).principals).toEqual(expected);
    },
  );
  it.each([
    ['alice:x:20000:20000::/home/alice:/bin/sh\nbob:x:1:1::/:/bin/sh\n', 'alice', 20000],
    ['alice:x:20000:20000::/home/alice:/bin/sh\n', 'bob', undefined],
    ['alice:x:notanumber:1::/:/bin/sh\n', 'alice', undefined],
    ['alice:x:20000\n', 'alice', undefined],
    ['', 'alice', undefined],
  ])('uidFromPasswd(%j, %s) = %s', (text, user, uid) => {
    expect(uidFromPasswd(text, user)).toBe(uid);
  });
});

describe('chain', () => {
  const config = cfg({ users: { u: ['users/alice'] }, chain: ['/bin/true'] });
  it('appends the chain output after ours, as-is', async () => {
    const r = await run(config, { 'users/alice/authorized_keys': aliceLine }, 'u', undefined, {
      ok: true,
      stdout: 'ssh-ed25519 AAAA eic\n',
    });
    expect(r.stdout).toBe(`${aliceLine}ssh-ed25519 AAAA eic\n`);
  });
  it('ignores a failed chain and still prints our keys', async () => {
    const r = await run(config, { 'users/alice/authorized_keys': aliceLine }, 'u', undefined, {
      ok: false,
      reason: 'exited with 1',
    });
    expect(r).toMatchObject({ exitCode: 0, stdout: aliceLine });
    expect(r.diagnostics).toContain('chain command ignored: exited with 1');
  });
  it('runs the chain for users without a mapping too (e.g. EC2 Instance Connect)', async () => {
    const r = await run(config, {}, 'ec2-user', undefined, { ok: true, stdout: 'eic-line\n' });
    expect(r).toMatchObject({ exitCode: 0, stdout: 'eic-line\n', reads: [] });
  });
  it('prints nothing, chain included, when our part cannot decide', async () => {
    const r = await run(
      config,
      { 'users/alice/authorized_keys': new StoreUnavailableError('x') },
      'u',
      undefined,
      {
        ok: true,
        stdout: 'eic-line\n',
      },
    );
    expect(r).toMatchObject({ exitCode: 1, stdout: '' });
  });
});

describe('properties: nothing invalid is ever printed', () => {
  it('hostile USER strings never reach the store unless they are valid local names', async () => {
    const config = cfg({ iamUsers: {}, users: { alice: ['users/alice'] } });
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(fc.string(), fc.string({ unit: 'binary' }), fc.constant('alice')),
        async (user) => {
          const r = await run(config, { 'users/alice/authorized_keys': aliceLine }, user);
          if (!isValidLocalName(user)) {
            expect(r.reads).toEqual([]);
            expect(r.stdout).toBe('');
            expect(r.exitCode).toBe(2);
          }
          for (const d of r.diagnostics) expect(d).not.toMatch(/[\n\r\0]/);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('every printed line is a valid contract line that was in the object', async () => {
    const config = cfg({ users: { u: ['groups/G'] } });
    const good = [aliceLine, alice2Line, bobLine].map((l) => l.slice(0, -1));
    const mutate = fc
      .tuple(fc.constantFrom(...good), fc.nat(), fc.string({ unit: 'binary', maxLength: 4 }))
      .map(([l, i, s]) => {
        const at = i % (l.length + 1);
        return l.slice(0, at) + s + l.slice(at + 1);
      });
    const lineArb = fc.oneof(fc.constantFrom(...good), mutate, fc.string({ unit: 'binary' }));
    await fc.assert(
      fc.asyncProperty(
        fc.array(lineArb, { maxLength: 12 }),
        fc.constantFrom('\n', '\r\n', '\n\n'),
        async (lines, sep) => {
          const r = await run(config, { 'groups/G/authorized_keys': lines.join(sep) }, 'u');
          expect(r.exitCode).toBe(0);
          const printed = r.stdout === '' ? [] : r.stdout.slice(0, -1).split('\n');
          for (const p of printed) {
            const parsed = parseLine(p);
            expect(parsed.ok).toBe(true);
            if (parsed.ok) expect(renderLine(parsed.line.owner, parsed.line.key)).toBe(`${p}\n`);
            expect(lines).toContain(p);
          }
          expect(new Set(printed).size).toBe(printed.length);
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('cached derived lines (a cache hit without re-validation or SHA-256)', () => {
  const config = cfg({ users: { u: ['groups/G', 'users/alice'] } });
  /** A store whose results carry `derived`, as a cache hit does. */
  async function runDerived(objects: Record<string, { body: string; derived: unknown }>, fp?: string) {
    const store: Store = {
      async read(key) {
        const o = objects[key];
        return o === undefined
          ? { found: false, source: 'cache' }
          : { found: true, body: Buffer.from(o.body), derived: o.derived, source: 'cache', fetchedAt: NOW };
      },
    };
    return authorizedKeys(
      config,
      { user: 'u', ...(fp ? { fingerprint: fp } : {}) },
      { store, now: () => NOW },
    );
  }
  const derivedOf = (key: string, body: string) => ({ body, derived: deriveObject(key, Buffer.from(body)) });

  it('derives nothing for objects other than authorized_keys', () => {
    expect(deriveObject('index.json', Buffer.from('{}'))).toBeUndefined();
  });

  it('answers exactly as parsing the body does, diagnostics included', async () => {
    const bodies = {
      'groups/G/authorized_keys': `junk\n${aliceLine}command="x" ${bob.type} ${bob.blob} bob\n${bobLine}`,
      'users/alice/authorized_keys': alice2Line + bobLine,
    };
    const plain = await run(config, bodies, 'u');
    const cached = await runDerived(
      Object.fromEntries(Object.entries(bodies).map(([k, b]) => [k, derivedOf(k, b)])),
    );
    expect(cached.stdout).toBe(plain.stdout);
    expect(cached.diagnostics.filter((d) => !d.includes('source'))).toEqual(
      plain.diagnostics.filter((d) => !d.includes('source')),
    );
    expect(cached.stdout).toBe(aliceLine + bobLine + alice2Line);
  });

  it('uses the stored lines and fingerprints instead of the body', async () => {
    const k = 'groups/G/authorized_keys';
    const d = deriveObject(k, Buffer.from(aliceLine + bobLine));
    const r = await runDerived({ [k]: { body: '', derived: d } }, bob.fingerprint);
    expect(r.stdout).toBe(bobLine);
    expect(r.audit).toHaveLength(1);
  });

  const good = deriveObject('groups/G/authorized_keys', Buffer.from(aliceLine)) as {
    lines: unknown[][];
  };
  const withLine = (i: number, v: unknown) => ({
    ...good,
    lines: [good.lines[0]?.map((x, j) => (j === i ? v : x))],
  });
  const damaged: [string, unknown][] = [
    ['not an object', 'x'],
    ['another version (1: lines without options)', { ...good, v: 1 }],
    ['an expiry-time of another form', withLine(5, '2027-01-31')],
    ['an expiry-time not a string', withLine(5, 20270131120000)],
    ['verify-required on a key that is not sk-*', withLine(6, true)],
    ['verify-required not a boolean', withLine(6, 'yes')],
    ['lines not a list', { ...good, lines: {} }],
    ['a short line', { ...good, lines: [['alice', alice.type]] }],
    ['a line of version 1', { ...good, lines: [good.lines[0]?.slice(0, 5)] }],
    ['a newline in the owner', withLine(0, 'alice\nx')],
    ['an option in the owner', withLine(0, 'alice" command="x')],
    ['an unsupported type', withLine(1, 'ssh-dss')],
    ['a blob with a space', withLine(2, `${alice.blob} x`)],
    ['a blob too long', withLine(2, 'A'.repeat(5000))],
    ['a fingerprint of another form', withLine(3, 'MD5:aa')],
    ['bits not a number', withLine(4, '256')],
    ['rejected entries of another shape', { ...good, rejected: [['1', 'x']] }],
  ];
  it.each(damaged)('ignores derived data with %s, and parses the body instead', async (_n, d) => {
    expect(readDerived(d)).toBeUndefined();
    const r = await runDerived({ 'groups/G/authorized_keys': { body: bobLine, derived: d } });
    expect(r.stdout).toBe(bobLine);
  });
  it('reads back what it derived', () => {
    expect(readDerived(good)).toEqual({
      lines: [
        {
          owner: 'alice',
          key: { type: alice.type, blob: alice.blob, fingerprint: alice.fingerprint, bits: 256 },
        },
      ],
      rejected: [],
    });
  });
});

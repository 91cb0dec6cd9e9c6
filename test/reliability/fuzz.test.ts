// Fuzz targets of issue 10, in process and pure: every untrusted input of the
// host agent and the contract, and names from IAM through the publisher's render (h), at least 10,000 cases per target and run
// (FUZZ_RUNS raises it; FUZZ_SEED replays a run: each target prints its seed and
// its cases/s, and fast-check prints the seed and the shrunk case of a failure).
// Invariants: only valid lines are printed, no exception escapes but the
// module's named error, no path leaves its directory.

import { createHash } from 'node:crypto';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import {
  type Directory,
  DirectoryFormatError,
  type DirectoryUser,
  parseDirectory,
  serializeDirectory,
  serializeHeartbeat,
} from '../../contract/directory.js';
import {
  IndexFormatError,
  type IndexUser,
  type PublishedIndex,
  parseIndex,
  serializeIndex,
} from '../../contract/index-schema.js';
import {
  fingerprintOfBlob,
  isSupportedKeyType,
  MAX_BLOB_BASE64,
  parsePublicKeyText,
  SUPPORTED_KEY_TYPES,
  validateKey,
} from '../../contract/keys.js';
import {
  groupKey,
  IAM_GROUP_NAME,
  IAM_USER_NAME,
  InvalidPrefixError,
  InvalidPrincipalError,
  indexKey,
  normalizePrefix,
  parseLayoutKey,
  parsePrincipal,
  userKey,
} from '../../contract/layout.js';
import { parseLine, parseObject, renderLine } from '../../contract/line.js';
import { iamToLocalName, isValidLocalName, MAX_LOCAL_NAME } from '../../contract/names.js';
import { makeKey, type TestKey } from '../../dev/keys.js';
import { parseArgs } from '../../host-agent/args.js';
import {
  authorizedKeys,
  deriveObject,
  FINGERPRINT,
  matchIamUser,
  NATIVE_LINE_CHECKS,
  PATTERN_LINE_CHECKS,
  readDerived,
} from '../../host-agent/authorized-keys.js';
import {
  type CacheEntry,
  cacheFileName,
  decodeEntry,
  encodeEntry,
  entrySum,
} from '../../host-agent/cache.js';
import { type AgentConfig, ConfigError, parseConfig } from '../../host-agent/config.js';
import { UsageError } from '../../host-agent/errors.js';
import { encodeKeyPath } from '../../host-agent/sigv4.js';
import type { Store } from '../../host-agent/store.js';
import type { IamSnapshot, IamUser } from '../../lambda/iam-source.js';
import { render } from '../../lambda/render.js';
import { frozen, type MutableSnapshot, snapshotFromIndex } from '../../lambda/targeted-read.js';

const NUM_RUNS = Math.max(10_000, Number(process.env.FUZZ_RUNS ?? 0) || 0);
const BASE_SEED = process.env.FUZZ_SEED !== undefined ? Number(process.env.FUZZ_SEED) : Date.now() % 2 ** 31;
const figures: string[] = [];

/** Counts the kinds of cases a target met, so a generator that stopped reaching a branch fails the run. */
class Tally {
  readonly counts = new Map<string, number>();
  hit(kind: string): void {
    this.counts.set(kind, (this.counts.get(kind) ?? 0) + 1);
  }
}

/**
 * fc.assert with the suite's run count and a printed, replayable seed; records cases/s and the
 * tally. `atLeast`: the share of cases (0..1) each kind must reach over the run (set at about half
 * of what the generators reach, so that only a generator that lost a branch fails it).
 */
async function fuzz<Ts>(
  name: string,
  prop: fc.IProperty<Ts> | fc.IAsyncProperty<Ts>,
  tally: Tally,
  atLeast: Record<string, number>,
): Promise<void> {
  const seed = (BASE_SEED + figures.length) % 2 ** 31;
  tally.counts.clear();
  const started = performance.now();
  await fc.assert(prop as fc.IAsyncProperty<Ts>, { numRuns: NUM_RUNS, seed });
  const s = (performance.now() - started) / 1000;
  const kinds = [...tally.counts].map(([k, n]) => `${k} ${n}`).join(', ');
  const line = `fuzz ${name.padEnd(36)} ${NUM_RUNS} cases  ${s.toFixed(2).padStart(6)} s  ${String(Math.round(NUM_RUNS / s)).padStart(7)} cases/s  seed ${seed}  (${kinds})`;
  figures.push(line);
  console.log(line);
  for (const [kind, share] of Object.entries(atLeast)) {
    expect(tally.counts.get(kind) ?? 0, `${name}: cases of kind "${kind}"`).toBeGreaterThanOrEqual(
      share * NUM_RUNS,
    );
  }
}

afterAll(() => {
  if (figures.length > 0) console.log(`fuzz summary (FUZZ_SEED=${BASE_SEED}):\n${figures.join('\n')}`);
});

// ---- shared material -------------------------------------------------------------------------

const KEYS: TestKey[] = [makeKey(), makeKey(), makeKey('ecdsa'), makeKey('rsa')];
const OWNERS = ['alice', 'bob', 'carol', 'bob+ops@example.com', 'eve=admin', 'frank,jr', 'a', 'x'.repeat(64)];
/** Valid IAM user names, with every character IAM allows. */
const iamName = fc.stringMatching(/^[A-Za-z0-9+=,.@_-]{1,64}$/).filter((s) => s !== '.' && s !== '..');
const iamGroupName = fc.stringMatching(/^[A-Za-z0-9+=,.@_-]{1,128}$/).filter((s) => s !== '.' && s !== '..');
const anyString = fc.oneof(
  fc.string({ maxLength: 80 }),
  fc.string({ unit: 'binary', maxLength: 80 }),
  fc.string({ unit: 'grapheme', maxLength: 40 }),
);
const validLine = fc
  .tuple(fc.oneof(fc.constantFrom(...OWNERS), iamName), fc.constantFrom(...KEYS))
  .map(([owner, key]) => renderLine(owner, key).slice(0, -1));

/** Characters that have a meaning to sshd or to a line parser. */
const DANGEROUS = [
  '\r',
  '\0',
  ' ',
  '\t',
  '"',
  ',',
  '=',
  '\\',
  '#',
  '\u00a0',
  '\u2028',
  '\v',
  '\f',
  'a',
  '/',
  '+',
  '%',
];
const OPTIONS = [
  'command="/bin/sh" ',
  'from="*" ',
  'no-pty ',
  'cert-authority ',
  'environment="LD_PRELOAD=/tmp/x",',
  'environment="SSH_KEY_OWNER=mallory",',
  'permitopen="*:*",',
  ' ',
  '\t',
];

/**
 * ONE mutation of a valid line (one edit only: two consistent edits, such as
 * renaming the owner in both of its places, make another valid line, which a
 * parser cannot tell from a real one). Replacements stay outside the key blob:
 * a changed byte of a key is another valid key.
 */
function mutateLine(line: string): fc.Arbitrary<string> {
  const parts = line.split(' ');
  const blob = parts[2] ?? '';
  const blobStart = line.indexOf(` ${blob} `) + 1;
  const blobEnd = blobStart + blob.length;
  const outsideBlob = fc
    .nat(line.length - 1 - blob.length)
    .map((i) => (i < blobStart ? i : i + blob.length))
    .filter((i) => i < blobStart || i >= blobEnd);
  return fc.oneof(
    fc
      .tuple(fc.nat(line.length), fc.constantFrom(...DANGEROUS))
      .map(([i, c]) => line.slice(0, i) + c + line.slice(i)),
    fc.nat(line.length - 1).map((i) => line.slice(0, i) + line.slice(i + 1)),
    fc
      .tuple(
        outsideBlob,
        fc.oneof(fc.constantFrom(...DANGEROUS), fc.string({ minLength: 1, maxLength: 1, unit: 'binary' })),
      )
      .filter(([i, c]) => c !== '\n' && line[i] !== c)
      .map(([i, c]) => line.slice(0, i) + c + line.slice(i + 1)),
    fc.nat(line.length - 1).map((i) => line.slice(0, i)),
    fc
      .string({ minLength: 1, maxLength: 20, unit: 'binary' })
      .filter((s) => !s.includes('\n'))
      .map((s) => line + s),
    fc.constantFrom(...OPTIONS).map((o) => o + line),
    fc.constant(line.replace('environment="SSH_KEY_OWNER=', 'environment="SSH_KEY_OWNER= ')),
    fc.constant(line.replace('" ', '",no-pty ')),
    fc.constant(line.toUpperCase()),
  );
}

type Segment =
  | { kind: 'valid'; text: string }
  | { kind: 'mutated'; text: string }
  | { kind: 'junk'; text: string };
const segment: fc.Arbitrary<Segment> = fc.oneof(
  { weight: 3, arbitrary: validLine.map((text): Segment => ({ kind: 'valid', text })) },
  { weight: 4, arbitrary: validLine.chain(mutateLine).map((text): Segment => ({ kind: 'mutated', text })) },
  {
    weight: 1,
    arbitrary: fc
      .oneof(
        anyString,
        fc.constantFrom(...OPTIONS).chain((o) => anyString.map((s) => o + s)),
      )
      .map((text): Segment => ({ kind: 'junk', text })),
  },
);
/** An authorized_keys object: lines of all kinds, separated by LF (sometimes CRLF or blank lines). */
const objectBody = fc
  .tuple(fc.array(segment, { maxLength: 8 }), fc.constantFrom('\n', '\n', '\n', '\r\n', '\n\n'), fc.boolean())
  .map(([segs, sep, trailing]) => ({
    segs,
    text: segs.map((s) => s.text).join(sep) + (trailing ? sep : ''),
  }));

// ---- (a) USER and FINGERPRINT: the argument parser and the login core ------------------------

describe('(a) USER and FINGERPRINT arguments', () => {
  const [k0, k1, k2, k3] = KEYS as [TestKey, TestKey, TestKey, TestKey];
  const line = (owner: string, k: TestKey) => renderLine(owner, k);
  const hostile = [
    `command="/bin/sh" ${k3.type} ${k3.blob} alice`,
    `environment="SSH_KEY_OWNER=alice" ${k3.type} ${k3.blob} alice\r`,
    `environment="SSH_KEY_OWNER=alice",from="*" ${k3.type} ${k3.blob} alice`,
    `environment="SSH_KEY_OWNER=alice" ${k3.type} ${k3.blob} mallory`,
    `environment="SSH_KEY_OWNER=alice" ssh-dss AAAAB3NzaC1kc3MAAACBAP8 alice`,
  ].join('\n');
  /** The objects, and per object the lines it may contribute (users/X: only X's lines). */
  const objects: Record<string, string> = {
    'users/alice/authorized_keys': `${line('alice', k0)}${line('alice', k1)}${hostile}\n`,
    'users/bob/authorized_keys': `${line('bob', k2)}${line('alice', k0)}`,
    'groups/Admins/authorized_keys': `${line('alice', k1)}${line('bob', k2)}${hostile}\n${line('carol', k3)}`,
    'directory.json': serializeDirectory({
      version: 1,
      users: new Map([
        ['alice', { userId: 'AIDA0', localName: 'alice', uid: 2000, groups: ['Admins'] }],
        ['bob', { userId: 'AIDA1', localName: 'bob', uid: 2001, groups: [] }],
        ['carol', { userId: 'AIDA2', localName: 'carol', uid: 2002, groups: ['Admins'] }],
      ]),
      reservedUids: [],
    }),
    'heartbeat.json': serializeHeartbeat(new Date().toISOString()),
  };
  const allowed: Record<string, string[]> = {
    'users/alice': [line('alice', k0), line('alice', k1)],
    'users/bob': [line('bob', k2)],
    'groups/Admins': [line('alice', k1), line('bob', k2), line('carol', k3)],
  };
  // As text: "__proto__" and "constructor" must be real keys of `users` (local accounts may have such names).
  const config: AgentConfig = parseConfig(
    `{"bucket": "bkt", "region": "us-east-1", "iamUsers": {"allowGroups": ["Admins"]}, "users": {
      "ec2-user": ["groups/Admins", "users/alice"], "u": ["users/bob", "users/nobody"],
      "__proto__": ["users/alice"], "constructor": ["users/bob"]}}`,
    'fuzz',
  );
  // alice and carol have local accounts with their published uid; bob's account has another uid; root is 0.
  const uids: Record<string, number> = { alice: 2000, carol: 2002, bob: 3001, root: 0, 'ec2-user': 1000 };
  const store: Store = {
    async read(key) {
      const body = Object.hasOwn(objects, key) ? objects[key] : undefined;
      return body === undefined
        ? { found: false, source: 's3' }
        : { found: true, body: Buffer.from(body), source: 's3', fetchedAt: 0 };
    },
  };
  /** The oracle: what USER may receive (before the fingerprint filter). */
  function oracle(user: string): string[] {
    const principals = Object.hasOwn(config.users, user) ? [...(config.users[user] ?? [])] : [];
    // iamUsers: the IAM user with that local name, with the published uid, in an allowed group (only alice and carol).
    if ((user === 'alice' || user === 'carol') && !principals.includes(`users/${user}`))
      principals.push(`users/${user}`);
    const out: string[] = [];
    for (const p of principals) for (const l of allowed[p] ?? []) if (!out.includes(l)) out.push(l);
    return out;
  }
  const fps = KEYS.map((k) => k.fingerprint);
  const fingerprintArg = fc.oneof(
    fc.constantFrom(...fps),
    fc
      .constantFrom(...fps)
      .chain((fp) =>
        fc
          .tuple(fc.nat(fp.length), fc.constantFrom(...DANGEROUS, '\n', 'A', '='))
          .map(([i, c]) => fp.slice(0, i) + c + fp.slice(i + 1)),
      ),
    fc.stringMatching(/^SHA256:[A-Za-z0-9+/]{43}$/),
    fc.constantFrom(...fps).map((fp) => `${fp}\n`),
    fc.constantFrom(...fps).map((fp) => fp.replace('SHA256:', 'MD5:')),
    anyString,
  );
  const userArg = fc.oneof(
    {
      weight: 4,
      arbitrary: fc.constantFrom(
        'ec2-user',
        'alice',
        'bob',
        'carol',
        'u',
        'root',
        '__proto__',
        'constructor',
        'toString',
      ),
    },
    { weight: 2, arbitrary: anyString },
    {
      weight: 1,
      arbitrary: fc.constantFrom(
        '../../etc/passwd',
        'alice\n',
        'alice ',
        '-alice',
        'al ice',
        '',
        '-',
        '--',
        'doctor',
        'install',
      ),
    },
    { weight: 1, arbitrary: iamName },
  );
  const argv = fc.oneof(
    {
      weight: 6,
      arbitrary: fc
        .tuple(userArg, fc.option(fingerprintArg, { nil: undefined, freq: 2 }))
        .map(([u, f]) => ['--', u, ...(f === undefined ? [] : [f])]),
    },
    {
      weight: 2,
      arbitrary: fc
        .tuple(userArg, fc.option(fingerprintArg, { nil: undefined }))
        .map(([u, f]) => [u, ...(f === undefined ? [] : [f])]),
    },
    {
      weight: 2,
      arbitrary: fc.array(
        fc.oneof(
          userArg,
          fingerprintArg,
          fc.constantFrom('--', '--config', '--config=/x', '-h', '--help', '-x'),
        ),
        {
          maxLength: 5,
        },
      ),
    },
  );

  it('prints only valid lines present in the objects, exits 0, 1 or 2, never throws', async () => {
    const tally = new Tally();
    await fuzz(
      '(a) USER/FINGERPRINT -> agent',
      fc.asyncProperty(argv, async (args) => {
        let cmd: ReturnType<typeof parseArgs>;
        try {
          cmd = parseArgs(args);
        } catch (e) {
          expect(e).toBeInstanceOf(UsageError); // main.ts: exit 2, nothing on stdout
          tally.hit('usage error');
          return;
        }
        if (cmd.kind !== 'login') {
          tally.hit(cmd.kind);
          return;
        }
        // `--` makes everything after it positional: never read as an option.
        if (args[0] === '--') expect(cmd).toMatchObject({ user: args[1] });
        const out = await authorizedKeys(
          config,
          { user: cmd.user, ...(cmd.fingerprint !== undefined ? { fingerprint: cmd.fingerprint } : {}) },
          { store, now: Date.now, localUid: (u) => (Object.hasOwn(uids, u) ? uids[u] : undefined) },
        );
        expect([0, 1, 2]).toContain(out.exitCode);
        if (out.exitCode !== 0) {
          tally.hit(`exit ${out.exitCode}`);
          expect(out.stdout).toBe('');
          return;
        }
        tally.hit(out.stdout === '' ? 'exit 0, no key' : 'exit 0, keys');
        const printed = out.stdout.split(/(?<=\n)/).filter(Boolean);
        for (const l of printed) {
          const parsed = parseLine(l.slice(0, -1));
          expect(parsed.ok && renderLine(parsed.line.owner, parsed.line.key, parsed.line) === l).toBe(true);
        }
        let want = oracle(cmd.user);
        if (!isValidLocalName(cmd.user)) want = [];
        if (cmd.fingerprint !== undefined) {
          if (!FINGERPRINT.test(cmd.fingerprint)) want = [];
          want = want.filter((l) => {
            const p = parseLine(l.slice(0, -1));
            return p.ok && p.line.key.fingerprint === cmd.fingerprint;
          });
        }
        expect(printed).toEqual(want);
        // With a fingerprint: one audit line per printed key, naming that fingerprint.
        if (cmd.fingerprint !== undefined) expect(out.audit.length).toBe(printed.length);
      }),
      tally,
      { 'usage error': 0.02, 'exit 2': 0.05, 'exit 0, no key': 0.05, 'exit 0, keys': 0.05 },
    );
  });
});

// ---- (b) object bodies -> parseObject / parseLine --------------------------------------------

describe('(b) object bodies', () => {
  it('every kept line re-renders byte-identical; no mutation of a valid line is ever kept', async () => {
    const tally = new Tally();
    await fuzz(
      '(b) object bodies -> parseObject',
      fc.property(objectBody, ({ segs, text }) => {
        const parsed = parseObject(text);
        const raws = text.split('\n');
        const kept: string[] = [];
        for (const raw of raws) {
          if (raw === '') continue;
          const r = parseLine(raw);
          if (!r.ok) continue;
          // byte-identical re-render, and the re-render is valid too
          expect(renderLine(r.line.owner, r.line.key, r.line)).toBe(`${raw}\n`);
          expect(parseLine(raw).ok).toBe(true);
          expect(r.line.owner).toMatch(IAM_USER_NAME);
          expect(validateKey(r.line.key.type, r.line.key.blob).ok).toBe(true);
          kept.push(raw);
        }
        expect(parsed.lines.map((l) => renderLine(l.owner, l.key, l).slice(0, -1))).toEqual(kept);
        expect(parsed.lines.length + parsed.rejected.length).toBe(raws.filter((r) => r !== '').length);
        // Only an unmodified valid input line is ever kept.
        const valid = new Set(segs.filter((s) => s.kind === 'valid').map((s) => s.text));
        const junk = new Set(segs.filter((s) => s.kind === 'junk').map((s) => s.text));
        for (const k of kept) expect(valid.has(k) || junk.has(k), JSON.stringify(k)).toBe(true);
        if (kept.length > 0) tally.hit('lines kept');
        if (segs.some((x) => x.kind === 'mutated') && parsed.rejected.length > 0)
          tally.hit('mutations dropped');
      }),
      tally,
      { 'lines kept': 0.3, 'mutations dropped': 0.3 },
    );
  });
});

// ---- (c) index.json -> parseIndex -------------------------------------------------------------

/** The directory a publisher writes beside an index: what hosts read in iamUsers mode. */
function directoryOf(index: PublishedIndex): Directory {
  const users = new Map<string, DirectoryUser>();
  for (const [n, u] of Object.entries(index.users)) {
    users.set(n, { userId: u.userId ?? 'AIDA0', localName: u.localName, uid: u.uid, groups: u.groups });
  }
  return { version: 1, users, reservedUids: [] };
}

function checkIndex(x: PublishedIndex): void {
  expect([1, 2]).toContain(x.version);
  expect(Number.isNaN(Date.parse(x.generatedAt))).toBe(false);
  expect(Number.isSafeInteger(x.nextUid)).toBe(true);
  for (const [name, u] of Object.entries(x.users)) {
    expect(name).toMatch(IAM_USER_NAME);
    if (u.localName !== null) expect(isValidLocalName(u.localName)).toBe(true);
    expect(Number.isSafeInteger(u.uid) && u.uid > 0).toBe(true);
    expect(
      Array.isArray(u.groups) && u.groups.every((g) => typeof g === 'string' && IAM_GROUP_NAME.test(g)),
    ).toBe(true);
    expect(Array.isArray(u.keys)).toBe(true);
    for (const k of [...u.keys, ...(u.rejectedKeys ?? [])]) {
      expect(typeof k.id).toBe('string');
      if (k.tagKey !== undefined) expect(k.id).toBe(`tag:${k.tagKey}`);
    }
    if (x.version >= 2) expect(u.userId).toMatch(/^\w{1,128}$/);
  }
  for (const [name, g] of Object.entries(x.groups)) {
    expect(name).toMatch(IAM_GROUP_NAME);
    expect(Array.isArray(g.members)).toBe(true);
  }
  for (const b of Object.values(x.keyBodies)) expect(typeof b).toBe('string');
  for (const uid of Object.values(x.uids)) expect(Number.isSafeInteger(uid)).toBe(true);
}

const indexUser: fc.Arbitrary<IndexUser> = fc.record({
  userId: fc.stringMatching(/^AIDA[A-Z0-9]{12,20}$/),
  localName: fc.oneof(fc.constant(null), fc.stringMatching(/^[a-z_][a-z0-9_.-]{0,31}$/)),
  uid: fc.integer({ min: 1, max: 2 ** 31 }),
  groups: fc.array(iamGroupName, { maxLength: 3 }),
  keys: fc.array(
    fc.oneof(
      fc.record({
        id: fc.stringMatching(/^APKA[A-Z0-9]{8}$/),
        type: fc.constant('ssh-ed25519'),
        fingerprint: fc.constant(KEYS[0]?.fingerprint ?? ''),
      }),
      // A key from a user tag: id `tag:<tag key>`.
      fc.stringMatching(/^ssh-key:[\p{L}\p{N} _.:/=+@-]{1,20}$/u).map((tagKey) => ({
        id: `tag:${tagKey}`,
        tagKey,
        type: 'ssh-ed25519',
        fingerprint: KEYS[0]?.fingerprint ?? '',
      })),
    ),
    {
      maxLength: 2,
    },
  ),
});
const validIndex: fc.Arbitrary<PublishedIndex> = fc
  .record({
    users: fc.dictionary(iamName, indexUser, { maxKeys: 4 }),
    groups: fc.dictionary(iamGroupName, fc.record({ members: fc.array(iamName, { maxLength: 3 }) }), {
      maxKeys: 3,
    }),
    nextUid: fc.integer({ min: 1, max: 2 ** 31 }),
    generatedAt: fc
      .date({ noInvalidDate: true, min: new Date(0), max: new Date(4e12) })
      .map((d) => d.toISOString()),
  })
  .map((r) => ({
    version: 2,
    keyBodies: { APKAEXAMPLE: `${KEYS[0]?.type} ${KEYS[0]?.blob}` },
    uids: Object.fromEntries(Object.values(r.users).map((u) => [u.userId ?? 'x', u.uid])),
    ...r,
  }));

/** Replaces the value at a random path of a JSON value (or deletes it, or adds a key). */
function mutateJson(v: unknown): fc.Arbitrary<unknown> {
  const paths: (string | number)[][] = [];
  const walk = (x: unknown, p: (string | number)[]) => {
    paths.push(p);
    if (Array.isArray(x)) {
      for (const [i, y] of x.entries()) walk(y, [...p, i]);
    } else if (x !== null && typeof x === 'object')
      for (const [k, y] of Object.entries(x)) walk(y, [...p, k]);
  };
  walk(v, []);
  const replacement = fc.oneof(
    fc.jsonValue({ maxDepth: 2 }),
    fc.constantFrom(null, -1, 0, 1.5, 2 ** 60, '', '..', '__proto__', 'root', [], {}, true, '1970-13-01'),
  );
  const added = fc.constantFrom('extra', '__proto__', 'constructor', 'toString', 'v', 'version');
  return fc
    .tuple(fc.constantFrom(...paths), replacement, fc.constantFrom('set', 'delete', 'add'), added)
    .map(([path, r, op, name]) => {
      const copy = structuredClone(v);
      const target = path.reduce<unknown>((o, k) => (o as Record<string | number, unknown>)[k], copy);
      if (op === 'add') {
        // defineProperty: an own "__proto__" key, as JSON.parse makes one.
        if (target !== null && typeof target === 'object' && !Array.isArray(target))
          Object.defineProperty(target, name, {
            value: r,
            enumerable: true,
            writable: true,
            configurable: true,
          });
        return copy;
      }
      if (path.length === 0) return op === 'set' ? r : copy;
      const parent = path
        .slice(0, -1)
        .reduce<unknown>((o, k) => (o as Record<string | number, unknown>)[k], copy) as Record<
        string | number,
        unknown
      >;
      const last = path[path.length - 1] as string | number;
      if (op === 'set') parent[last] = r;
      else if (Array.isArray(parent) && typeof last === 'number') parent.splice(last, 1);
      else delete parent[last];
      return copy;
    });
}

describe('(c) index.json', () => {
  it('a valid index or IndexFormatError, never another exception', async () => {
    const text = fc.oneof(
      { weight: 2, arbitrary: validIndex.map((i) => serializeIndex(i)) },
      {
        weight: 4,
        arbitrary: validIndex
          .chain((i) => mutateJson(JSON.parse(serializeIndex(i))))
          .map((v) => JSON.stringify(v)),
      },
      {
        weight: 1,
        arbitrary: validIndex.chain((i) =>
          fc.nat(serializeIndex(i).length).map((n) => serializeIndex(i).slice(0, n)),
        ),
      },
      { weight: 1, arbitrary: fc.json({ maxDepth: 3 }) },
      { weight: 1, arbitrary: anyString },
      {
        weight: 1,
        arbitrary: validIndex.map((i) =>
          serializeIndex(i).replace(
            '"users": {',
            '"users": {\n  "__proto__": {"localName": "root", "uid": 1, "groups": [], "keys": [], "userId": "AIDAX"},',
          ),
        ),
      },
    );
    const tally = new Tally();
    await fuzz(
      '(c) index.json -> parseIndex',
      fc.property(text, (t) => {
        let x: PublishedIndex;
        try {
          x = parseIndex(t);
        } catch (e) {
          expect(e).toBeInstanceOf(IndexFormatError);
          tally.hit('IndexFormatError');
          return;
        }
        checkIndex(x);
        expect(({} as Record<string, unknown>).localName).toBeUndefined(); // nothing leaked into Object.prototype
        tally.hit('valid');
      }),
      tally,
      { valid: 0.1, IndexFormatError: 0.3 },
    );
  });
});

describe('(c) directory.json (what hosts read)', () => {
  it('a valid directory or DirectoryFormatError, never another exception; users in a Map', async () => {
    const valid = validIndex.map((i) => serializeDirectory(directoryOf(i)));
    const text = fc.oneof(
      { weight: 2, arbitrary: valid },
      { weight: 4, arbitrary: valid.chain((t) => mutateJson(JSON.parse(t))).map((v) => JSON.stringify(v)) },
      { weight: 1, arbitrary: valid.chain((t) => fc.nat(t.length).map((n) => t.slice(0, n))) },
      { weight: 1, arbitrary: fc.json({ maxDepth: 3 }) },
      { weight: 1, arbitrary: anyString },
      {
        weight: 1,
        arbitrary: valid.map((t) =>
          t.replace(
            '"users":{\n',
            '"users":{\n"__proto__":{"userId":"AIDAX","localName":"root","uid":1,"groups":[]},\n',
          ),
        ),
      },
    );
    const tally = new Tally();
    await fuzz(
      '(c) directory.json -> parseDirectory',
      fc.property(text, (t) => {
        let d: Directory;
        try {
          d = parseDirectory(t);
        } catch (e) {
          expect(e).toBeInstanceOf(DirectoryFormatError);
          tally.hit('DirectoryFormatError');
          return;
        }
        expect(d.users).toBeInstanceOf(Map);
        for (const [name, u] of d.users) {
          expect(name).toMatch(IAM_USER_NAME);
          if (u.localName !== null) expect(isValidLocalName(u.localName)).toBe(true);
          expect(Number.isSafeInteger(u.uid) && u.uid > 0).toBe(true);
          expect(u.groups.every((g) => IAM_GROUP_NAME.test(g))).toBe(true);
        }
        expect(({} as Record<string, unknown>).localName).toBeUndefined(); // nothing leaked into Object.prototype
        tally.hit(d.users.has('__proto__') ? 'valid, __proto__ user' : 'valid');
      }),
      tally,
      { valid: 0.1, DirectoryFormatError: 0.3 },
    );
  });
});

// ---- (d) config files -> parseConfig ----------------------------------------------------------

function checkConfig(c: AgentConfig, raw: unknown): void {
  expect(c.bucket).toMatch(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/);
  expect(c.bucket.includes('..')).toBe(false);
  if (c.prefix !== '') {
    expect(c.prefix.endsWith('/') && !c.prefix.startsWith('/')).toBe(true);
    for (const seg of c.prefix.slice(0, -1).split('/')) expect(['', '.', '..']).not.toContain(seg);
  }
  expect(c.region).toMatch(/^[a-z]{2}(-[a-z0-9]+){1,4}$/);
  if (c.endpoint !== undefined) {
    const u = new URL(c.endpoint);
    expect(['http:', 'https:']).toContain(u.protocol);
    if (u.protocol === 'http:') expect(u.hostname).toMatch(/^(localhost|127(\.\d{1,3}){3}|\[::1\])$/);
  }
  expect(Object.getPrototypeOf(c.users)).toBe(Object.prototype);
  for (const [local, principals] of Object.entries(c.users)) {
    expect(isValidLocalName(local)).toBe(true);
    for (const p of principals) expect(() => parsePrincipal(p)).not.toThrow();
  }
  const rawUsers = (raw as { users?: Record<string, unknown> }).users ?? {};
  for (const k of Object.keys(rawUsers)) expect(Object.hasOwn(c.users, k)).toBe(true);
  expect(c.cache.dir.startsWith('/')).toBe(true);
  expect(c.cache.dir.includes('\0')).toBe(false);
  expect(c.cache.ttlSeconds >= 0 && c.cache.ttlSeconds <= c.cache.maxStaleSeconds).toBe(true);
  expect(Number.isInteger(c.deadlineMs) && c.deadlineMs >= 100 && c.deadlineMs <= 60_000).toBe(true);
  if (c.chain) expect(c.chain[0]?.startsWith('/')).toBe(true);
  expect(c.syslogSocket.startsWith('/') && c.passwdFile.startsWith('/')).toBe(true);
  for (const g of c.iamUsers?.allowGroups ?? []) expect(g).toMatch(IAM_GROUP_NAME);
}

const validConfig = fc.record(
  {
    bucket: fc.constantFrom('company-ssh-keys', 'a.b.c', 'abc'),
    prefix: fc.constantFrom('', 'p', 'a/b/', 'x_y/'),
    region: fc.constantFrom('eu-west-1', 'us-east-1', 'cn-north-1', 'us-gov-west-1'),
    endpoint: fc.constantFrom('http://127.0.0.1:9000', 'https://s3.example.com/base/', 'http://localhost'),
    users: fc.dictionary(
      fc.oneof(fc.stringMatching(/^[a-z_][a-z0-9_.-]{0,31}$/), fc.constantFrom('__proto__', 'constructor')),
      fc.array(
        fc.oneof(
          iamName.map((n) => `users/${n}`),
          iamGroupName.map((n) => `groups/${n}`),
        ),
        { maxLength: 3 },
      ),
      { maxKeys: 3 },
    ),
    iamUsers: fc.record({ allowGroups: fc.array(iamGroupName, { maxLength: 2 }) }),
    cache: fc.record({
      dir: fc.constantFrom('/var/cache/iak', '/tmp/x'),
      ttlSeconds: fc.nat(100),
      maxStaleSeconds: fc.integer({ min: 100, max: 10_000 }),
    }),
    deadlineMs: fc.integer({ min: 100, max: 60_000 }),
    chain: fc.constantFrom(['/usr/bin/eic', '%u', '%f'], '/usr/bin/true'),
    syslogSocket: fc.constant('/dev/log'),
    passwdFile: fc.constant('/etc/passwd'),
  },
  { requiredKeys: ['bucket', 'region'] },
);

describe('(d) config files', () => {
  it('ConfigError or a valid config, never another exception', async () => {
    const text = fc.oneof(
      { weight: 2, arbitrary: validConfig.map((c) => JSON.stringify(c)) },
      { weight: 5, arbitrary: validConfig.chain((c) => mutateJson(c)).map((v) => JSON.stringify(v)) },
      {
        weight: 1,
        arbitrary: validConfig.chain((c) =>
          fc.nat(JSON.stringify(c).length).map((n) => JSON.stringify(c).slice(0, n)),
        ),
      },
      { weight: 1, arbitrary: fc.json({ maxDepth: 3 }) },
      { weight: 1, arbitrary: anyString },
      // JSON.parse makes "__proto__" an own key: it must stay data.
      {
        weight: 1,
        arbitrary: fc.constant(
          '{"bucket":"abc","region":"eu-west-1","users":{"__proto__":["users/root"]},"__proto__":{"polluted":1}}',
        ),
      },
    );
    const tally = new Tally();
    await fuzz(
      '(d) config files -> parseConfig',
      fc.property(text, (t) => {
        let c: AgentConfig;
        try {
          c = parseConfig(t, '/etc/iam-authorized-keys.json');
        } catch (e) {
          expect(e).toBeInstanceOf(ConfigError);
          expect((e as Error).message.startsWith('/etc/iam-authorized-keys.json: ')).toBe(true);
          tally.hit('ConfigError');
          return;
        }
        checkConfig(c, JSON.parse(t));
        expect(({} as Record<string, unknown>).polluted).toBeUndefined();
        tally.hit('valid');
      }),
      tally,
      { valid: 0.1, ConfigError: 0.3 },
    );
  });
});

// ---- (e) cache files -> decodeEntry -----------------------------------------------------------

const SUM_HEAD = '{"sum":"';
/** A string that survives UTF-8 (no lone surrogate). */
const utf8Safe = (t: string) => Buffer.from(t, 'utf8').toString('utf8') === t;
/** Bytes with a VALID checksum around an arbitrary header: what only the agent's own user could write, damaged. */
function withChecksum(headerFields: string, tail: Buffer): Buffer {
  const covered = Buffer.concat([Buffer.from(`",${headerFields}\n`), tail]);
  const sum = entrySum(covered).toString(16).padStart(8, '0');
  return Buffer.concat([Buffer.from(`${SUM_HEAD}${sum}`), covered]);
}

const cacheKey = fc.oneof(
  fc.tuple(fc.constantFrom('', 'p/', 'a/b/'), iamName).map(([p, n]) => userKey(p, n)),
  fc.tuple(fc.constantFrom('', 'p/'), iamGroupName).map(([p, n]) => groupKey(p, n)),
  fc.constant(indexKey('')),
  anyString,
);
const jsonish = fc.oneof(
  fc.jsonValue({ maxDepth: 2 }),
  fc.double(),
  fc.integer(),
  fc.constantFrom(-0, 0.5, 1.5, -1, 1e308, 2 ** 53 + 1),
);
const entry: fc.Arbitrary<CacheEntry> = fc
  .oneof(
    fc.record({
      key: cacheKey,
      found: fc.constant(true),
      fetchedAt: fc.integer({ min: 0, max: 2 ** 42 }),
      body: fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a)),
      etag: fc.option(fc.string({ maxLength: 40 }), { nil: undefined }),
      derived: fc.option(fc.jsonValue({ maxDepth: 3 }), { nil: undefined }),
    }),
    fc.record({
      key: cacheKey,
      found: fc.constant(false),
      fetchedAt: fc.integer({ min: 0, max: 2 ** 42 }),
      body: fc.constant(Buffer.alloc(0)),
    }),
  )
  .map((e) => {
    // As encodeEntry stores it: undefined optional fields absent; derived round-trips through JSON.
    const out: Record<string, unknown> = { key: e.key, found: e.found, fetchedAt: e.fetchedAt, body: e.body };
    const opt = e as { etag?: string; derived?: unknown };
    if (opt.etag !== undefined) out.etag = opt.etag;
    if (opt.derived !== undefined) out.derived = JSON.parse(JSON.stringify(opt.derived));
    return out as unknown as CacheEntry;
  });

describe('(e) cache files', () => {
  it('a valid entry for the asked key or a reason, never a throw', async () => {
    const bytes = fc.oneof(
      {
        weight: 1,
        arbitrary: fc
          .uint8Array({ maxLength: 400 })
          .map((a) => ({ buf: Buffer.from(a), key: 'users/alice/authorized_keys' })),
      },
      { weight: 2, arbitrary: entry.map((e) => ({ buf: encodeEntry(e), key: e.key, original: e })) },
      // one bit flipped, truncated, extended
      {
        weight: 3,
        arbitrary: entry.chain((e) => {
          const buf = encodeEntry(e);
          return fc
            .oneof(
              fc.tuple(fc.nat(buf.length - 1), fc.integer({ min: 0, max: 7 })).map(([i, b]) => {
                const c = Buffer.from(buf);
                c[i] = (c[i] as number) ^ (1 << b);
                return c;
              }),
              fc.nat(buf.length - 1).map((n) => buf.subarray(0, n)),
              fc.uint8Array({ minLength: 1, maxLength: 8 }).map((a) => Buffer.concat([buf, a])),
            )
            .map((b) => ({ buf: b, key: e.key }));
        }),
      },
      // A VALID checksum around a header whose fields are consistent, except 0 to 2 of them
      // replaced by arbitrary JSON (or dropped): the checks after the checksum.
      {
        weight: 3,
        arbitrary: fc
          .tuple(
            fc.string({ maxLength: 20 }),
            fc.option(fc.jsonValue({ maxDepth: 2 }), { nil: undefined }),
            fc.boolean(),
            fc.subarray(['v', 'key', 'found', 'etag', 'fetchedAt', 'size', 'derivedSize'], { maxLength: 2 }),
            fc.array(fc.option(jsonish, { nil: undefined }), { minLength: 2, maxLength: 2 }),
          )
          .map(([body, derivedValue, found, fields, values]) => {
            const derived = derivedValue === undefined ? '' : JSON.stringify(derivedValue);
            const b = found ? body : '';
            const h: Record<string, unknown> = {
              v: 2,
              key: 'k',
              found,
              etag: '"e"',
              fetchedAt: 1,
              size: Buffer.byteLength(b),
              derivedSize: Buffer.byteLength(derived),
            };
            for (const [i, f] of fields.entries()) h[f] = values[i];
            return { buf: withChecksum(JSON.stringify(h).slice(1), Buffer.from(b + derived)), key: 'k' };
          }),
      },
    );
    const otherKey = fc.oneof(fc.constant<string | undefined>(undefined), cacheKey);
    const tally = new Tally();
    await fuzz(
      '(e) cache files -> decodeEntry',
      fc.property(bytes, otherKey, (c, other) => {
        const asked = other ?? c.key;
        const r = decodeEntry(c.buf, asked);
        if (typeof r === 'string') {
          tally.hit('refused');
          expect(r.length).toBeGreaterThan(0);
          // (keys and etags are UTF-8 in the file: a lone surrogate cannot survive, and no S3 key has one)
          const wellFormed = 'original' in c && utf8Safe(c.original.key) && utf8Safe(c.original.etag ?? '');
          if (wellFormed && other === undefined) expect.fail(`a valid encoding was refused: ${r}`);
          return;
        }
        expect(r.key).toBe(asked); // never an entry for another key
        if ('original' in c && c.original.key !== asked) expect.fail('an entry was returned for another key');
        expect(typeof r.found).toBe('boolean');
        expect(Number.isFinite(r.fetchedAt)).toBe(true);
        expect(Buffer.isBuffer(r.body)).toBe(true);
        if (!r.found) expect(r.body.length).toBe(0);
        if (r.etag !== undefined) expect(typeof r.etag).toBe('string');
        // What came back is stable: encoded again, it decodes to an entry that encodes to the same bytes.
        const again = decodeEntry(encodeEntry(r), asked);
        if (typeof again === 'string') expect.fail(`a decoded entry, encoded again, was refused: ${again}`);
        expect(encodeEntry(again).equals(encodeEntry(r))).toBe(true);
        if ('original' in c) expect(r).toEqual(c.original);
        tally.hit('original' in c ? 'entry' : 'crafted entry accepted');
      }),
      tally,
      { entry: 0.05, refused: 0.3, 'crafted entry accepted': 0.02 },
    );
  });

  it('cache file names never leave the cache dir', async () => {
    const dir = '/var/cache/iam-authorized-keys';
    const tally = new Tally();
    await fuzz(
      '(e) keys -> cacheFileName',
      fc.property(
        fc.oneof({ weight: 4, arbitrary: cacheKey }, fc.string({ minLength: 150, maxLength: 400 })),
        (key) => {
          const name = cacheFileName(key);
          expect(name).toMatch(/^(o-[A-Za-z0-9_.%-]{0,200}|h-[0-9a-f]{64})$/);
          expect(name.startsWith('.')).toBe(false);
          expect(Buffer.byteLength(name)).toBeLessThanOrEqual(255);
          expect(dirname(join(dir, name))).toBe(dir);
          // The readable form is reversible for the keys the agent asks for (ASCII), so two keys never share a file.
          if (name.startsWith('o-') && /^[\x20-\x7e]*$/.test(key)) {
            expect(decodeURIComponent(name.slice(2))).toBe(key);
          }
          if (name.startsWith('h-')) expect(name).toBe(`h-${createHash('sha256').update(key).digest('hex')}`);
          tally.hit(name.startsWith('h-') ? 'hashed' : 'readable');
        },
      ),
      tally,
      { readable: 0.5, hashed: 0.05 },
    );
  });
});

describe('(e) cache files: the derived lines a hit prints', () => {
  // What a cache hit prints comes from the entry's derived JSON, not from parsing the body again:
  // readDerived must never let an option, a newline or a foreign key type through.
  const LINE_SHAPE = new RegExp(
    `^environment="SSH_KEY_OWNER=([A-Za-z0-9+=,.@_-]{1,64})"(,expiry-time="\\d{14}Z?")?(,verify-required)? (${SUPPORTED_KEY_TYPES.map((t) => t.replace(/[.]/g, '\\.')).join('|')}) [A-Za-z0-9+/]{1,${MAX_BLOB_BASE64}}={0,2} \\1\n$`,
  );
  it('readDerived: undefined, or lines of the published shape only; a fresh derivation reads back as parsed', async () => {
    const input = fc.oneof(
      {
        weight: 2,
        arbitrary: objectBody.map(({ text }) => ({
          derived: deriveObject('users/a/authorized_keys', Buffer.from(text)) as unknown,
          text,
        })),
      },
      {
        weight: 5,
        arbitrary: objectBody
          .chain(({ text }) => mutateJson(deriveObject('users/a/authorized_keys', Buffer.from(text))))
          .map((derived) => ({ derived, text: undefined })),
      },
      {
        weight: 1,
        arbitrary: fc
          .jsonValue({ maxDepth: 4 })
          .map((derived) => ({ derived: derived as unknown, text: undefined })),
      },
    );
    const tally = new Tally();
    await fuzz(
      '(e) derived lines -> readDerived',
      fc.property(input, ({ derived, text }) => {
        const r = readDerived(derived);
        // The standalone's checks (no regular expression) answer as node's patterns, entry for entry.
        expect(readDerived(derived, NATIVE_LINE_CHECKS)).toEqual(readDerived(derived, PATTERN_LINE_CHECKS));
        tally.hit(r === undefined ? 'refused' : r.lines.length > 0 ? 'lines read' : 'no lines');
        if (r === undefined) return;
        for (const l of r.lines) {
          expect(renderLine(l.owner, l.key, l)).toMatch(LINE_SHAPE);
          expect(l.key.fingerprint).toMatch(FINGERPRINT);
        }
        if (text !== undefined) expect(r).toEqual(parseObject(text));
      }),
      tally,
      { refused: 0.1, 'lines read': 0.1 },
    );
  });
});

// ---- (f) IAM names <-> local names, layout keys ---------------------------------------------

/** Sets an own property, as JSON.parse does (a name like "__proto__" stays data). */
function own<T>(o: Record<string, T>, k: string, v: T): void {
  Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });
}

/** The contract's mapping, written out independently (docs/architecture.md "Identity and names"). */
function contractLocalName(iam: string): string {
  let out = '';
  for (const ch of iam)
    out +=
      ({ '+': '.plus.', '=': '.equal.', ',': '.comma.', '@': '.at.' } as Record<string, string>)[ch] ?? ch;
  return out;
}

describe('(f) IAM names <-> local names and layout keys', () => {
  it('a local name is valid and at most 32 characters, or refused; it is the contract mapping', async () => {
    const tally = new Tally();
    await fuzz(
      '(f) IAM name -> local name',
      fc.property(fc.oneof(iamName, anyString), (name) => {
        const r = iamToLocalName(name);
        tally.hit(r.ok ? 'mapped' : 'refused');
        if (!r.ok) {
          expect(r.reason.length).toBeGreaterThan(0);
          if (IAM_USER_NAME.test(name)) {
            const m = contractLocalName(name);
            expect(m.length > MAX_LOCAL_NAME || !isValidLocalName(m)).toBe(true);
          }
          return;
        }
        expect(isValidLocalName(r.name)).toBe(true);
        expect(r.name.length).toBeLessThanOrEqual(MAX_LOCAL_NAME);
        expect(r.name).toBe(contractLocalName(name));
      }),
      tally,
      { mapped: 0.1, refused: 0.2 },
    );
  });

  it('a local name claimed by two IAM users (the mapping is not injective) maps to nobody', async () => {
    // 'a+b' and 'a.plus.b' both map to 'a.plus.b': the contract handles it by mapping neither.
    const special = fc.constantFrom(['+', '.plus.'], ['=', '.equal.'], [',', '.comma.'], ['@', '.at.']);
    const pair = fc
      .tuple(fc.stringMatching(/^[a-z0-9_]{1,8}$/), special, fc.stringMatching(/^[a-z0-9_]{1,8}$/))
      .map(([a, [c, spelled], b]) => [`${a}${c}${b}`, `${a}${spelled}${b}`] as const);
    const others = fc.array(iamName, { maxLength: 3 });
    const tally = new Tally();
    await fuzz(
      '(f) local-name collisions',
      fc.property(pair, others, fc.boolean(), ([x, y], more, bothOk) => {
        const lx = iamToLocalName(x);
        const ly = iamToLocalName(y);
        expect(lx).toEqual(ly);
        if (!lx.ok) return;
        const rest = more.filter((n) => n !== x && n !== y && contractLocalName(n) !== lx.name);
        const users: Record<string, IndexUser> = {};
        let uid = 5000;
        for (const n of [...rest, x, y]) {
          const l = iamToLocalName(n);
          own(users, n, { localName: l.ok ? l.name : null, uid: uid++, groups: [], keys: [] });
        }
        if (!bothOk) (users[y] as { localName: string | null }).localName = null; // the publisher refused one
        tally.hit(bothOk ? 'both claim the name' : 'one withheld');
        const index: PublishedIndex = {
          version: 1,
          generatedAt: new Date().toISOString(),
          users,
          groups: {},
          keyBodies: {},
          uids: {},
          nextUid: uid,
        };
        for (const localUid of [users[x]?.uid, users[y]?.uid]) {
          const m = matchIamUser(directoryOf(index), lx.name, [], localUid);
          // never the wrong one: with both claiming the name, nobody; otherwise only the one whose entry agrees
          if (bothOk) expect(m.principals).toEqual([]);
          else expect(m.principals).toEqual(localUid === users[x]?.uid ? [`users/${x}`] : []);
        }
      }),
      tally,
      { 'both claim the name': 0.3, 'one withheld': 0.3 },
    );
  });

  it('any index: a local user maps to at most one IAM user, whose name maps to it, with its uid', async () => {
    const tally = new Tally();
    await fuzz(
      '(f) matchIamUser over random indexes',
      fc.property(
        // Short names (their local names fit), some of which collide ('a+b' and 'a.plus.b').
        fc.array(
          fc.tuple(
            fc.oneof(
              fc.stringMatching(/^[A-Za-z0-9+=,.@_-]{1,10}$/),
              fc.constantFrom('a+b', 'a.plus.b', 'root', 'a@b', 'a.at.b', 'ab'),
            ),
            fc.integer({ min: 0, max: 50 }),
            fc.oneof(
              { weight: 5, arbitrary: fc.constant<string | null>('computed') },
              fc.constant(null),
              fc.constantFrom('root', 'ab', 'a.plus.b'),
            ),
          ),
          { maxLength: 6 },
        ),
        // The account asked about and its uid: mostly an index entry's, so that some map.
        fc.oneof({ weight: 3, arbitrary: fc.nat() }, fc.stringMatching(/^[a-z.]{1,6}$/)),
        fc.oneof(
          { weight: 3, arbitrary: fc.constant<'same'>('same') },
          fc.nat(),
          fc.integer({ min: -1, max: 50 }).map((n) => ({ uid: n })),
        ),
        (entries, pickUser, pickUid) => {
          const spec: Record<string, { uid: number; local: string | null }> = {};
          for (const [n, uid, local] of entries) own(spec, n, { uid, local });
          const names = Object.keys(spec);
          const picked =
            typeof pickUser === 'number' ? names[pickUser % Math.max(1, names.length)] : undefined;
          const user = picked === undefined ? String(pickUser) : contractLocalName(picked);
          let localUid: number | undefined;
          if (pickUid === 'same') localUid = picked === undefined ? undefined : spec[picked]?.uid;
          else if (typeof pickUid === 'number')
            localUid = spec[names[pickUid % Math.max(1, names.length)] ?? '']?.uid;
          else localUid = pickUid.uid < 0 ? undefined : pickUid.uid;
          const users: Record<string, IndexUser> = {};
          for (const [n, s] of Object.entries(spec)) {
            const l = iamToLocalName(n);
            const localName = s.local === 'computed' ? (l.ok ? l.name : null) : s.local;
            own(users, n, { localName, uid: s.uid, groups: [], keys: [] });
          }
          const index: PublishedIndex = {
            version: 1,
            generatedAt: new Date().toISOString(),
            users,
            groups: {},
            keyBodies: {},
            uids: {},
            nextUid: 99,
          };
          const m = matchIamUser(directoryOf(index), user, [], localUid);
          expect(m.principals.length).toBeLessThanOrEqual(1);
          const p = m.principals[0];
          tally.hit(p === undefined ? 'nobody' : 'mapped');
          if (p === undefined) return;
          const name = p.slice('users/'.length);
          const l = iamToLocalName(name);
          expect(l.ok && l.name === user).toBe(true);
          expect(users[name]?.localName).toBe(user);
          expect(localUid).not.toBe(0);
          expect(users[name]?.uid).toBe(localUid);
          // The one IAM user whose own mapping AND published localName name this account (a second such
          // claimant makes it nobody's; a name whose localName the publisher withheld does not count).
          const claimants = Object.keys(users).filter((n) => {
            const ln = iamToLocalName(n);
            return ln.ok && ln.name === user && users[n]?.localName === user;
          });
          expect(claimants).toEqual([name]);
        },
      ),
      tally,
      { mapped: 0.05, nobody: 0.2 },
    );
  });

  it('object keys stay under their prefix, with no empty, . or .. segment, and reach S3 unchanged', async () => {
    const prefix = fc.oneof(
      {
        weight: 4,
        arbitrary: fc
          .array(fc.stringMatching(/^[A-Za-z0-9!_.*'()-]{1,8}$/), { maxLength: 3 })
          .map((segs) => segs.join('/')),
      },
      anyString,
      fc.constantFrom('..', '../x', 'a/../b', './', 'a//b', '/abs', 'a/./b', '.', '%2e%2e', 'a/b/'),
    );
    const name = fc.oneof(
      { weight: 3, arbitrary: iamName },
      anyString,
      fc.constantFrom('.', '..', 'a/b', '../x', '%2e%2e', '.%2e', ''),
    );
    const tally = new Tally();
    await fuzz(
      '(f) prefix + name -> object key',
      fc.property(prefix, name, fc.constantFrom('users', 'groups'), (pre, n, kind) => {
        let p: string;
        try {
          p = normalizePrefix(pre);
        } catch (e) {
          expect(e).toBeInstanceOf(InvalidPrefixError);
          tally.hit('prefix refused');
          return;
        }
        let principal: ReturnType<typeof parsePrincipal>;
        try {
          principal = parsePrincipal(`${kind}/${n}`);
        } catch (e) {
          expect(e).toBeInstanceOf(InvalidPrincipalError);
          expect((kind === 'users' ? IAM_USER_NAME : IAM_GROUP_NAME).test(n)).toBe(false);
          tally.hit('name refused');
          return;
        }
        expect(principal.name).toBe(n);
        const key = kind === 'users' ? userKey(p, n) : groupKey(p, n);
        expect(key.startsWith(p)).toBe(true);
        expect(key.startsWith('/')).toBe(false);
        for (const seg of key.split('/')) expect(['', '.', '..']).not.toContain(seg);
        expect(parseLayoutKey(p, key)).toEqual({ type: 'principal', principal: { kind, name: n } });
        // The request path: no URL normalisation may move it out of the bucket or change the key.
        const path = `/bucket/${encodeKeyPath(key)}`;
        const url = new URL(`https://s3.example.com${path}`);
        expect(url.pathname).toBe(path);
        expect(url.pathname.split('/').slice(2).map(decodeURIComponent).join('/')).toBe(key);
        const file = cacheFileName(key);
        expect(dirname(join('/var/cache/iak', file))).toBe('/var/cache/iak');
        tally.hit('key made');
      }),
      tally,
      { 'key made': 0.2, 'prefix refused': 0.05, 'name refused': 0.1 },
    );
  });
});

// ---- (g) tag values: `<type> <base64>` keys ---------------------------------------------------

function checkKey(text: string, tally: Tally): void {
  const r = parsePublicKeyText(text);
  tally.hit(r.ok ? 'accepted' : 'refused');
  if (!r.ok) {
    expect(typeof r.reason).toBe('string');
    return;
  }
  const k = r.key;
  expect(isSupportedKeyType(k.type)).toBe(true);
  expect(k.blob.length).toBeLessThanOrEqual(MAX_BLOB_BASE64);
  const raw = Buffer.from(k.blob, 'base64');
  expect(raw.toString('base64')).toBe(k.blob);
  expect(k.fingerprint).toBe(fingerprintOfBlob(raw));
  expect(k.fingerprint).toMatch(FINGERPRINT);
  expect(validateKey(k.type, k.blob)).toEqual(r);
  if (k.type === 'ssh-rsa') expect(k.bits).toBeGreaterThanOrEqual(2048);
  // What the contract accepts as a key, the line format carries for any owner (64-character names included).
  for (const owner of ['a', 'x'.repeat(64)]) {
    const l = parseLine(renderLine(owner, k).slice(0, -1));
    expect(l.ok && l.line.key.fingerprint === k.fingerprint).toBe(true);
  }
}

/** A structural mutation of a key blob: a byte changed, inserted or removed, or a length field rewritten. */
function mutateBlob(k: TestKey): fc.Arbitrary<string> {
  const raw = Buffer.from(k.blob, 'base64');
  return fc
    .oneof(
      fc.tuple(fc.nat(raw.length - 1), fc.integer({ min: 0, max: 255 })).map(([i, b]) => {
        const c = Buffer.from(raw);
        c[i] = b;
        return c;
      }),
      fc
        .tuple(fc.nat(raw.length), fc.integer({ min: 0, max: 255 }))
        .map(([i, b]) => Buffer.concat([raw.subarray(0, i), Buffer.from([b]), raw.subarray(i)])),
      fc.nat(raw.length - 1).map((i) => Buffer.concat([raw.subarray(0, i), raw.subarray(i + 1)])),
      fc
        .tuple(fc.constantFrom(0, 4 + k.type.length), fc.integer({ min: 0, max: 2 ** 32 - 1 }))
        .map(([at, len]) => {
          const c = Buffer.from(raw);
          if (at + 4 <= c.length) c.writeUInt32BE(len, at);
          return c;
        }),
      fc.uint8Array({ minLength: 1, maxLength: 16 }).map((a) => Buffer.concat([raw, a])),
    )
    .map((b) => b.toString('base64'));
}

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
/** Keys whose base64 ends in padding: their last data character carries unused low bits. */
const PADDED = KEYS.filter((k) => k.blob.endsWith('='));
/** Sets unused low bits of the last data character (one '=': 2 bits, two: 4 bits). */
function nonCanonical(blob: string, bits: number): string {
  const i = blob.replace(/=+$/, '').length - 1;
  return blob.slice(0, i) + B64[B64.indexOf(blob[i] as string) ^ bits] + blob.slice(i + 1);
}

describe('(g) tag values (`<type> <base64>`)', () => {
  it('valid or refused, never a throw; what is accepted is canonical and servable', async () => {
    const text = fc.oneof(
      { weight: 2, arbitrary: fc.constantFrom(...KEYS).map((k) => k.openssh) },
      // The same key bytes spelled with non-zero padding bits: decodes alike, is not canonical.
      {
        weight: 1,
        arbitrary: fc
          .tuple(fc.constantFrom(...PADDED), fc.integer({ min: 1, max: 3 }))
          .map(([k, bits]) => `${k.type} ${nonCanonical(k.blob, bits)}`),
      },
      {
        weight: 4,
        arbitrary: fc
          .constantFrom(...KEYS)
          .chain((k) =>
            fc
              .tuple(fc.constantFrom(k.type, ...SUPPORTED_KEY_TYPES), mutateBlob(k))
              .map(([t, b]) => `${t} ${b}`),
          ),
      },
      { weight: 2, arbitrary: fc.constantFrom(...KEYS).chain((k) => mutateLine(`${k.openssh} comment`)) },
      {
        weight: 1,
        arbitrary: fc
          .tuple(
            fc.constantFrom(...SUPPORTED_KEY_TYPES, 'ssh-dss', 'SSH-RSA', ''),
            fc.base64String({ maxLength: 200 }),
          )
          .map(([t, b]) => `${t} ${b}`),
      },
      { weight: 1, arbitrary: anyString },
      {
        weight: 1,
        arbitrary: fc
          .tuple(anyString, fc.base64String({ maxLength: 120 }))
          .map(([s, b]) => `-----BEGIN PUBLIC KEY-----\n${b}${s}\n-----END PUBLIC KEY-----`),
      },
      {
        weight: 1,
        arbitrary: fc.constantFrom(...KEYS).map((k) => `  ${k.openssh}\t comment with spaces \n`),
      },
    );
    const tally = new Tally();
    await fuzz(
      '(g) tag values -> parsePublicKeyText',
      fc.property(text, (t) => {
        checkKey(t, tally);
        if (!KEYS.some((k) => t.includes(k.blob)) && parsePublicKeyText(t).ok) tally.hit('other valid key');
        if (PADDED.some((k) => t !== k.openssh && t.startsWith(`${k.type} ${k.blob.slice(0, -4)}`)))
          tally.hit('non-canonical spelling');
      }),
      tally,
      { accepted: 0.2, refused: 0.4, 'other valid key': 0.003, 'non-canonical spelling': 0.03 },
    );
  });
});

describe('(h) publisher render with prototype names (`__proto__`, `constructor`: valid IAM names)', () => {
  const PROTO_NAMES = ['__proto__', 'constructor', 'toString', 'valueOf', 'hasOwnProperty'];
  const PREFIX = 'p/';
  const fold = (n: string) => n.toLowerCase();
  const userName = fc.oneof(
    { weight: 1, arbitrary: fc.constantFrom(...PROTO_NAMES) },
    { weight: 1, arbitrary: iamName },
  );
  const groupName = fc.oneof(
    { weight: 1, arbitrary: fc.constantFrom(...PROTO_NAMES) },
    { weight: 1, arbitrary: iamGroupName },
  );
  // A key: one of a few shared keys (copies between users), a body IAM holds but we refuse, Inactive.
  const keySpec = fc.record({
    key: fc.integer({ min: -1, max: KEYS.length - 1 }),
    active: fc.boolean(),
    inTag: fc.boolean(),
  });
  const snapshotArb = fc
    .tuple(
      // IAM names are unique without regard to case.
      fc.uniqueArray(userName, { minLength: 1, maxLength: 6, selector: fold }),
      fc.uniqueArray(groupName, { maxLength: 4, selector: fold }),
    )
    .chain(([users, groups]) =>
      fc.tuple(
        fc.constant(users),
        fc.constant(groups),
        fc.array(fc.tuple(fc.subarray(groups), fc.array(keySpec, { maxLength: 3 })), {
          minLength: users.length,
          maxLength: users.length,
        }),
      ),
    )
    .map(([users, groups, details]): IamSnapshot => {
      const bodies = new Map<string, string>();
      const iamUsers = users.map((name, i): IamUser => {
        const [memberOf, specs] = details[i] ?? [[], []];
        const keys: IamUser['keys'][number][] = [];
        const tags: IamUser['tags'][number][] = [];
        specs.forEach((k, j) => {
          const text = k.key < 0 ? 'ssh-dss AAAA' : (KEYS[k.key] as TestKey).openssh;
          if (k.inTag) tags.push({ key: `ssh-key:${j}`, value: text });
          else {
            keys.push({ id: `APKA${i}X${j}`, status: k.active ? 'Active' : 'Inactive' });
            bodies.set(`APKA${i}X${j}`, text);
          }
        });
        return { name, id: `AIDA${i}`, groups: memberOf, keys, tags };
      });
      return { users: iamUsers, groups, bodies };
    });

  it('index.json round-trips every user and group, every object has its entry, and the index stands in for IAM', async () => {
    const tally = new Tally();
    const t0 = Date.parse('2026-01-01T00:00:00Z');
    await fuzz(
      '(h) render/index with prototype names',
      fc.property(snapshotArb, (s) => {
        const opts = (ms: number) => ({ prefix: PREFIX, uidBase: 20000, now: new Date(t0 + ms) });
        const first = render(s, undefined, opts(0));
        const index = parseIndex(serializeIndex(first.index));
        expect(serializeIndex(index)).toBe(serializeIndex(first.index));
        const userNames = s.users.map((u) => u.name).sort();
        const groupNames = [...new Set([...s.groups, ...s.users.flatMap((u) => u.groups)])].sort();
        expect(Object.keys(index.users).sort()).toEqual(userNames);
        expect(Object.keys(index.groups).sort()).toEqual(groupNames);
        expect(first.objects.size).toBe(userNames.length + groupNames.length);
        for (const key of first.objects.keys()) {
          const p = parseLayoutKey(PREFIX, key);
          expect(p?.type).toBe('principal');
          if (p?.type !== 'principal') continue;
          const { kind, name } = p.principal;
          expect(Object.hasOwn(kind === 'users' ? index.users : index.groups, name), key).toBe(true);
        }
        for (const u of s.users) expect(Object.hasOwn(index.uids, u.id)).toBe(true);
        // The next run, from IAM or from index.json standing in for it (a targeted run), is the same.
        const fromIam = render(s, index, opts(60_000));
        const standIn = snapshotFromIndex(index);
        expect(standIn).toBeDefined();
        const fromIndex = render(frozen(standIn as MutableSnapshot), index, opts(60_000));
        expect(serializeIndex(fromIndex.index)).toBe(serializeIndex(fromIam.index));
        expect([...fromIndex.objects].sort()).toEqual([...fromIam.objects].sort());
        if (s.users.some((u) => PROTO_NAMES.includes(u.name))) tally.hit('prototype user');
        if (groupNames.some((g) => PROTO_NAMES.includes(g))) tally.hit('prototype group');
        if (first.problems.some((p) => p.sharedWith)) tally.hit('copied key');
        if (Object.values(index.users).some((u) => u.keys.some((k) => k.tagKey !== undefined)))
          tally.hit('tag key');
      }),
      tally,
      { 'prototype user': 0.3, 'prototype group': 0.3, 'copied key': 0.1, 'tag key': 0.2 },
    );
  }, 600_000); // three renders a case: about 40 s on 2 shared cores
});

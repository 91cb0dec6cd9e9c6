// Fault suite of the host agent (issue 10): the BUILT agent (dist/iam-authorized-keys,
// or with IAK_E2E_AGENT=standalone the standalone executable on a host without node)
// against moto_server behind a fault proxy, with a fake IMDS for the credential
// chain. One row per fault and cache state. Each run must end in exactly the
// right lines (per object: from S3, or from the cache when S3 failed and the
// cached copy is within maxStaleSeconds) with exit 0, or in nothing on stdout
// and a non-zero exit, within the deadline plus a margin; never a line that is
// neither S3's nor the cache's. After every row a clean run (no fault) must
// answer S3's lines: a fault never leaves a damaged answer in the cache.
import {
  chmodSync,
  chownSync,
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { CreateBucketCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { directoryKey, heartbeatKey } from '../../contract/directory.js';
import { groupKey, userKey } from '../../contract/layout.js';
import { renderLine } from '../../contract/line.js';
import { AGENT_KIND, STANDALONE_NAME, withoutNode } from '../../dev/agent-kind.js';
import { sshdCommandEnv } from '../../dev/host.js';
import { makeKey } from '../../dev/keys.js';
import { freePort, type Moto, startMoto, TEST_CREDENTIALS, TEST_REGION } from '../../dev/moto.js';
import { asPublished } from '../../dev/s3-objects.js';
import { deriveObject } from '../../host-agent/authorized-keys.js';
import { cacheFileName, encodeEntry } from '../../host-agent/cache.js';
import { type AgentRun, runCommand, writeConfig as writeConfigFile } from '../helpers/agent.js';
import {
  type FakeImds,
  IMDS_TOKEN_EXPIRED,
  IMDS_TOKEN_OK,
  type ImdsMode,
  startFakeImds,
} from '../helpers/fake-imds.js';
import {
  type Fault,
  type FaultProxy,
  type ProxyRequest,
  s3Error,
  startFaultProxy,
} from '../helpers/fault-proxy.js';
import { directoryJson, heartbeatJson } from '../helpers/index-fixture.js';

const ROOT = new URL('../..', import.meta.url).pathname;
const BUCKET = 'reliability-keys';
const PREFIX = 'keys/';
/** The agent's deadline in every row; the bound asserted is DEADLINE_MS + MARGIN_MS (a correctness bound, not a speed test). */
const DEADLINE_MS = 2000;
const MARGIN_MS = 2000;
const TTL_S = 30;
const MAX_STALE_S = 3600;

const K = { old: makeKey(), a1: makeKey(), a2: makeKey('ecdsa'), bob: makeKey('rsa'), carol: makeKey() };
const PRINCIPALS = ['users/alice', 'groups/Admins'] as const;
type Principal = (typeof PRINCIPALS)[number];
const KEY_OF: Record<Principal, string> = {
  'users/alice': userKey(PREFIX, 'alice'),
  'groups/Admins': groupKey(PREFIX, 'Admins'),
};
/** What S3 holds now, and the older copy the cache holds: every row can tell which one answered. */
const S3_LINES: Record<Principal, string[]> = {
  'users/alice': [renderLine('alice', K.a1), renderLine('alice', K.a2)],
  'groups/Admins': [renderLine('alice', K.a1), renderLine('bob', K.bob)],
};
const CACHE_LINES: Record<Principal, string[]> = {
  'users/alice': [renderLine('alice', K.old), renderLine('alice', K.a1)],
  'groups/Admins': [renderLine('alice', K.a1), renderLine('carol', K.carol)],
};
const EVERY_LINE = new Set([...Object.values(S3_LINES).flat(), ...Object.values(CACHE_LINES).flat()]);
// What iamUsers mode reads: the directory (alice has uid 2000, as in passwd) and the heartbeat.
const DIRECTORY = directoryJson({ alice: { localName: 'alice', groups: ['Admins'], uid: 2000 } });
const HEARTBEAT = heartbeatJson(new Date().toISOString());

type Source = 's3' | 'cache';
type Mode = 'users' | 'iamUsers';
/** 'fail': nothing on stdout, exit 1. Otherwise where each principal's lines must come from. */
type Expected = 'fail' | Source | Partial<Record<Principal, Source>>;
type Creds =
  | { readonly kind: 'env' }
  | { readonly kind: 'imds'; readonly mode: ImdsMode }
  | { readonly kind: 'imds-down' };
type CacheState = 'none' | 'stale' | 'fresh' | 'future';

interface Row {
  readonly name: string;
  readonly cache: CacheState;
  readonly expect: Expected;
  readonly mode?: Mode;
  readonly creds?: Creds;
  readonly s3?: (r: ProxyRequest) => Fault | undefined;
  /** Applied to the cache dir after the entries are written (damage, owner, mode). */
  readonly damage?: (dir: string) => void;
  /** The cache dir is a tiny tmpfs with no space left (private mount namespace). */
  readonly fullDisk?: boolean;
  /** Proves the fault was reached (a row must not pass by never meeting its fault). */
  readonly stderr?: RegExp;
  /** Expected number of requests at the proxy (e.g. 0 for a fresh cache). */
  readonly s3Requests?: number;
}

/** A run of the agent, with its wall time (for the printed table; asserted only against the deadline). */
type RunResult = AgentRun & { readonly ms: number };

let moto: Moto;
let s3: S3Client;
let proxy: FaultProxy;
let imds: FakeImds;
let work: string;
let agent: string;
const summary: {
  row: string;
  cache: string;
  expected: string;
  outcome: string;
  ms: number;
  recovered: string;
}[] = [];

function principalsOf(mode: Mode): Principal[] {
  return mode === 'users' ? [...PRINCIPALS] : ['users/alice'];
}

/** The agent's answer when each principal's object comes from `sources` (principal order, duplicates dropped). */
function expectedStdout(mode: Mode, expected: Exclude<Expected, 'fail'>): string {
  const seen = new Set<string>();
  for (const p of principalsOf(mode)) {
    const src = typeof expected === 'string' ? expected : (expected[p] ?? 's3');
    for (const l of (src === 's3' ? S3_LINES : CACHE_LINES)[p]) seen.add(l);
  }
  return [...seen].join('');
}

/** Names the outcome for the summary: which copy each object came from, or what else happened. */
function outcomeOf(mode: Mode, r: RunResult): string {
  if (r.code !== 0) return r.stdout === '' ? `fail(${r.code})` : `FAIL-WITH-OUTPUT(${r.code})`;
  const ps = principalsOf(mode);
  for (const combo of ['s3', 'cache', ...(ps.length > 1 ? ['mixed1', 'mixed2'] : [])]) {
    const exp: Exclude<Expected, 'fail'> =
      combo === 'mixed1'
        ? { 'users/alice': 's3', 'groups/Admins': 'cache' }
        : combo === 'mixed2'
          ? { 'users/alice': 'cache', 'groups/Admins': 's3' }
          : (combo as Source);
    if (r.stdout === expectedStdout(mode, exp))
      return combo.startsWith('mixed') ? JSON.stringify(exp) : combo;
  }
  if (r.stdout === '') return 'NO KEYS (exit 0)';
  const lines = r.stdout.split(/(?<=\n)/).filter(Boolean);
  return lines.every((l) => EVERY_LINE.has(l)) ? `OTHER ANSWER (${lines.length} lines)` : 'WRONG LINE';
}

function describeExpected(e: Expected): string {
  return typeof e === 'string' ? e : JSON.stringify(e);
}

function writeConfig(dir: string, mode: Mode, cacheDir: string): string {
  return writeConfigFile(join(dir, 'config.json'), {
    bucket: BUCKET,
    prefix: PREFIX,
    region: TEST_REGION,
    endpoint: proxy.endpoint,
    deadlineMs: DEADLINE_MS,
    cache: { dir: cacheDir, ttlSeconds: TTL_S, maxStaleSeconds: MAX_STALE_S },
    passwdFile: join(work, 'passwd'),
    syslogSocket: join(work, 'no-syslog.sock'),
    ...(mode === 'users' ? { users: { u: [...PRINCIPALS] } } : { iamUsers: { allowGroups: [] } }),
  });
}

/** Writes the older copies as the agent would have (with their derived lines), fetched at `fetchedAt`. */
function writeCacheEntries(dir: string, fetchedAt: number): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
  const objects: [string, string][] = [
    [KEY_OF['users/alice'], CACHE_LINES['users/alice'].join('')],
    [KEY_OF['groups/Admins'], CACHE_LINES['groups/Admins'].join('')],
    [directoryKey(PREFIX), DIRECTORY],
    [heartbeatKey(PREFIX), HEARTBEAT],
  ];
  for (const [key, text] of objects) {
    const body = Buffer.from(text);
    const derived = deriveObject(key, body);
    writeFileSync(
      join(dir, cacheFileName(key)),
      encodeEntry({
        key,
        found: true,
        etag: '"older-copy"',
        fetchedAt,
        body,
        ...(derived ? { derived } : {}),
      }),
      { mode: 0o600 },
    );
  }
}

const entryFiles = (dir: string) => readdirSync(dir).filter((f) => f.startsWith('o-') || f.startsWith('h-'));

// Damage to the cache, each applied to every entry file.
const damage = {
  flipByte(dir: string) {
    for (const f of entryFiles(dir)) {
      const buf = readFileSync(join(dir, f));
      const i = buf.length - 20; // inside the body or the derived lines
      buf[i] = (buf[i] as number) ^ 0x01;
      writeFileSync(join(dir, f), buf, { mode: 0o600 });
    }
  },
  truncate(dir: string) {
    for (const f of entryFiles(dir)) {
      const buf = readFileSync(join(dir, f));
      writeFileSync(join(dir, f), buf.subarray(0, Math.floor(buf.length / 2)), { mode: 0o600 });
    }
  },
  /** The file named for users/alice holds the (valid) entry of groups/Admins, and the other way round. */
  swapKeys(dir: string) {
    const a = join(dir, cacheFileName(KEY_OF['users/alice']));
    const g = join(dir, cacheFileName(KEY_OF['groups/Admins']));
    renameSync(a, `${a}.tmp`);
    renameSync(g, a);
    renameSync(`${a}.tmp`, g);
  },
  foreignDir(dir: string) {
    for (const f of entryFiles(dir)) chownSync(join(dir, f), 4242, 4242);
    chownSync(dir, 4242, 4242);
  },
  foreignFiles(dir: string) {
    for (const f of entryFiles(dir)) chownSync(join(dir, f), 4242, 4242);
  },
  worldWritable(dir: string) {
    chmodSync(dir, 0o777);
  },
  /** The configured dir is a symlink to a directory holding good entries. */
  symlink(dir: string) {
    renameSync(dir, `${dir}-real`);
    symlinkSync(`${dir}-real`, dir);
  },
};

const s3Down = (): Fault => ({ kind: 'reset' });
/** How node's HTTP parser reports a body longer than its Content-Length. */
const NODE_FRAMING_ERROR = /HPE_|Parse Error|closed mid-body|ECONNRESET/;
/** One base64 character in the middle of the last key blob changed: still a well-formed key, another one. */
function flipLastKeyByte(body: Buffer): Buffer {
  const text = body.toString('utf8');
  const at = text.lastIndexOf(' AAAA') + 41;
  if (at < 41) throw new Error('no key blob in the object');
  return Buffer.from(text.slice(0, at) + (text[at] === 'A' ? 'B' : 'A') + text.slice(at + 1), 'utf8');
}

const objectGets = (f: Fault) => (r: ProxyRequest) =>
  r.service === 's3' && r.action === 'GetObject' ? f : undefined;

// A fault S3 itself, the network or a middlebox can produce, run with no cache (must fail closed) and
// with a stale copy (must serve it).
function both(name: string, fault: (r: ProxyRequest) => Fault | undefined, stderr: RegExp): Row[] {
  return [
    { name, cache: 'none', s3: fault, expect: 'fail', stderr },
    { name, cache: 'stale', s3: fault, expect: 'cache', stderr },
  ];
}

const ROWS: Row[] = [
  { name: 'no fault (baseline)', cache: 'none', expect: 's3', stderr: /source s3/ },
  { name: 'no fault (baseline)', cache: 'stale', expect: 's3', stderr: /source s3/ },
  ...both('S3 500 InternalError', objectGets(s3Error('InternalError', 'injected', 500)), /500 InternalError/),
  ...both(
    'S3 503 SlowDown',
    objectGets(s3Error('SlowDown', 'Please reduce your request rate.', 503)),
    /503 SlowDown/,
  ),
  ...both(
    'S3 403 AccessDenied',
    objectGets(s3Error('AccessDenied', 'Access Denied', 403)),
    /403 AccessDenied/,
  ),
  ...both(
    'S3 404 NoSuchBucket (not "unknown principal")',
    objectGets(s3Error('NoSuchBucket', 'The specified bucket does not exist', 404)),
    /404 NoSuchBucket/,
  ),
  ...both(
    "a middlebox's 404 (no S3 NoSuchKey)",
    objectGets({
      kind: 'respond',
      status: 404,
      body: '<html>Not Found</html>',
      headers: { 'content-type': 'text/html' },
    }),
    /answered 404/,
  ),
  ...both(
    'clock skew: 403 RequestTimeTooSkewed',
    objectGets(
      s3Error(
        'RequestTimeTooSkewed',
        'The difference between the request time and the current time is too large.',
        403,
      ),
    ),
    /RequestTimeTooSkewed/,
  ),
  ...both('connection reset before the answer', objectGets({ kind: 'reset' }), /ECONNRESET|socket hang up/),
  ...both(
    'connection reset mid-headers',
    objectGets({ kind: 'reset-mid-headers' }),
    /ECONNRESET|socket hang up/,
  ),
  ...both('no answer at all (hang)', objectGets({ kind: 'hang' }), /deadline reached/),
  ...both(
    'slow headers (beyond the deadline)',
    objectGets({ kind: 'delay', ms: DEADLINE_MS + 3000 }),
    /deadline reached/,
  ),
  ...both(
    'slow body (beyond the deadline)',
    objectGets({ kind: 'slow-body', ms: DEADLINE_MS + 3000 }),
    /deadline reached/,
  ),
  ...both('truncated body (closed mid-body)', objectGets({ kind: 'truncate' }), /aborted|closed mid-body/),
  // node:http fails on the extra bytes; Bun's fetch reads only the declared bytes, and the checksum catches the rest.
  ...both(
    'Content-Length 10 bytes short (extra bytes follow)',
    objectGets({ kind: 'content-length', delta: -10 }),
    AGENT_KIND === 'standalone' ? /does not match its SHA-256 checksum/ : NODE_FRAMING_ERROR,
  ),
  // An object written without a checksum (an older publisher): the standalone asks again over node:http (HPE_*).
  ...both(
    'Content-Length 10 bytes short, object without a SHA-256 checksum',
    objectGets({ kind: 'content-length', delta: -10, without: ['x-amz-checksum-sha256'] }),
    AGENT_KIND === 'standalone' ? /HPE_/ : NODE_FRAMING_ERROR,
  ),
  ...both(
    'body altered in transit, framing intact',
    objectGets({ kind: 'rewrite', fn: (up) => ({ ...up, body: flipLastKeyByte(up.body) }) }),
    /does not match its SHA-256 checksum/,
  ),
  ...both(
    'Content-Length 10 bytes long (closed early)',
    objectGets({ kind: 'content-length', delta: 10 }),
    /aborted|closed mid-body/,
  ),
  {
    name: 'slow headers (within the deadline)',
    cache: 'none',
    s3: objectGets({ kind: 'delay', ms: 300 }),
    expect: 's3',
  },
  {
    name: 'slow body (within the deadline)',
    cache: 'none',
    s3: objectGets({ kind: 'slow-body', ms: 300 }),
    expect: 's3',
  },
  {
    name: 'S3 500 on the second object only',
    cache: 'none',
    s3: (r) => (r.key === KEY_OF['groups/Admins'] ? s3Error('InternalError', 'injected', 500) : undefined),
    expect: 'fail',
    stderr: /500 InternalError/,
  },
  {
    name: 'S3 500 on the second object only',
    cache: 'stale',
    s3: (r) => (r.key === KEY_OF['groups/Admins'] ? s3Error('InternalError', 'injected', 500) : undefined),
    expect: { 'users/alice': 's3', 'groups/Admins': 'cache' },
    stderr: /S3 unavailable for keys\/groups\/Admins/,
  },
  // Credentials from the instance role through (fake) IMDSv2.
  {
    name: 'IMDS credentials (baseline)',
    cache: 'none',
    creds: { kind: 'imds', mode: { kind: 'ok' } },
    expect: 's3',
  },
  {
    name: 'IMDS slow (300 ms per answer)',
    cache: 'none',
    creds: { kind: 'imds', mode: { kind: 'slow', ms: 300 } },
    expect: 's3',
  },
  {
    name: 'IMDS hangs',
    cache: 'none',
    creds: { kind: 'imds', mode: { kind: 'hang' } },
    expect: 'fail',
    stderr: /no AWS credentials/,
  },
  {
    name: 'IMDS hangs',
    cache: 'stale',
    creds: { kind: 'imds', mode: { kind: 'hang' } },
    expect: 'cache',
    stderr: /no AWS credentials/,
  },
  {
    name: 'IMDS down (refused)',
    cache: 'none',
    creds: { kind: 'imds-down' },
    expect: 'fail',
    stderr: /no AWS credentials/,
  },
  {
    name: 'IMDS down (refused)',
    cache: 'stale',
    creds: { kind: 'imds-down' },
    expect: 'cache',
    stderr: /no AWS credentials/,
  },
  ...(['none', 'stale'] as const).map(
    (cache): Row => ({
      name: 'expired credentials (IMDS Expiration in the past; S3 400 ExpiredToken)',
      cache,
      creds: { kind: 'imds', mode: { kind: 'expired' } },
      s3: (r) =>
        r.headers['x-amz-security-token'] === IMDS_TOKEN_EXPIRED
          ? s3Error('ExpiredToken', 'The provided token has expired.', 400)
          : undefined,
      expect: cache === 'none' ? 'fail' : 'cache',
      stderr: /ExpiredToken/,
    }),
  ),
  // The cache itself.
  {
    name: 'fresh cache, S3 down: no request at all',
    cache: 'fresh',
    s3: s3Down,
    expect: 'cache',
    s3Requests: 0,
  },
  ...(['S3 down', 'S3 up'] as const).flatMap((s3State): Row[] => {
    const s3 = s3State === 'S3 down' ? s3Down : undefined;
    const outcome: Expected = s3State === 'S3 down' ? 'fail' : 's3';
    return [
      {
        name: `damaged entries (a flipped bit), ${s3State}`,
        cache: 'stale',
        damage: damage.flipByte,
        s3,
        expect: outcome,
        stderr: /checksum mismatch/,
      },
      {
        name: `truncated entries, ${s3State}`,
        cache: 'stale',
        damage: damage.truncate,
        s3,
        expect: outcome,
        stderr: /ignoring cache entry/,
      },
      {
        name: `entries of another key (files swapped), ${s3State}`,
        cache: 'stale',
        damage: damage.swapKeys,
        s3,
        // directory.json's entry is untouched; the two swapped ones are refused.
        expect: outcome,
        stderr: /header does not match the key/,
      },
      {
        name: `cache dir owned by another uid, ${s3State}`,
        cache: 'stale',
        damage: damage.foreignDir,
        s3,
        expect: outcome,
        stderr: /owned by uid 4242/,
      },
      {
        name: `entries owned by another uid, ${s3State}`,
        cache: 'stale',
        damage: damage.foreignFiles,
        s3,
        expect: outcome,
        stderr: /owned by uid 4242/,
      },
      {
        name: `entries from the future (clock went back 2 h), ${s3State}`,
        cache: 'future',
        s3,
        expect: outcome,
      },
    ];
  }),
  {
    name: 'world-writable cache dir, S3 down',
    cache: 'stale',
    damage: damage.worldWritable,
    s3: s3Down,
    expect: 'fail',
    stderr: /world-writable/,
  },
  {
    name: 'cache dir is a symlink, S3 down',
    cache: 'stale',
    damage: damage.symlink,
    s3: s3Down,
    expect: 'fail',
    stderr: /not a directory/,
  },
  {
    name: 'full disk (no space for the cache), S3 up',
    cache: 'none',
    fullDisk: true,
    expect: 's3',
    stderr: /ENOSPC/,
  },
  {
    name: 'full disk, stale copy on it, S3 down',
    cache: 'stale',
    fullDisk: true,
    s3: s3Down,
    expect: 'cache',
  },
  {
    name: 'full disk, stale copy on it, S3 up',
    cache: 'stale',
    fullDisk: true,
    expect: 's3',
    stderr: /ENOSPC/,
  },
  // iamUsers mode reads directory.json first.
  // The stale directory.json maps alice; her object itself comes from S3.
  ...both(
    'iamUsers: directory.json 500',
    (r) => (r.key === directoryKey(PREFIX) ? s3Error('InternalError', 'injected', 500) : undefined),
    /500 InternalError/,
  ).map((r): Row => ({ ...r, mode: 'iamUsers', ...(r.expect === 'cache' ? { expect: 's3' } : {}) })),
  ...both('iamUsers: every GET reset', objectGets({ kind: 'reset' }), /ECONNRESET/).map(
    (r): Row => ({ ...r, mode: 'iamUsers' }),
  ),
];

// In a private mount namespace: a tmpfs over the cache dir, seeded with `seed`'s entries, then filled up.
const FULL_DISK =
  'd=$1; seed=$2; shift 2; mount -t tmpfs -o size=16k,mode=0700 tmpfs "$d" || exit 125; ' +
  'cp -a "$seed"/. "$d"/ || exit 125; head -c 1048576 /dev/zero > "$d/.filler" 2>/dev/null; ' +
  '[ "$(df -k --output=avail "$d" | tail -1 | tr -d " ")" = 0 ] || exit 126; exec "$@"';

async function runAgent(
  args: string[],
  env: Record<string, string>,
  fullDisk?: { dir: string; seed: string },
): Promise<RunResult> {
  let [cmd, argv] = withoutNode(agent, args);
  if (fullDisk) {
    argv = [
      '--mount',
      '--propagation',
      'private',
      '--',
      'sh',
      '-c',
      FULL_DISK,
      'full-disk',
      fullDisk.dir,
      fullDisk.seed,
      cmd,
      ...argv,
    ];
    cmd = 'unshare';
  }
  const started = performance.now();
  const r = await runCommand(cmd, argv, env, { timeoutMs: 30_000 });
  return { ...r, ms: Math.round(performance.now() - started) };
}

async function credentialEnv(creds: Creds): Promise<Record<string, string>> {
  if (creds.kind === 'env') {
    return {
      AWS_ACCESS_KEY_ID: TEST_CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: TEST_CREDENTIALS.secretAccessKey,
      AWS_EC2_METADATA_DISABLED: 'true',
    };
  }
  if (creds.kind === 'imds-down') {
    return { AWS_EC2_METADATA_SERVICE_ENDPOINT: `http://127.0.0.1:${await freePort()}` };
  }
  imds.mode = creds.mode;
  return { AWS_EC2_METADATA_SERVICE_ENDPOINT: imds.endpoint };
}

beforeAll(async () => {
  moto = await startMoto();
  proxy = await startFaultProxy(moto.endpoint);
  imds = await startFakeImds();
  s3 = new S3Client({
    region: TEST_REGION,
    endpoint: moto.endpoint,
    forcePathStyle: true,
    credentials: TEST_CREDENTIALS,
  });
  await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
  for (const p of PRINCIPALS) {
    await s3.send(new PutObjectCommand(asPublished(BUCKET, KEY_OF[p], S3_LINES[p].join(''))));
  }
  await s3.send(new PutObjectCommand(asPublished(BUCKET, directoryKey(PREFIX), DIRECTORY)));
  await s3.send(new PutObjectCommand(asPublished(BUCKET, heartbeatKey(PREFIX), HEARTBEAT)));
  work = mkdtempSync(join(tmpdir(), 'iak-faults-'));
  writeFileSync(
    join(work, 'passwd'),
    'root:x:0:0:root:/root:/bin/sh\nalice:x:2000:2000::/home/alice:/bin/sh\n',
  );
  agent = join(work, 'iam-authorized-keys');
  copyFileSync(
    join(ROOT, 'dist', AGENT_KIND === 'standalone' ? STANDALONE_NAME : 'iam-authorized-keys'),
    agent,
  );
});

afterAll(async () => {
  if (summary.length > 0) {
    const w = Math.max(...summary.map((s) => s.row.length));
    const lines = summary.map(
      (s) =>
        `${s.row.padEnd(w)}  ${s.cache.padEnd(6)}  ${s.expected.padEnd(45)}  ${s.outcome.padEnd(45)}  ${String(s.ms).padStart(5)} ms  ${s.recovered}`,
    );
    console.log(
      [
        `host agent (${AGENT_KIND}) under faults: deadline ${DEADLINE_MS} ms, bound ${DEADLINE_MS + MARGIN_MS} ms, ${summary.length} rows`,
        `${'fault'.padEnd(w)}  ${'cache'.padEnd(6)}  ${'expected'.padEnd(45)}  ${'outcome'.padEnd(45)}  ${'time'.padStart(8)}  after the fault`,
        ...lines,
        `max ${Math.max(...summary.map((s) => s.ms))} ms; wrong lines printed: ${summary.filter((s) => s.outcome === 'WRONG LINE' || s.outcome.startsWith('FAIL-WITH')).length}; not as expected: ${summary.filter((s) => s.outcome !== s.expected.replace(/^fail$/, 'fail(1)')).length}`,
      ].join('\n'),
    );
  }
  await proxy?.stop();
  await imds?.stop();
  await moto?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

describe(`host agent (${AGENT_KIND}) under faults`, () => {
  let rowN = 0;
  it.each(
    ROWS.map(
      (r) => [`${r.name} [cache: ${r.cache}${r.mode === 'iamUsers' ? ', iamUsers' : ''}]`, r] as const,
    ),
  )('%s', async (_title, row) => {
    const mode = row.mode ?? 'users';
    const dir = join(work, `row-${++rowN}`);
    mkdirSync(dir);
    const cacheDir = join(dir, 'cache');
    const now = Date.now();
    if (row.cache !== 'none') {
      const fetchedAt = { stale: now - 600_000, fresh: now - 1000, future: now + 7200_000 }[row.cache];
      writeCacheEntries(cacheDir, fetchedAt);
    } else mkdirSync(cacheDir, { mode: 0o700 });
    row.damage?.(cacheDir);
    const configPath = writeConfig(dir, mode, cacheDir);
    const user = mode === 'users' ? 'u' : 'alice';
    const baseEnv = sshdCommandEnv(dir);

    proxy.clear();
    proxy.options = row.s3 ? { fault: row.s3 } : {};
    let fullDisk: { dir: string; seed: string } | undefined;
    if (row.fullDisk) {
      // The agent sees a tmpfs mounted over the cache dir, holding a copy of what is there now.
      const seed = join(dir, 'seed');
      renameSync(cacheDir, seed);
      mkdirSync(cacheDir, { mode: 0o700 });
      fullDisk = { dir: cacheDir, seed };
    }
    const r = await runAgent(
      ['--config', configPath, '--', user],
      { ...baseEnv, ...(await credentialEnv(row.creds ?? { kind: 'env' })) },
      fullDisk,
    );
    const faultsMet = proxy.faulted.length;
    const requests = proxy.requests.length;
    proxy.options = {};

    // Recovery: no fault, S3 answers; whatever the cache holds now must not change the answer.
    const after = await runAgent(['--config', configPath, '--', user], {
      ...baseEnv,
      ...(await credentialEnv({ kind: 'env' })),
    });
    const recoveredTo = row.cache === 'fresh' ? 'cache' : 's3';
    const recovered = after.code === 0 && after.stdout === expectedStdout(mode, recoveredTo);
    summary.push({
      row: row.name + (row.mode === 'iamUsers' ? ' [iamUsers]' : ''),
      cache: row.cache,
      expected: describeExpected(row.expect),
      outcome: outcomeOf(mode, r),
      ms: r.ms,
      recovered: recovered ? `recovered (${recoveredTo})` : `NOT RECOVERED: ${outcomeOf(mode, after)}`,
    });

    const context = `stderr:\n${r.stderr}`;
    // Never a line that is neither S3's nor the cache's, whatever else happens.
    for (const line of r.stdout.split(/(?<=\n)/).filter(Boolean)) expect(EVERY_LINE, context).toContain(line);
    if (row.expect === 'fail') {
      expect({ code: r.code, stdout: r.stdout }, context).toEqual({ code: 1, stdout: '' });
    } else {
      expect({ code: r.code, stdout: r.stdout }, context).toEqual({
        code: 0,
        stdout: expectedStdout(mode, row.expect),
      });
    }
    expect(r.ms, 'answer within the deadline plus margin').toBeLessThan(DEADLINE_MS + MARGIN_MS);
    if (row.stderr) expect(r.stderr).toMatch(row.stderr);
    // A row passes only by meeting its fault (a fresh cache asserts the opposite: no request at all).
    if (row.s3 && row.s3Requests !== 0) expect(faultsMet, 'the fault was met').toBeGreaterThan(0);
    if (row.s3Requests !== undefined) expect(requests).toBe(row.s3Requests);
    expect({ code: after.code, stdout: after.stdout }, `after the fault: ${after.stderr}`).toEqual({
      code: 0,
      stdout: expectedStdout(mode, recoveredTo),
    });
  });
});

// The expected token actually reached S3 through IMDS (the IMDS rows are not vacuous).
describe('IMDS credentials reach S3', () => {
  it('signs with the role credentials from IMDS', async () => {
    const dir = join(work, 'imds-check');
    mkdirSync(dir);
    const configPath = writeConfig(dir, 'users', join(dir, 'cache'));
    proxy.clear();
    const r = await runAgent(['--config', configPath, '--', 'u'], {
      PATH: `${dirname(process.execPath)}:/usr/bin:/bin`,
      HOME: dir,
      ...(await credentialEnv({ kind: 'imds', mode: { kind: 'ok' } })),
    });
    expect(r.code).toBe(0);
    const gets = proxy.requests.filter((q) => q.action === 'GetObject');
    expect(gets.length).toBe(2);
    for (const g of gets) expect(g.headers['x-amz-security-token']).toBe(IMDS_TOKEN_OK);
  });
});

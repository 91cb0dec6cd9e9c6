// Fault suite of the publisher (issue 10): lambda/publish.ts (what the Lambda handler
// and `iam-ssh-keys publish` run) against moto_server behind a fault proxy, with a
// fault at every stage: the bucket listing, index.json, IAM's three reads, the
// PutObjects, the DeleteObjects, the final index.json; and the built CLI killed
// halfway. Every case starts from the same bucket (a previous run's output) with
// the same pending IAM changes (keys added, a user deleted, a user created), so a
// complete run would write AND delete. Invariants, for each case:
//  - 0 DeleteObject after a failed or partial read (or a failed write before the deletes);
//  - 0 wrong writes: every object the faulted run left different from before holds
//    exactly the bytes a clean run writes (index.json: apart from generatedAt);
//  - after the fault is gone, one more run leaves the bucket byte for byte equal to
//    a clean run's (index.json apart from generatedAt).
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import {
  AddUserToGroupCommand,
  CreateUserCommand,
  DeleteSSHPublicKeyCommand,
  DeleteUserCommand,
  IAMClient,
  RemoveUserFromGroupCommand,
  UploadSSHPublicKeyCommand,
} from '@aws-sdk/client-iam';
import { CreateBucketCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeKey } from '../../dev/keys.js';
import { type Moto, startMoto, TEST_CREDENTIALS, TEST_REGION } from '../../dev/moto.js';
import { clientsFor, completed } from '../../dev/publisher.js';
import { createClients } from '../../lambda/clients.js';
import { DEFAULT_PUBLISH_CONFIG, type PublishConfig, publish } from '../../lambda/publish.js';
import {
  type Fault,
  type FaultProxy,
  type ProxyRequest,
  queryError,
  s3Error,
  startFaultProxy,
} from '../helpers/fault-proxy.js';
import { bucketContents, buildFixture, type Fixture } from '../integration/lambda/fixture.js';

const ROOT = new URL('../..', import.meta.url).pathname;
const CLI = join(ROOT, 'dist/iam-ssh-keys');
const BUCKET = 'reliability-publish';
/** Per-attempt inactivity bound of the clients of the faulted runs: a hang becomes a TimeoutError. */
const SOCKET_TIMEOUT_MS = 1500;

let moto: Moto;
let proxy: FaultProxy;
let direct: { iam: IAMClient; s3: S3Client };
let fixture: Fixture;
/** The bucket before every case (a previous run's output, prefix stripped). */
let before: Map<string, string>;
/** What a clean run makes of `before` with the pending IAM changes (prefix stripped). */
let clean: Map<string, string>;
/** What the very first run (empty bucket) writes for the same IAM state. */
let firstClean: Map<string, string>;
let caseN = 0;
const summary: {
  stage: string;
  /** The run failed in a read (or a write before the deletes): no delete is allowed. */
  noDeleteAllowed: boolean;
  where: string;
  fault: string;
  run: string;
  puts: number;
  deletes: number;
  wrongWrites: number;
  /** Requests that reached S3 or IAM after the faulted run had already returned or thrown. */
  late: number;
  recovered: boolean;
  /** 'yes', or why the next run did not leave a clean run's bucket. */
  recovery: string;
}[] = [];

/**
 * The clients of a faulted run: the product's SDK clients (lambda/clients.ts: adaptive retries,
 * 10 attempts) would spend minutes on a fault that outlasts every retry, so these give up after 3
 * attempts and 1.5 s of silence. What is tested is what publish() does once an error comes back.
 */
function faultClients(endpoint: string): { iam: IAMClient; s3: S3Client } {
  const common = {
    endpoint,
    region: TEST_REGION,
    credentials: TEST_CREDENTIALS,
    maxAttempts: 3,
    requestHandler: { socketTimeout: SOCKET_TIMEOUT_MS, connectionTimeout: 1000 },
  };
  return { iam: new IAMClient(common), s3: new S3Client({ ...common, forcePathStyle: true }) };
}

function config(prefix: string): PublishConfig {
  return { ...DEFAULT_PUBLISH_CONFIG, bucket: BUCKET, prefix };
}

/** index.json and heartbeat.json without their time: the one field two runs over the same data may write differently. */
function normalize(key: string, body: string): string {
  if (!key.endsWith('index.json') && !key.endsWith('heartbeat.json')) return body;
  const v = JSON.parse(body) as Record<string, unknown>;
  v.generatedAt = '<generatedAt>';
  return JSON.stringify(v);
}

function strip(contents: Map<string, string>, prefix: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const [k, v] of contents) if (k.startsWith(prefix)) out.set(k.slice(prefix.length), v);
  return out;
}

async function contents(prefix: string): Promise<Map<string, string>> {
  return strip(await bucketContents(direct.s3, BUCKET, prefix), prefix);
}

function sameBucket(a: Map<string, string>, b: Map<string, string>): boolean {
  if (a.size !== b.size) return false;
  for (const [k, v] of a) {
    const w = b.get(k);
    if (w === undefined || normalize(k, v) !== normalize(k, w)) return false;
  }
  return true;
}

/** Where a case starts and what a clean run makes of it (both without the prefix). */
interface Base {
  readonly before: Map<string, string>;
  readonly clean: Map<string, string>;
}

/** Objects that differ from `before` and from the clean result, plus PutObject bodies that are not the clean result's. */
function wrongWrites(
  after: Map<string, string>,
  puts: ProxyRequest[],
  prefix: string,
  { before, clean }: Base,
): string[] {
  const wrong = new Set<string>();
  for (const k of new Set([...before.keys(), ...after.keys()])) {
    const now = after.get(k);
    const was = before.get(k);
    const want = clean.get(k);
    const same = (x: string | undefined, y: string | undefined) =>
      x === undefined || y === undefined ? x === y : normalize(k, x) === normalize(k, y);
    if (!same(now, was) && !same(now, want)) wrong.add(`${k} (bucket)`);
  }
  for (const p of puts) {
    const k = (p.key ?? '').slice(prefix.length);
    const want = clean.get(k);
    if (want === undefined || normalize(k, p.body.toString('utf8')) !== normalize(k, want))
      wrong.add(`${k} (PUT)`);
  }
  return [...wrong];
}

async function seed(prefix: string): Promise<void> {
  for (const [k, v] of before) {
    const body = Buffer.from(v, 'utf8');
    await direct.s3.send(
      new PutObjectCommand({ Bucket: BUCKET, Key: `${prefix}${k}`, Body: body, ContentLength: body.length }),
    );
  }
}

/** Faults every request for the `n`th distinct object key (S3) or parameter set (IAM) of `action`: every retry of it too. */
function nth(action: string, n: number, fault: Fault, match: (r: ProxyRequest) => boolean = () => true) {
  const seen: string[] = [];
  return (r: ProxyRequest): Fault | undefined => {
    if (r.action !== action || !match(r)) return undefined;
    const id = r.key ?? JSON.stringify(r.params ?? {});
    if (!seen.includes(id)) seen.push(id);
    return seen.indexOf(id) === n - 1 ? fault : undefined;
  };
}
const every =
  (action: string, fault: Fault, match: (r: ProxyRequest) => boolean = () => true) =>
  (r: ProxyRequest) =>
    r.action === action && match(r) ? fault : undefined;
const isIndex = (r: ProxyRequest) => (r.key ?? '').endsWith('/index.json');

type Stage = 'read' | 'write' | 'delete' | 'heartbeat';
interface Case {
  readonly stage: Stage;
  /** e.g. "S3 ListObjectsV2" */
  readonly where: string;
  readonly fault: string;
  readonly inject: (r: ProxyRequest) => Fault | undefined;
  /** The faulted run completes anyway (faults within the retries). */
  readonly completes?: boolean;
  /** The faulted run uses the product's own clients (lambda/clients.ts) instead of faultClients. */
  readonly productClients?: boolean;
}

const throttling = queryError('Throttling', 'Rate exceeded');
const accessDenied = queryError('AccessDenied', 'User is not authorized to perform this action', 403);
const iam500 = queryError('ServiceFailure', 'injected', 500);

const CASES: Case[] = [
  // Reading the bucket.
  {
    stage: 'read',
    where: 'S3 ListObjectsV2',
    fault: '500 InternalError',
    inject: every('ListObjectsV2', s3Error('InternalError', 'injected', 500)),
  },
  {
    stage: 'read',
    where: 'S3 ListObjectsV2',
    fault: '403 AccessDenied',
    inject: every('ListObjectsV2', s3Error('AccessDenied', 'Access Denied', 403)),
  },
  {
    stage: 'read',
    where: 'S3 ListObjectsV2',
    fault: 'hang',
    inject: every('ListObjectsV2', { kind: 'hang' }),
  },
  {
    stage: 'read',
    where: 'S3 ListObjectsV2',
    fault: 'truncated body',
    inject: every('ListObjectsV2', { kind: 'truncate' }),
  },
  {
    stage: 'read',
    where: 'S3 GetObject index.json',
    fault: '500 InternalError',
    inject: every('GetObject', s3Error('InternalError', 'injected', 500), isIndex),
  },
  {
    stage: 'read',
    where: 'S3 GetObject index.json',
    fault: '403 AccessDenied',
    inject: every('GetObject', s3Error('AccessDenied', 'Access Denied', 403), isIndex),
  },
  {
    stage: 'read',
    where: 'S3 GetObject index.json',
    fault: 'hang',
    inject: every('GetObject', { kind: 'hang' }, isIndex),
  },
  {
    stage: 'read',
    where: 'S3 GetObject index.json',
    fault: 'truncated body',
    inject: every('GetObject', { kind: 'truncate' }, isIndex),
  },
  {
    stage: 'read',
    where: 'S3 GetObject index.json',
    fault: 'damaged JSON (200)',
    // As if the object itself were cut short: no checksum header that would give it away to the SDK.
    inject: every(
      'GetObject',
      {
        kind: 'rewrite',
        fn: (up) => ({
          ...up,
          headers: Object.fromEntries(
            Object.entries(up.headers).filter(([h]) => !h.startsWith('x-amz-checksum')),
          ),
          body: up.body.subarray(0, up.body.length - 40),
        }),
      },
      isIndex,
    ),
  },
  // Reading IAM.
  {
    stage: 'read',
    where: 'IAM GetAccountAuthorizationDetails',
    fault: '403 AccessDenied',
    inject: every('GetAccountAuthorizationDetails', accessDenied),
  },
  {
    stage: 'read',
    where: 'IAM GetAccountAuthorizationDetails',
    fault: 'Throttling beyond retries',
    inject: every('GetAccountAuthorizationDetails', throttling),
  },
  {
    stage: 'read',
    where: 'IAM GetAccountAuthorizationDetails',
    fault: '500 ServiceFailure',
    inject: every('GetAccountAuthorizationDetails', iam500),
  },
  {
    stage: 'read',
    where: 'IAM GetAccountAuthorizationDetails',
    fault: 'hang',
    inject: every('GetAccountAuthorizationDetails', { kind: 'hang' }),
  },
  {
    stage: 'read',
    where: 'IAM GetAccountAuthorizationDetails',
    fault: 'connection reset',
    inject: every('GetAccountAuthorizationDetails', { kind: 'reset' }),
  },
  {
    stage: 'read',
    where: 'IAM ListSSHPublicKeys (12th user)',
    fault: '403 AccessDenied',
    inject: nth('ListSSHPublicKeys', 12, accessDenied),
  },
  {
    stage: 'read',
    where: 'IAM ListSSHPublicKeys (5th user)',
    fault: 'Throttling beyond retries',
    inject: nth('ListSSHPublicKeys', 5, throttling),
  },
  {
    stage: 'read',
    where: 'IAM ListSSHPublicKeys (20th user)',
    fault: 'hang',
    inject: nth('ListSSHPublicKeys', 20, { kind: 'hang' }),
  },
  {
    stage: 'read',
    where: 'IAM ListSSHPublicKeys (last user)',
    fault: '500 ServiceFailure',
    inject: nth('ListSSHPublicKeys', 32, iam500),
  },
  {
    stage: 'read',
    where: 'IAM GetSSHPublicKey (3rd key)',
    fault: 'NoSuchEntity (key deleted meanwhile)',
    inject: nth(
      'GetSSHPublicKey',
      3,
      queryError('NoSuchEntity', 'The Public Key with id APKA... cannot be found.', 404),
    ),
  },
  {
    stage: 'read',
    where: 'IAM GetSSHPublicKey (1st key)',
    fault: 'Throttling beyond retries',
    inject: nth('GetSSHPublicKey', 1, throttling),
  },
  {
    stage: 'read',
    where: 'IAM GetSSHPublicKey (last key)',
    fault: 'hang',
    inject: nth('GetSSHPublicKey', 13, { kind: 'hang' }),
  },
  {
    stage: 'read',
    where: 'IAM GetSSHPublicKey (6th key)',
    fault: 'truncated body',
    inject: nth('GetSSHPublicKey', 6, { kind: 'truncate' }),
  },
  {
    stage: 'read',
    where: 'IAM, every call',
    fault: 'Throttling, first attempt of every 8th call (product clients)',
    inject: (() => {
      // Not every call: the adaptive client slows its whole send rate after each throttle.
      const seen = new Set<string>();
      return (r: ProxyRequest) => {
        if (r.service !== 'iam') return undefined;
        const id = JSON.stringify(r.params);
        if (seen.has(id)) return undefined;
        seen.add(id);
        return seen.size % 8 === 1 ? throttling : undefined;
      };
    })(),
    completes: true,
    productClients: true,
  },
  // Writing.
  {
    stage: 'write',
    where: 'S3 PutObject (3rd object)',
    fault: '500 InternalError',
    inject: nth('PutObject', 3, s3Error('InternalError', 'injected', 500)),
  },
  {
    stage: 'write',
    where: 'S3 PutObject (every object)',
    fault: '403 AccessDenied',
    inject: every('PutObject', s3Error('AccessDenied', 'Access Denied', 403)),
  },
  {
    stage: 'write',
    where: 'S3 PutObject (2nd object)',
    fault: 'hang',
    inject: nth('PutObject', 2, { kind: 'hang' }),
  },
  {
    stage: 'write',
    where: 'S3 PutObject (4th object)',
    fault: 'connection reset',
    inject: nth('PutObject', 4, { kind: 'reset' }),
  },
  {
    stage: 'delete',
    where: 'S3 DeleteObject',
    fault: '500 InternalError',
    inject: every('DeleteObject', s3Error('InternalError', 'injected', 500)),
  },
  {
    stage: 'delete',
    where: 'S3 DeleteObject',
    fault: '403 AccessDenied',
    inject: every('DeleteObject', s3Error('AccessDenied', 'Access Denied', 403)),
  },
  {
    stage: 'heartbeat',
    where: 'S3 PutObject index.json',
    fault: '500 InternalError',
    inject: every('PutObject', s3Error('InternalError', 'injected', 500), isIndex),
  },
];

beforeAll(async () => {
  moto = await startMoto();
  proxy = await startFaultProxy(moto.endpoint);
  direct = clientsFor(moto.endpoint);
  await direct.s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
  fixture = await buildFixture(direct.iam);
  // The previous run's output...
  await publish(config('seed/'), { ...direct, now: () => new Date() });
  before = await contents('seed/');
  // ...then IAM changes: 12 users get a new key (13 new key bodies with the newcomer's), one
  // user is deleted (one DeleteObject), one is created.
  for (const u of fixture.users.slice(5, 17)) {
    await direct.iam.send(
      new UploadSSHPublicKeyCommand({ UserName: u.name, SSHPublicKeyBody: makeKey().openssh }),
    );
  }
  const gone = fixture.users.find((u) => u.name === 'dave_x-y') as Fixture['users'][number];
  for (const k of gone.keys) {
    await direct.iam.send(new DeleteSSHPublicKeyCommand({ UserName: gone.name, SSHPublicKeyId: k.id }));
  }
  for (const g of gone.groups)
    await direct.iam.send(new RemoveUserFromGroupCommand({ GroupName: g, UserName: gone.name }));
  await direct.iam.send(new DeleteUserCommand({ UserName: gone.name }));
  await direct.iam.send(new CreateUserCommand({ UserName: 'newcomer' }));
  await direct.iam.send(new AddUserToGroupCommand({ GroupName: 'developers', UserName: 'newcomer' }));
  await direct.iam.send(
    new UploadSSHPublicKeyCommand({ UserName: 'newcomer', SSHPublicKeyBody: makeKey('rsa').openssh }),
  );
  // What a clean run makes of it.
  await seed('clean/');
  const r = completed(await publish(config('clean/'), { ...direct, now: () => new Date() }));
  clean = await contents('clean/');
  await publish(config('first-clean/'), { ...direct, now: () => new Date() });
  firstClean = await contents('first-clean/');
  expect(r.plan.deletes.length).toBe(1);
  expect(r.plan.puts.length).toBeGreaterThan(12);
  expect(sameBucket(clean, before)).toBe(false);
}, 300_000);

afterAll(async () => {
  if (summary.length > 0) {
    const w1 = Math.max(...summary.map((s) => s.where.length));
    const w2 = Math.max(...summary.map((s) => s.fault.length));
    console.log(
      [
        `publisher under faults: ${summary.length} cases; each starts from a previous run's bucket (${before.size - 1} principal objects; a clean run makes ${clean.size - 1}); late = requests that arrived after the faulted run had returned or thrown`,
        `${'stage'.padEnd(w1)}  ${'fault'.padEnd(w2)}  ${'faulted run'.padEnd(19)}  puts  deletes  wrong writes  late  recovered`,
        ...summary.map(
          (s) =>
            `${s.where.padEnd(w1)}  ${s.fault.padEnd(w2)}  ${s.run.padEnd(19)}  ${String(s.puts).padStart(4)}  ${String(s.deletes).padStart(7)}  ${String(s.wrongWrites).padStart(12)}  ${String(s.late).padStart(4)}  ${s.recovery}`,
        ),
        `totals: wrong writes ${summary.reduce((n, s) => n + s.wrongWrites, 0)}, deletes after a failed or partial read ${summary
          .filter((s) => s.noDeleteAllowed)
          .reduce((n, s) => n + s.deletes, 0)}, not recovered ${summary.filter((s) => !s.recovered).length}`,
      ].join('\n'),
    );
  }
  await proxy?.stop();
  await moto?.stop();
});

interface Outcome {
  readonly run: string;
  readonly puts: ProxyRequest[];
  readonly deletes: number;
  readonly after: Map<string, string>;
}

/** Records what the faulted run did, runs again without the fault, and checks the invariants. */
async function check(
  stage: string,
  where: string,
  fault: string,
  prefix: string,
  faulted: () => Promise<string>,
  base: Base = { before, clean },
): Promise<Outcome & { wrong: string[]; recovered: boolean }> {
  proxy.clear();
  const run = await faulted();
  // publish() rejects at the first failed write while its other writes are still in flight
  // (mapLimit does not wait for them): they are part of this run, so let them land first.
  const atEnd = proxy.requests.length;
  await proxy.settle();
  const late = proxy.requests.length - atEnd;
  proxy.options = {};
  // Forwarded to S3 (a faulted request never reached it).
  const reached = (action: string) =>
    proxy.requests.filter(
      (r) => r.action === action && !proxy.faulted.includes(r) && r.key?.startsWith(prefix),
    );
  const puts = reached('PutObject');
  const deletes = reached('DeleteObject').length;
  const after = await contents(prefix);
  const wrong = wrongWrites(after, puts, prefix, base);
  let recoveryError: unknown;
  await publish(config(prefix), { ...direct, now: () => new Date() }).catch((e: unknown) => {
    recoveryError = e;
  });
  const recovered = recoveryError === undefined && sameBucket(await contents(prefix), base.clean);
  const noDeleteAllowed = run !== 'completed' && /^(kill-)?(read|write)$/.test(stage);
  summary.push({
    stage,
    noDeleteAllowed,
    where,
    fault,
    run,
    puts: puts.length,
    deletes,
    wrongWrites: wrong.length,
    late,
    recovered,
    recovery: recovered
      ? 'yes'
      : `NO: ${recoveryError instanceof Error ? `${recoveryError.name}: ${recoveryError.message.slice(0, 70)}...` : 'bucket differs'}`,
  });
  expect(wrong, 'objects written with bytes a clean run does not write').toEqual([]);
  expect(recoveryError, 'the next run, without the fault').toBeUndefined();
  expect(recovered, 'the next run leaves the bucket of a clean run').toBe(true);
  return { run, puts, deletes, after, wrong, recovered };
}

describe('publisher under faults', () => {
  it.each(CASES.map((c) => [`${c.where}: ${c.fault}`, c] as const))('%s', async (_t, c) => {
    const prefix = `case${++caseN}/`;
    await seed(prefix);
    let env: string | undefined;
    if (c.productClients) {
      // lambda/clients.ts takes the endpoint from the environment, as the SDK does.
      env = process.env.AWS_ENDPOINT_URL;
      process.env.AWS_ENDPOINT_URL = proxy.endpoint;
      process.env.AWS_ACCESS_KEY_ID = TEST_CREDENTIALS.accessKeyId;
      process.env.AWS_SECRET_ACCESS_KEY = TEST_CREDENTIALS.secretAccessKey;
    }
    let error: unknown;
    const o = await check(c.stage, c.where, c.fault, prefix, async () => {
      proxy.options = { fault: c.inject };
      const clients = c.productClients
        ? createClients({ region: TEST_REGION })
        : faultClients(proxy.endpoint);
      try {
        await publish(config(prefix), { ...clients, now: () => new Date() });
        return 'completed';
      } catch (e) {
        error = e;
        return (e as Error).name;
      } finally {
        if (c.productClients) {
          if (env === undefined) delete process.env.AWS_ENDPOINT_URL;
          else process.env.AWS_ENDPOINT_URL = env;
        }
      }
    });
    expect(proxy.faulted.length, 'the fault was met').toBeGreaterThan(0);
    if (c.completes) {
      expect(error).toBeUndefined();
      expect(sameBucket(o.after, clean)).toBe(true);
      return;
    }
    expect(o.run, String(error)).not.toBe('completed');
    if (c.stage === 'read' || c.stage === 'write') {
      // Failed or partial read, or a failed write before the deletes: nothing deleted.
      expect(o.deletes).toBe(0);
    }
    if (c.stage === 'read') {
      expect(o.puts).toEqual([]);
      expect(sameBucket(o.after, before)).toBe(true);
    }
    // index.json is the "a complete run finished" heartbeat: a failed run never writes it.
    expect(o.after.get('index.json')).toBe(before.get('index.json'));
  });
});

/** Runs the built CLI through the proxy; `killWhen` decides, per request, to SIGKILL it (that request never answers). */
function cliKilled(prefix: string, killWhen: (r: ProxyRequest) => boolean): Promise<string> {
  return new Promise((resolve) => {
    const child: ChildProcess = spawn(
      process.execPath,
      [CLI, 'publish', '--bucket', BUCKET, '--prefix', prefix],
      {
        env: {
          PATH: process.env.PATH ?? '/usr/bin:/bin',
          AWS_ACCESS_KEY_ID: TEST_CREDENTIALS.accessKeyId,
          AWS_SECRET_ACCESS_KEY: TEST_CREDENTIALS.secretAccessKey,
          AWS_REGION: TEST_REGION,
          AWS_ENDPOINT_URL: proxy.endpoint,
          AWS_EC2_METADATA_DISABLED: 'true',
        },
        stdio: ['ignore', 'ignore', 'pipe'],
      },
    );
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    let killed = false;
    proxy.options = {
      fault: (r) => {
        if (killed || !killWhen(r)) return undefined;
        killed = true;
        child.kill('SIGKILL');
        return { kind: 'hang' };
      },
    };
    child.on('exit', (code, signal) =>
      resolve(signal ? `killed (${signal})` : `exit ${code}: ${stderr.trim()}`),
    );
  });
}

/** True for the `n`th request of `action` (that `match`es). */
function counter(action: string, n: number, match: (r: ProxyRequest) => boolean = () => true) {
  let seen = 0;
  return (r: ProxyRequest) => r.action === action && match(r) && ++seen === n;
}

describe('publisher killed halfway (the built CLI, SIGKILL)', () => {
  it.each([
    ['read', 'during the IAM read (10th ListSSHPublicKeys)', () => counter('ListSSHPublicKeys', 10)],
    ['read', 'during the key bodies (5th GetSSHPublicKey)', () => counter('GetSSHPublicKey', 5)],
    ['write', 'after 5 PutObjects', () => counter('PutObject', 6)],
    ['delete', 'at the DeleteObject', () => counter('DeleteObject', 1)],
    ['heartbeat', 'at the final index.json', () => counter('PutObject', 1, isIndex)],
  ] as const)('killed %s: %s', async (stage, when, killWhen) => {
    const prefix = `kill${++caseN}/`;
    await seed(prefix);
    const o = await check(`kill-${stage}`, 'CLI publish (SIGKILL)', when, prefix, () =>
      cliKilled(prefix, killWhen()),
    );
    expect(o.run).toBe('killed (SIGKILL)');
    if (stage === 'read') {
      expect(o.puts).toEqual([]);
      expect(sameBucket(o.after, before)).toBe(true);
    }
    if (stage === 'read' || stage === 'write') expect(o.deletes).toBe(0);
    if (stage === 'write') expect(o.puts.length).toBeGreaterThanOrEqual(5); // it really was halfway
    expect(o.after.get('index.json')).toBe(before.get('index.json'));
  });
});

// The very first run into an empty bucket, cut short (killed, or a PutObject failing for good):
// it writes index.json before the principal objects, so the next run completes the import instead
// of refusing as for a lost index (which needed an operator's --allow-index-reset; the scheduled
// Lambda failed on every run meanwhile). Found by this suite; fixed in lambda/publish.ts.
describe('the very first run (empty bucket), cut short', () => {
  const firstRun = (where: string, fault: string, run: (prefix: string) => Promise<string>) => async () => {
    const prefix = `first${++caseN}/`;
    const o = await check('kill-write', where, fault, prefix, () => run(prefix), {
      before: new Map(),
      clean: firstClean,
    });
    expect(o.puts.length).toBeGreaterThanOrEqual(5);
    expect(o.after.has('index.json')).toBe(true);
  };
  it(
    'killed after 5 PutObjects: the next run completes the import',
    firstRun('CLI publish, first run (SIGKILL)', 'after 5 PutObjects', (prefix) =>
      cliKilled(prefix, counter('PutObject', 6)),
    ),
  );
  it(
    'a PutObject failing for good: the next run completes the import',
    firstRun('publish, first run', 'PutObject 500 on the 8th object', async (prefix) => {
      proxy.options = { fault: nth('PutObject', 8, s3Error('InternalError', 'injected', 500)) };
      return publish(config(prefix), { ...faultClients(proxy.endpoint), now: () => new Date() }).then(
        () => 'completed',
        (e: Error) => e.name,
      );
    }),
  );
});

// A failed run stops writing when it reports the failure: mapLimit (lambda/map-limit.ts) waits for
// the writes in flight before it rejects. Before, publish() threw at the first failed PutObject while
// the others were still in flight, and they landed afterwards (in the Lambda: during a later
// invocation, after that run had listed the bucket). Found by this suite.
describe('a failed run stops writing when it reports the failure', () => {
  it('no PutObject of a run lands after publish() has thrown', async () => {
    const prefix = `late${++caseN}/`;
    await seed(prefix);
    let first: string | undefined;
    proxy.clear();
    proxy.options = {
      fault: (r) => {
        if (r.action !== 'PutObject') return undefined;
        first ??= r.key;
        return r.key === first ? s3Error('AccessDenied', 'Access Denied', 403) : { kind: 'delay', ms: 1000 };
      },
    };
    const err = await publish(config(prefix), {
      ...faultClients(proxy.endpoint),
      now: () => new Date(),
    }).catch((e: unknown) => e);
    const atThrow = await contents(prefix);
    await proxy.settle();
    proxy.options = {};
    const settled = await contents(prefix);
    const landedLate = [...settled].filter(([k, v]) => atThrow.get(k) !== v).map(([k]) => k);
    summary.push({
      stage: 'write',
      noDeleteAllowed: true,
      where: 'S3 PutObject (1st object), others slow',
      fault: '403 AccessDenied; 1 s per other PUT',
      run: (err as Error).name,
      puts: landedLate.length,
      deletes: proxy.count('s3', 'DeleteObject'),
      wrongWrites: wrongWrites(settled, [], prefix, { before, clean }).length,
      late: landedLate.length,
      recovered: true,
      recovery: 'not run (this case measures late writes)',
    });
    expect(err).toBeInstanceOf(Error);
    expect(proxy.count('s3', 'DeleteObject')).toBe(0);
    expect(wrongWrites(settled, [], prefix, { before, clean })).toEqual([]);
    // Nothing changes after the run has thrown (this was 7 objects before the fix).
    expect(landedLate).toEqual([]);
  });
});

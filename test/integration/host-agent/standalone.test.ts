// The standalone executables (dist/iam-authorized-keys-linux-{x64,arm64}, built
// by test/global-setup.ts) against a real moto_server: the arm64 one under
// qemu-user (Debian's qemu-user-static, arm64 libc from libc6-arm64-cross)
// answers a cold fetch and a cache hit; the x64 one reads no `.env` or
// `bunfig.toml` from its working directory (Bun's default for compiled programs).
import { execFile } from 'node:child_process';
import {
  existsSync,
  lstatSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateBucketCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { userKey } from '../../../contract/layout.js';
import { renderLine } from '../../../contract/line.js';
import { type AwsProxy, startAwsProxy } from '../../../dev/aws-proxy.js';
import { makeKey } from '../../../dev/keys.js';
import { listenLoopback } from '../../../dev/loopback.js';
import { type Moto, startMoto, TEST_CREDENTIALS, TEST_REGION } from '../../../dev/moto.js';
import { asPublished } from '../../../dev/s3-objects.js';
import { checkS3Signature } from '../../../dev/sigv4-check.js';
import { writeConfig as writeConfigFile } from '../../helpers/agent.js';

const ROOT = new URL('../../..', import.meta.url).pathname;
const X64 = join(ROOT, 'dist/iam-authorized-keys-linux-x64');
const ARM64 = join(ROOT, 'dist/iam-authorized-keys-linux-arm64');
const QEMU = '/usr/bin/qemu-aarch64-static';
const ARM64_SYSROOT = '/usr/aarch64-linux-gnu';
const BUCKET = 'standalone-keys';

const alice = makeKey();
const attacker = makeKey();
const aliceLine = renderLine('alice', alice);
const bobLine = renderLine('bob', alice);
const carolLine = renderLine('carol', alice);

let moto: Moto;
let proxy: AwsProxy;
let work: string;

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a program with sshd's kind of environment plus the explicit AWS_* wrapper of docs/host-agent.md. */
function runIn(cwd: string, cmd: string, args: string[], env: Record<string, string> = {}): Promise<Result> {
  return new Promise((resolve) => {
    execFile(
      cmd,
      args,
      {
        cwd,
        env: {
          PATH: '/usr/bin:/bin',
          HOME: work,
          AWS_ACCESS_KEY_ID: TEST_CREDENTIALS.accessKeyId,
          AWS_SECRET_ACCESS_KEY: TEST_CREDENTIALS.secretAccessKey,
          AWS_EC2_METADATA_DISABLED: 'true',
          ...env,
        },
        encoding: 'utf8',
        timeout: 30_000,
      },
      (err, stdout, stderr) => resolve({ code: err ? Number(err.code ?? 1) : 0, stdout, stderr }),
    );
  });
}

function writeConfig(name: string, extra: Record<string, unknown> = {}): string {
  return writeConfigFile(join(work, `${name}.json`), {
    bucket: BUCKET,
    region: TEST_REGION,
    users: { 'ec2-user': ['users/alice'] },
    cache: { dir: join(work, `cache-${name}`), ttlSeconds: 300, maxStaleSeconds: 3600 },
    ...extra,
  });
}

beforeAll(async () => {
  moto = await startMoto();
  proxy = await startAwsProxy(moto.endpoint);
  work = mkdtempSync(join(tmpdir(), 'iak-standalone-'));
  const s3 = new S3Client({
    region: TEST_REGION,
    endpoint: moto.endpoint,
    forcePathStyle: true,
    credentials: TEST_CREDENTIALS,
  });
  await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
  // As the publisher writes it: with the SHA-256 checksum the agent checks the body against.
  await s3.send(new PutObjectCommand(asPublished(BUCKET, userKey('', 'alice'), aliceLine)));
  await s3.send(new PutObjectCommand(asPublished(BUCKET, userKey('', 'bob'), bobLine)));
  // As an older publisher wrote it: no SHA-256 checksum.
  await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: userKey('', 'carol'), Body: carolLine }));
});

afterAll(async () => {
  await proxy?.stop();
  await moto?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('arm64 standalone executable under qemu-user', () => {
  beforeAll(() => {
    // Never a skip: CI installs both (scripts/test.sh), and without them this build is untested.
    if (!existsSync(QEMU) || !existsSync(join(ARM64_SYSROOT, 'lib/ld-linux-aarch64.so.1'))) {
      throw new Error(
        `${QEMU} or ${ARM64_SYSROOT} missing: apt-get install qemu-user-static libc6-arm64-cross (the arm64 binary is tested under qemu-user)`,
      );
    }
  });

  it('is an aarch64 executable', () => {
    const elf = readFileSync(ARM64).subarray(0, 20);
    // ELF magic, then e_machine (offset 18, little-endian) 183 = EM_AARCH64.
    expect([elf.toString('latin1', 1, 4), elf.readUInt16LE(18)]).toEqual(['ELF', 183]);
    expect(readFileSync(X64).readUInt16LE(18)).toBe(62); // EM_X86_64
  });

  it('answers a cold fetch from S3 (one GET), then a cache hit (no request)', async () => {
    const config = writeConfig('arm64', { endpoint: proxy.endpoint });
    const arm = (...args: string[]) =>
      runIn(work, QEMU, ['-L', ARM64_SYSROOT, ARM64, '--config', config, ...args]);
    proxy.clear();
    const cold = await arm('ec2-user');
    expect(cold).toMatchObject({ code: 0, stdout: aliceLine });
    expect(proxy.count('s3', 'GetObject')).toBe(1);
    proxy.clear();
    const hit = await arm('ec2-user', alice.fingerprint);
    expect(hit).toMatchObject({ code: 0, stdout: aliceLine });
    expect(proxy.requests).toEqual([]);
  });
});

describe('x64 standalone executable: its working directory cannot configure it', () => {
  let evil: Server;
  let evilUrl: string;
  beforeAll(async () => {
    // An "S3" that serves the attacker's key for any object.
    evil = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end(renderLine('alice', attacker));
    });
    evilUrl = (await listenLoopback(evil)).endpoint;
  });
  afterAll(() => new Promise<void>((r) => evil.close(() => r())));

  it('ignores a .env (which would point it at another S3) and a bunfig.toml preload', async () => {
    const cwd = mkdtempSync(join(work, 'cwd-'));
    const marker = join(cwd, 'preloaded');
    writeFileSync(join(cwd, '.env'), `AWS_ENDPOINT_URL_S3=${evilUrl}\n`);
    writeFileSync(join(cwd, 'evil.js'), `require('fs').writeFileSync(${JSON.stringify(marker)}, 'ran');\n`);
    writeFileSync(join(cwd, 'bunfig.toml'), 'preload = ["./evil.js"]\n');
    const config = writeConfig('dotenv');
    // AWS_ENDPOINT_URL (moto) loses to AWS_ENDPOINT_URL_S3: a .env read from cwd would win.
    const r = await runIn(cwd, X64, ['--config', config, 'ec2-user'], { AWS_ENDPOINT_URL: moto.endpoint });
    expect(r).toMatchObject({ code: 0, stdout: aliceLine });
    expect(r.stdout).not.toContain(attacker.blob);
    expect(existsSync(marker)).toBe(false);
  });
});

describe("x64 standalone executable: Bun's own environment switches run no other code", () => {
  let dir: string;
  let marker: string;
  let payload: string;
  beforeAll(() => {
    dir = mkdtempSync(join(work, 'switches-'));
    marker = join(dir, 'ran');
    payload = join(dir, 'payload.js');
    writeFileSync(payload, `require('fs').writeFileSync(${JSON.stringify(marker)}, 'ran');\n`);
  });
  const code = () => `require('fs').writeFileSync(${JSON.stringify(marker)}, 'ran')`;
  const refusal = (names: string) =>
    `iam-authorized-keys: refusing to run with Bun runtime switches in the environment: ${names}\n`;

  // Each: the environment, the arguments, and what the agent answers instead of running the payload.
  it.each<[string, () => Record<string, string>, () => string[], () => Partial<Result>]>([
    [
      'BUN_BE_BUN=1 with -e CODE (would be the bun CLI evaluating CODE)',
      () => ({ BUN_BE_BUN: '1' }),
      () => ['-e', code()],
      () => ({ code: 2, stdout: '', stderr: refusal('BUN_BE_BUN') }),
    ],
    [
      'BUN_OPTIONS=--preload=FILE (would run FILE before the agent)',
      () => ({ BUN_OPTIONS: `--preload=${payload}` }),
      () => ['--config', writeConfig('switches'), 'ec2-user'],
      () => ({ code: 2, stdout: '', stderr: refusal('BUN_OPTIONS') }),
    ],
    [
      'BUN_OPTIONS=--require=FILE',
      () => ({ BUN_OPTIONS: `--require=${payload}` }),
      () => ['--config', writeConfig('switches'), 'ec2-user'],
      () => ({ code: 2, stdout: '', stderr: refusal('BUN_OPTIONS') }),
    ],
    [
      'BUN_INSPECT with BUN_INSPECT_PRELOAD=FILE (the debugger)',
      () => ({ BUN_INSPECT: '127.0.0.1:0', BUN_INSPECT_PRELOAD: payload }),
      () => ['--config', writeConfig('switches'), 'ec2-user'],
      () => ({ code: 2, stdout: '', stderr: refusal('BUN_INSPECT, BUN_INSPECT_PRELOAD') }),
    ],
    [
      'BUN_CONFIG_VERBOSE_FETCH=curl (would print each request, session token included, to stderr)',
      () => ({ BUN_CONFIG_VERBOSE_FETCH: 'curl', AWS_SESSION_TOKEN: 'session-token-secret' }),
      () => ['--config', writeConfig('switches'), 'ec2-user'],
      () => ({ code: 2, stdout: '', stderr: refusal('BUN_CONFIG_VERBOSE_FETCH') }),
    ],
    [
      'BUN_JSC_dumpOptions=1 (a JSC option: applied before any JavaScript)',
      () => ({ BUN_JSC_dumpOptions: '1' }),
      () => ['--config', writeConfig('switches'), 'ec2-user'],
      () => ({ code: 2, stdout: '' }),
    ],
  ])('%s: refused, nothing run', async (_label, env, args, answer) => {
    rmSync(marker, { force: true });
    const r = await runIn(dir, X64, args(), env());
    expect(r).toMatchObject(answer());
    expect(r.stderr).toContain('refusing to run with Bun runtime switches in the environment');
    expect(existsSync(marker)).toBe(false);
  });

  // Bun 1.4.5 writes a profile of the bytecode it ran to these paths at exit, renamed over whatever is there
  // (checked by hand with the unpatched runtime: a root-owned file was replaced, a symlink replaced, not followed).
  it.each([
    ['BUN_BYTECODE_ORDER_OUT', ['--config', 'CONFIG', 'ec2-user']],
    ['BUN_BYTECODE_DIGEST_OUT', ['--config', 'CONFIG', 'ec2-user']],
    ['BUN_BYTECODE_ORDER_NAMES_OUT', ['--config', 'CONFIG', 'ec2-user']],
    ['BUN_BYTECODE_ORDER_OUT', ['--help']],
  ])('%s=FILE %j: refused, and FILE (or a symlink to it) is not replaced', async (name, argv) => {
    const victimDir = mkdtempSync(join(work, 'victim-'));
    const victim = join(victimDir, 'shadow');
    const link = join(victimDir, 'link');
    writeFileSync(victim, 'precious\n', { mode: 0o640 });
    symlinkSync(victim, link);
    const args = argv.map((a) => (a === 'CONFIG' ? writeConfig('switches') : a));
    for (const target of [victim, link]) {
      const r = await runIn(dir, X64, args, { [name]: target });
      expect(r).toMatchObject({ code: 2, stdout: '', stderr: refusal(name) });
    }
    expect(readFileSync(victim, 'utf8')).toBe('precious\n');
    expect(lstatSync(link).isSymbolicLink()).toBe(true);
    expect(readdirSync(victimDir).sort()).toEqual(['link', 'shadow']);
  });

  it.each([
    ['functionOverrides (function bodies from a file)', 'functionOverrides'],
    ['configFile (any JSC option from a file)', 'configFile'],
    ['diskCachePath (compiled code from disk)', 'diskCachePath'],
  ])('BUN_JSC_%s: Bun itself refuses to start, before any JavaScript', async (_label, option) => {
    rmSync(marker, { force: true });
    const file = join(dir, `${option}.txt`);
    // The file would replace a function body with the payload: Bun stops at the variable's name, before reading it.
    writeFileSync(file, `override %{\n  process.exit(e);\n}%\nwith %{\n  ${code()};\n}%\n`);
    const r = await runIn(dir, X64, ['--config', writeConfig('switches'), 'ec2-user'], {
      [`BUN_JSC_${option}`]: file,
    });
    expect(r.code).not.toBe(0);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain('invalid JSC environment variable');
    expect(existsSync(marker)).toBe(false);
  });

  it('NODE_OPTIONS=--require FILE: Bun does not read it; the agent answers normally', async () => {
    rmSync(marker, { force: true });
    const config = writeConfig('node-options', { endpoint: proxy.endpoint });
    const r = await runIn(dir, X64, ['--config', config, 'ec2-user'], {
      NODE_OPTIONS: `--require ${payload}`,
    });
    expect(r).toMatchObject({ code: 0, stdout: aliceLine });
    expect(existsSync(marker)).toBe(false);
  });
});

describe("x64 standalone executable: signing and fingerprints on Bun's own hashes", () => {
  let verifier: Server;
  let verifierUrl: string;
  const seen: boolean[] = [];
  beforeAll(async () => {
    // An S3 that recomputes each request's SigV4 with the agent's signer run here on node:crypto (itself checked
    // against @smithy/signature-v4), answers 403 on any difference, and forwards good requests to moto.
    verifier = createServer(async (req, res) => {
      const ok = checkS3Signature(req, TEST_CREDENTIALS).ok;
      seen.push(ok);
      if (!ok) {
        res.writeHead(403, { 'content-type': 'application/xml' });
        res.end('<Error><Code>SignatureDoesNotMatch</Code></Error>');
        return;
      }
      const up = await fetch(`${moto.endpoint}${req.url}`, { headers: forwardable(req.headers) });
      const checksum = up.headers.get('x-amz-checksum-sha256');
      res.writeHead(up.status, {
        etag: up.headers.get('etag') ?? '',
        ...(checksum ? { 'x-amz-checksum-sha256': checksum } : {}),
      });
      res.end(Buffer.from(await up.arrayBuffer()));
    });
    verifierUrl = (await listenLoopback(verifier)).endpoint;
  });
  afterAll(() => new Promise<void>((r) => verifier.close(() => r())));

  it('a cold fetch signs as node:crypto would, and FINGERPRINT picks the key on a cold cache', async () => {
    seen.length = 0;
    const config = writeConfig('signing', { endpoint: verifierUrl });
    const r = await runIn(work, X64, ['--config', config, 'ec2-user', alice.fingerprint]);
    expect(r).toMatchObject({ code: 0, stdout: aliceLine });
    expect(seen).toEqual([true]);
  });

  it('the verifier refuses a request signed with another secret (so the test above could fail)', async () => {
    seen.length = 0;
    const config = writeConfig('signing-bad', { endpoint: verifierUrl });
    const r = await runIn(work, X64, ['--config', config, 'ec2-user'], {
      AWS_SECRET_ACCESS_KEY: 'not-the-secret',
    });
    expect(r.code).not.toBe(0);
    expect(r.stdout).toBe('');
    expect(seen).toEqual([false]);
  });
});

describe("x64 standalone executable: S3 through Bun's fetch", () => {
  let evil: Server;
  let redirecting: Server;
  let redirectingUrl: string;
  let evilHits = 0;
  beforeAll(async () => {
    evil = createServer((_req, res) => {
      evilHits++;
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end(renderLine('alice', attacker));
    });
    const evilUrl = (await listenLoopback(evil)).endpoint;
    // What a wrong-region bucket or a hostile middlebox might answer: fetch would follow it by default.
    redirecting = createServer((req, res) => {
      res.writeHead(307, { location: `${evilUrl}${req.url}` });
      res.end();
    });
    redirectingUrl = (await listenLoopback(redirecting)).endpoint;
  });
  afterAll(async () => {
    await new Promise<void>((r) => evil.close(() => r()));
    await new Promise<void>((r) => redirecting.close(() => r()));
  });

  const usersOf = (principal: string) => ({ users: { 'ec2-user': [principal] } });

  it('one checked GET for an object with a checksum; an object without one is asked again over node:http', async () => {
    const config = (name: string, principal: string) =>
      writeConfig(name, { endpoint: proxy.endpoint, ...usersOf(principal) });
    proxy.clear();
    const bob = await runIn(work, X64, ['--config', config('fetch-bob', 'users/bob'), 'ec2-user']);
    expect(bob).toMatchObject({ code: 0, stdout: bobLine });
    // One GET: S3 answered with the checksum only because the agent asked in checksum mode.
    expect(proxy.requests.map((q) => [q.action, q.status])).toEqual([['GetObject', 200]]);
    proxy.clear();
    const carol = await runIn(work, X64, ['--config', config('fetch-carol', 'users/carol'), 'ec2-user']);
    expect(carol).toMatchObject({ code: 0, stdout: carolLine });
    expect(proxy.count('s3', 'GetObject')).toBe(2);
  });

  it('reads no proxy from the environment, as node:http does not', async () => {
    const refused = 'http://127.0.0.1:1';
    const env = { http_proxy: refused, HTTP_PROXY: refused, https_proxy: refused, ALL_PROXY: refused };
    const config = writeConfig('fetch-proxy', { endpoint: proxy.endpoint, ...usersOf('users/bob') });
    proxy.clear();
    const r = await runIn(work, X64, ['--config', config, 'ec2-user'], env);
    expect(r).toMatchObject({ code: 0, stdout: bobLine });
    expect(proxy.count('s3', 'GetObject')).toBe(1);
  });

  it('follows no redirect: a 307 to another server fails closed', async () => {
    evilHits = 0;
    const config = writeConfig('fetch-redirect', { endpoint: redirectingUrl, ...usersOf('users/bob') });
    const r = await runIn(work, X64, ['--config', config, 'ec2-user']);
    expect(r.code).not.toBe(0);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/answered 307/);
    expect(evilHits).toBe(0);
  });
});

/** The request's headers moto needs (no hop-by-hop ones). */
function forwardable(h: IncomingHttpHeaders): Record<string, string> {
  return Object.fromEntries(
    Object.entries(h)
      .filter(([k, v]) => typeof v === 'string' && !['host', 'connection', 'content-length'].includes(k))
      .map(([k, v]) => [k, v as string]),
  );
}

describe('x64 standalone and the script agent share one cache', () => {
  const SCRIPT = join(ROOT, 'dist/iam-authorized-keys');
  const standalone = (config: string) => runIn(work, X64, ['--config', config, 'ec2-user']);
  const script = (config: string) => runIn(work, process.execPath, [SCRIPT, '--config', config, 'ec2-user']);
  const entryHead = (name: string) =>
    readFileSync(join(work, `cache-${name}`, 'o-users%2falice%2fauthorized_keys'), 'latin1').slice(0, 8);

  it.each([
    ['the standalone writes CRC-32 ("crc"), node reads it', 'kinds-crc', standalone, script, '{"crc":"'],
    ['node writes its own sum ("sum"), the standalone reads it', 'kinds-sum', script, standalone, '{"sum":"'],
  ])('%s: a cache hit, no request', async (_label, name, writer, reader, head) => {
    const config = writeConfig(name, { endpoint: proxy.endpoint });
    proxy.clear();
    expect(await writer(config)).toMatchObject({ code: 0, stdout: aliceLine });
    expect(proxy.count('s3', 'GetObject')).toBeGreaterThan(0);
    expect(entryHead(name)).toBe(head);
    proxy.clear();
    const hit = await reader(config);
    expect(hit).toMatchObject({ code: 0, stdout: aliceLine });
    expect(hit.stderr).toContain('(source cache)');
    expect(hit.stderr).not.toContain('ignoring cache entry');
    expect(proxy.requests).toEqual([]);
  });
});

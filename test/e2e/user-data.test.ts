// The stack's instance user data, rendered by renderUserData and run for real as
// root against fake agent artifacts: the executables sit in moto (S3) behind a
// loopback endpoint that checks curl's SigV4 signature, the credentials come
// from a fake IMDSv2, and a fake `uname` picks the architecture. The script
// runs in a private mount namespace where /etc and /usr/local/bin are overlays
// (lower: the real directories), so every file it writes lands in upper
// directories this test inspects, and the real system is never touched.
//
// Every command the script runs is on a PATH of logging wrappers only (no aws
// unless a case puts its stub there): the log is every argv a `ps` could have
// shown, and no secret may appear in it.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { clients, createBucket } from '../../dev/host.js';
import { listenLoopback } from '../../dev/loopback.js';
import { type Moto, startMoto } from '../../dev/moto.js';
import { checkS3Signature } from '../../dev/sigv4-check.js';
import { EMPTY_SHA256, sha256Hex } from '../../host-agent/sigv4.js';
import { AGENT_PATH, renderUserData, type UserDataOptions } from '../../lib/user-data.js';

const BUCKET = 'artifacts';
const FOLDER = `s3://${BUCKET}/rel/1.0/`;
const TAMPERED_FOLDER = `s3://${BUCKET}/rel/tampered/`;
/** The artifacts bucket's region (agentRegion), unlike the keys bucket's: the signature must use this one. */
const AGENT_REGION = 'us-west-2';
const ROLE = 'e2e-instance-role';
const KEY_ID = 'ASIAE2EUSERDATA00001';
// Unique per run, in the character sets IMDS uses: a hit in the argv log can only be a leak.
const b64 = (n: number) => randomBytes(n).toString('base64');
const SECRET = `e2eSecret${b64(24)}`;
const SESSION = `e2eSession${b64(48)}`;
const IMDS_TOKEN = `e2eImdsToken${b64(24)}`;
/** Every external command the script runs; each gets a logging wrapper that execs the real one. */
const WRAPPED = ['curl', 'sed', 'sha256sum', 'mktemp', 'rm', 'cat', 'install', 'mv'];

function requireRoot(): void {
  if (process.getuid?.() !== 0) {
    throw new Error(
      'the user-data end-to-end test must run as root: it mounts overlays over /etc and /usr/local/bin in a private mount namespace',
    );
  }
}

const readBody = (req: IncomingMessage) =>
  new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });

async function listen(server: Server): Promise<string> {
  return (await listenLoopback(server)).endpoint;
}

const close = (server: Server) => new Promise<void>((resolve) => server.close(() => resolve()));

interface ImdsRequest {
  readonly method: string;
  readonly url: string;
  readonly ttlHeader: boolean;
  readonly token: boolean;
}

/** A fake IMDSv2: a token only for PUT with a TTL header, and every GET needs that token. */
function fakeImds() {
  const state = { requests: [] as ImdsRequest[], role: ROLE as string | undefined };
  const server = createServer((req, res) => {
    const r: ImdsRequest = {
      method: req.method ?? '',
      url: req.url ?? '',
      ttlHeader: req.headers['x-aws-ec2-metadata-token-ttl-seconds'] !== undefined,
      token: req.headers['x-aws-ec2-metadata-token'] === IMDS_TOKEN,
    };
    state.requests.push(r);
    const end = (status: number, body = '') => {
      res.writeHead(status, { 'content-type': 'text/plain' });
      res.end(body);
    };
    if (r.method === 'PUT' && r.url === '/latest/api/token') return end(r.ttlHeader ? 200 : 400, IMDS_TOKEN);
    if (r.method !== 'GET') return end(405);
    if (!r.token) return end(401);
    if (r.url === '/latest/meta-data/iam/security-credentials/') {
      return state.role ? end(200, state.role) : end(404);
    }
    if (state.role && r.url === `/latest/meta-data/iam/security-credentials/${state.role}`) {
      const doc = {
        Code: 'Success',
        LastUpdated: new Date().toISOString(),
        Type: 'AWS-HMAC',
        AccessKeyId: KEY_ID,
        SecretAccessKey: SECRET,
        Token: SESSION,
        Expiration: new Date(Date.now() + 6 * 3600_000).toISOString(),
      };
      // Pretty-printed with " : " like the real one.
      return end(200, JSON.stringify(doc, null, 2).replace(/": /g, '" : '));
    }
    return end(404);
  });
  return { server, state };
}

interface S3Request {
  readonly path: string;
  readonly signedHeaders: string | undefined;
  readonly ok: boolean;
}

/**
 * The S3 endpoint the script talks to: recomputes each request's SigV4 (the
 * agent's signer, itself checked against @smithy/signature-v4) with the IMDS
 * credentials and the artifacts region, answers 403 on any difference, and
 * forwards good requests to moto (which does not check signatures).
 */
function verifyingS3(moto: Moto) {
  const requests: S3Request[] = [];
  const server = createServer(async (req, res) => {
    await readBody(req);
    const auth = String(req.headers.authorization ?? '');
    const amzDate = String(req.headers['x-amz-date'] ?? '');
    const contentSha = String(req.headers['x-amz-content-sha256'] ?? '');
    const check = checkS3Signature(req, {
      accessKeyId: KEY_ID,
      secretAccessKey: SECRET,
      sessionToken: SESSION,
    });
    const ok = check.ok && check.region === AGENT_REGION && contentSha === EMPTY_SHA256;
    requests.push({ path: req.url ?? '', signedHeaders: check.signedHeaders, ok });
    if (!ok) {
      res.writeHead(403, { 'content-type': 'application/xml' });
      res.end('<Error><Code>SignatureDoesNotMatch</Code></Error>');
      return;
    }
    const up = await fetch(`${moto.endpoint}${req.url}`, {
      headers: {
        authorization: auth,
        'x-amz-date': amzDate,
        'x-amz-content-sha256': contentSha,
        'x-amz-security-token': SESSION,
      },
    });
    res.writeHead(up.status);
    res.end(Buffer.from(await up.arrayBuffer()));
  });
  return { server, requests };
}

let moto: Moto;
let dir: string;
let marker: string;
let imds: ReturnType<typeof fakeImds>;
let imdsUrl: string;
let s3: ReturnType<typeof verifyingS3>;
let s3Url: string;
const fake: Record<'x64' | 'arm64' | 'tampered', string> = { x64: '', arm64: '', tampered: '' };

beforeAll(async () => {
  requireRoot();
  moto = await startMoto();
  dir = mkdtempSync(join(tmpdir(), 'iam-ssh-keys-e2e-userdata-'));
  marker = join(dir, 'marker');
  // The fake agents: `iam-authorized-keys install` leaves "<arch> install" in the marker file.
  fake.x64 = `#!/bin/sh\necho "x64 $*" >> '${marker}'\n`;
  fake.arm64 = `#!/bin/sh\necho "arm64 $*" >> '${marker}'\n`;
  fake.tampered = `${fake.x64}# replaced in the bucket\n`;
  await createBucket(moto, BUCKET);
  const put = (key: string, body: string) =>
    clients(moto).s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: body }));
  await put('rel/1.0/iam-authorized-keys-linux-x64', fake.x64);
  await put('rel/1.0/iam-authorized-keys-linux-arm64', fake.arm64);
  await put('rel/tampered/iam-authorized-keys-linux-x64', fake.tampered);
  // What the aws stub copies from (it stands for the AWS CLI, not for S3).
  mkdirSync(join(dir, 'aws-objects'));
  writeFileSync(join(dir, 'aws-objects', 'iam-authorized-keys-linux-x64'), fake.x64);
  writeFileSync(join(dir, 'aws-objects', 'iam-authorized-keys-linux-arm64'), fake.arm64);
  imds = fakeImds();
  imdsUrl = await listen(imds.server);
  s3 = verifyingS3(moto);
  s3Url = await listen(s3.server);
});

afterAll(async () => {
  if (imds) await close(imds.server);
  if (s3) await close(s3.server);
  await moto?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

beforeEach(() => {
  imds.state.requests.length = 0;
  imds.state.role = ROLE;
  s3.requests.length = 0;
  rmSync(marker, { force: true });
});

const options = (folder = FOLDER): UserDataOptions => ({
  bucket: 'company-ssh-keys',
  prefix: 'ssh/',
  region: 'eu-west-1',
  users: { 'ec2-user': ['groups/Administrators', 'users/alice'] },
  agent: {
    s3Uri: folder,
    sha256: { x64: sha256Hex(fake.x64), arm64: sha256Hex(fake.arm64) },
    region: AGENT_REGION,
  },
});

interface Result {
  readonly status: number;
  readonly stderr: string;
  /** What the script wrote under /usr/local/bin and /etc (the overlays' upper dirs). */
  readonly bin: string;
  readonly etc: string;
  /** One line per external command run: its name and arguments. */
  readonly argv: string;
  readonly awsArgv: string | undefined;
}

let runs = 0;

/** Runs the rendered script as the instance would, in the overlay namespace. */
function runUserData(script: string, o: { machine: string; aws?: boolean }): Promise<Result> {
  const run = join(dir, `run-${++runs}`);
  const [bin, binWork, etc, etcWork, path] = ['bin', 'bin-work', 'etc', 'etc-work', 'path'].map((d) => {
    mkdirSync(join(run, d), { recursive: true });
    return join(run, d);
  }) as [string, string, string, string, string];
  const argvLog = join(run, 'argv.log');
  const tool = (name: string, body: string) => {
    writeFileSync(join(path, name), `#!/bin/bash\nprintf '%s\\n' "${name} $*" >> '${argvLog}'\n${body}\n`);
    chmodSync(join(path, name), 0o755);
  };
  for (const name of WRAPPED) {
    const real = ['/usr/bin', '/bin'].map((d) => join(d, name)).find((p) => existsSync(p));
    if (!real) throw new Error(`${name} not found in /usr/bin or /bin`);
    tool(name, `exec ${real} "$@"`);
  }
  tool('uname', `if [ "$1" = -m ]; then echo '${o.machine}'; else exec /usr/bin/uname "$@"; fi`);
  if (o.aws) {
    // aws s3 cp --only-show-errors --region R s3://.../NAME DEST
    tool(
      'aws',
      `printf '%s\\n' "$*" > '${run}/aws.log'; uri=\${@: -2:1}; exec /usr/bin/cp '${dir}/aws-objects'/"\${uri##*/}" "\${@: -1}"`,
    );
  }
  const scriptPath = join(run, 'user-data.sh');
  writeFileSync(scriptPath, script);
  const overlay =
    '/usr/bin/mount -t overlay overlay -o "lowerdir=/etc,upperdir=$1,workdir=$2" /etc' +
    ' && /usr/bin/mount -t overlay overlay -o "lowerdir=/usr/local/bin,upperdir=$3,workdir=$4" /usr/local/bin' +
    ' || exit 125; exec /bin/bash "$5"';
  return new Promise((resolve, reject) => {
    execFile(
      '/usr/bin/unshare',
      [
        '--mount',
        '--propagation',
        'private',
        '--',
        '/bin/sh',
        '-c',
        overlay,
        'user-data',
        etc,
        etcWork,
        bin,
        binWork,
        scriptPath,
      ],
      {
        env: {
          PATH: path,
          HOME: run,
          LANG: 'C',
          IAM_SSH_KEYS_IMDS: imdsUrl,
          IAM_SSH_KEYS_S3_ENDPOINT: s3Url,
        },
      },
      (err, _stdout, stderr) => {
        const status = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
        if (status === 125)
          return reject(new Error(`overlay mounts over /etc and /usr/local/bin failed: ${stderr}`));
        const read = (f: string) => (existsSync(f) ? readFileSync(f, 'utf8') : undefined);
        resolve({ status, stderr, bin, etc, argv: read(argvLog) ?? '', awsArgv: read(join(run, 'aws.log')) });
      },
    );
  });
}

const mode = (p: string) => statSync(p).mode & 0o7777;

/** Installed as user data must: agent 0755 and config 0644, root-owned, no temp names, install run once. */
function expectInstalled(r: Result, agentBytes: string, arch: string): void {
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  expect(readdirSync(r.bin)).toEqual(['iam-authorized-keys']);
  expect(readdirSync(r.etc)).toEqual(['iam-authorized-keys.json']);
  const agent = join(r.bin, 'iam-authorized-keys');
  expect(readFileSync(agent, 'utf8')).toBe(agentBytes);
  expect(mode(agent)).toBe(0o755);
  expect(statSync(agent).uid).toBe(0);
  const config = join(r.etc, 'iam-authorized-keys.json');
  expect(mode(config)).toBe(0o644);
  expect(statSync(config).uid).toBe(0);
  expect(JSON.parse(readFileSync(config, 'utf8'))).toEqual({
    bucket: 'company-ssh-keys',
    prefix: 'ssh/',
    region: 'eu-west-1',
    users: { 'ec2-user': ['groups/Administrators', 'users/alice'] },
  });
  expect(readFileSync(marker, 'utf8')).toBe(`${arch} install\n`);
  // The real one is not this run's fake (which names this run's temp dir): it landed in the overlay only.
  if (existsSync(AGENT_PATH)) expect(readFileSync(AGENT_PATH, 'utf8')).not.toBe(agentBytes);
}

function expectNothingInstalled(r: Result): void {
  expect(readdirSync(r.bin)).toEqual([]);
  expect(readdirSync(r.etc)).toEqual([]);
  expect(existsSync(marker)).toBe(false);
}

describe('instance user data on a host without the AWS CLI (curl + IMDSv2)', () => {
  it('the fake IMDS is IMDSv2-only: a GET without the token is refused', async () => {
    const res = await fetch(`${imdsUrl}/latest/meta-data/iam/security-credentials/`);
    expect(res.status).toBe(401);
    const noTtl = await fetch(`${imdsUrl}/latest/api/token`, { method: 'PUT' });
    expect(noTtl.status).toBe(400);
  });

  it('x86_64: installs the x64 executable byte for byte (0755) and the config (0644), then runs install', async () => {
    const r = await runUserData(renderUserData(options()), { machine: 'x86_64' });
    expectInstalled(r, fake.x64, 'x64');
    // IMDSv2: a token first (with a TTL), then role and credentials, each with that token.
    expect(imds.state.requests).toEqual([
      { method: 'PUT', url: '/latest/api/token', ttlHeader: true, token: false },
      { method: 'GET', url: '/latest/meta-data/iam/security-credentials/', ttlHeader: false, token: true },
      {
        method: 'GET',
        url: `/latest/meta-data/iam/security-credentials/${ROLE}`,
        ttlHeader: false,
        token: true,
      },
    ]);
    // One path-style GET, signed for the artifacts region with the session token and the payload hash.
    expect(s3.requests).toEqual([
      {
        path: `/${BUCKET}/rel/1.0/iam-authorized-keys-linux-x64`,
        signedHeaders: 'host;x-amz-content-sha256;x-amz-date;x-amz-security-token',
        ok: true,
      },
    ]);
  });

  it('no process argv carried a secret: the secret key, session token and IMDS token went to curl on stdin', async () => {
    const r = await runUserData(renderUserData(options()), { machine: 'x86_64' });
    expect(r.status).toBe(0);
    const lines = r.argv.split('\n').filter(Boolean);
    // The wrappers saw the commands (so the check below looked at them).
    expect(lines.filter((l) => l.startsWith('curl '))).toEqual([
      'curl --version',
      expect.stringMatching(/^curl -sSf --retry 3 -X PUT /),
      expect.stringMatching(/^curl -sSf --retry 3 -K - /),
      expect.stringMatching(/^curl -sSf --retry 3 -K - /),
      expect.stringMatching(/^curl -sSf --retry 3 -K - --aws-sigv4 aws:amz:us-west-2:s3 /),
    ]);
    expect(lines.filter((l) => l.startsWith('sed '))).toHaveLength(4);
    expect(lines.some((l) => l.startsWith('sha256sum '))).toBe(true);
    for (const secret of [SECRET, SESSION, IMDS_TOKEN]) expect(r.argv).not.toContain(secret);
  });

  it('aarch64: picks the arm64 executable', async () => {
    const r = await runUserData(renderUserData(options()), { machine: 'aarch64' });
    expectInstalled(r, fake.arm64, 'arm64');
    expect(s3.requests.map((q) => [q.path, q.ok])).toEqual([
      [`/${BUCKET}/rel/1.0/iam-authorized-keys-linux-arm64`, true],
    ]);
  });

  it('a replaced artifact (checksum mismatch): exits 1 with one clear line and installs nothing', async () => {
    const r = await runUserData(renderUserData(options(TAMPERED_FOLDER)), { machine: 'x86_64' });
    expect(r.status).toBe(1);
    expect(r.stderr).toBe(
      `iam-ssh-keys: checksum mismatch for ${TAMPERED_FOLDER}iam-authorized-keys-linux-x64: not installing\n`,
    );
    expect(s3.requests.map((q) => q.ok)).toEqual([true]);
    expectNothingInstalled(r);
  });

  it('an unknown architecture: exits 1 with one clear line before fetching anything', async () => {
    const r = await runUserData(renderUserData(options()), { machine: 'riscv64' });
    expect(r.status).toBe(1);
    expect(r.stderr).toBe(
      'iam-ssh-keys: no host agent for this architecture (riscv64): there are x86_64 and aarch64 builds only\n',
    );
    expect(imds.state.requests).toEqual([]);
    expect(s3.requests).toEqual([]);
    expectNothingInstalled(r);
  });

  it('an instance without a role: exits 1 saying so, installs nothing', async () => {
    imds.state.role = undefined;
    const r = await runUserData(renderUserData(options()), { machine: 'x86_64' });
    expect(r.status).toBe(1);
    expect(r.stderr.trimEnd().split('\n').at(-1)).toBe(
      'iam-ssh-keys: no instance role: attach an instance profile whose role has the reader policy',
    );
    expect(s3.requests).toEqual([]);
    expectNothingInstalled(r);
  });
});

describe('instance user data on a host with the AWS CLI', () => {
  it('uses aws s3 cp with the artifacts region (no IMDS, no curl) and installs the same way', async () => {
    const r = await runUserData(renderUserData(options()), { machine: 'x86_64', aws: true });
    expectInstalled(r, fake.x64, 'x64');
    expect(r.awsArgv).toMatch(
      new RegExp(
        `^s3 cp --only-show-errors --region ${AGENT_REGION} ${FOLDER}iam-authorized-keys-linux-x64 /tmp/tmp\\.\\w+/agent\\n$`,
      ),
    );
    expect(r.argv).not.toMatch(/^curl /m);
    expect(imds.state.requests).toEqual([]);
    expect(s3.requests).toEqual([]);
  });
});

// Profiles as people have them (role_arn + source_profile + mfa_serial, mfa_serial on
// long-term keys, chained roles) with the bundled CLI against moto's STS over HTTP: the
// prompt on a pseudo-terminal, no terminal, a cached session, an expired one, and the
// AWS CLI reading our cache and we reading its own.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateUserCommand } from '@aws-sdk/client-iam';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { shellQuote } from '../../../cli/credentials/command.js';
import { type AwsProxy, iamError, startAwsProxy } from '../../../dev/aws-proxy.js';
import { type Moto, startMoto, TEST_CREDENTIALS, TEST_REGION } from '../../../dev/moto.js';
import { clientsFor } from '../../../dev/publisher.js';

const CLI = join(process.cwd(), 'dist/iam-ssh-keys');
const ACCOUNT = '123456789012';
const MFA = `arn:aws:iam::${ACCOUNT}:mfa/alice`;
const ADMIN_ROLE = `arn:aws:iam::${ACCOUNT}:role/admin`;
// The AWS CLI's cache key for profile admin: SHA-1 of Python's json.dumps(args, sort_keys=True).
const ADMIN_CACHE_KEY = createHash('sha1')
  .update(`{"DurationSeconds": 1800, "RoleArn": "${ADMIN_ROLE}", "SerialNumber": "${MFA}"}`)
  .digest('hex');

let moto: Moto;
let proxy: AwsProxy;
let home: string;
const cacheDir = () => join(home, '.aws', 'cli', 'cache');

const CONFIG = `
[default]
region = ${TEST_REGION}

[profile base]
aws_access_key_id = ${TEST_CREDENTIALS.accessKeyId}
aws_secret_access_key = ${TEST_CREDENTIALS.secretAccessKey}

# What IAM administration guides recommend: a role that needs MFA, assumed from a user's keys.
[profile admin]
role_arn = ${ADMIN_ROLE}
source_profile = base
mfa_serial = ${MFA}
duration_seconds = 1800

[profile readonly]
role_arn = arn:aws:iam::${ACCOUNT}:role/readonly
source_profile = admin
external_id = ext-1
role_session_name = alice-readonly

# mfa_serial on long-term keys, no role: an MFA session (GetSessionToken).
[profile mfa-user]
mfa_serial = ${MFA}

[profile via-process]
credential_process = ${CLI} credentials --profile admin --json
`;
const CREDENTIALS = `[mfa-user]
aws_access_key_id = ${TEST_CREDENTIALS.accessKeyId}
aws_secret_access_key = ${TEST_CREDENTIALS.secretAccessKey}
`;

function env(extra: Record<string, string> = {}): Record<string, string> {
  return {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: home,
    AWS_REGION: TEST_REGION,
    AWS_DEFAULT_REGION: TEST_REGION,
    AWS_ENDPOINT_URL: proxy.endpoint,
    AWS_EC2_METADATA_DISABLED: 'true',
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    ...extra,
  };
}

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

function collect(child: ChildProcess, onStdout?: (all: string) => void): Promise<Result> {
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d: Buffer) => {
    stdout += d.toString();
    onStdout?.(stdout);
  });
  child.stderr?.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
}

/** Without a controlling terminal (setsid), stdin as given. Async: the proxy runs in this process. */
function noTty(args: string[], extra: Record<string, string> = {}, stdin = ''): Promise<Result> {
  const child = spawn('setsid', ['-w', CLI, ...args], { env: env(extra), stdio: ['pipe', 'pipe', 'pipe'] });
  child.stdin?.end(stdin);
  return collect(child);
}

/** On a pseudo-terminal (script(1)); types `code` when `prompt` appears. */
async function onTty(
  program: string[],
  code: string | undefined,
  prompt = /MFA code for/,
  extra: Record<string, string> = {},
): Promise<Result & { prompted: boolean }> {
  const child = spawn('script', ['-qec', program.map(shellQuote).join(' '), '/dev/null'], {
    env: env(extra),
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let prompted = false;
  const r = await collect(child, (all) => {
    if (!prompted && prompt.test(all)) {
      prompted = true;
      child.stdin?.write(`${code ?? ''}\n`);
    }
  });
  child.stdin?.end();
  return { ...r, prompted };
}

const sts = (action?: string) => proxy.count('sts', action);
const cacheFile = (key: string) => join(cacheDir(), `${key}.json`);

function expireCache(key: string): void {
  const v = JSON.parse(readFileSync(cacheFile(key), 'utf8'));
  v.Credentials.Expiration = new Date(Date.now() - 60_000).toISOString();
  writeFileSync(cacheFile(key), JSON.stringify(v), { mode: 0o600 });
}

beforeAll(async () => {
  moto = await startMoto();
  proxy = await startAwsProxy(moto.endpoint);
  home = mkdtempSync(join(tmpdir(), 'creds-home-'));
  mkdirSync(join(home, '.aws'));
  writeFileSync(join(home, '.aws', 'config'), CONFIG);
  writeFileSync(join(home, '.aws', 'credentials'), CREDENTIALS, { mode: 0o600 });
  const { iam, s3 } = clientsFor(moto.endpoint);
  await iam.send(new CreateUserCommand({ UserName: 'creds-alice' }));
  await s3.send(new CreateBucketCommand({ Bucket: 'creds-keys' }));
});

afterAll(async () => {
  await proxy?.stop();
  await moto?.stop();
  if (home) rmSync(home, { recursive: true, force: true });
});

beforeEach(() => {
  rmSync(cacheDir(), { recursive: true, force: true });
  proxy.clear();
  proxy.options = {};
});

describe('role profile with source_profile and mfa_serial', () => {
  it('prompts on the terminal, assumes the role with the code, caches the session 0600 under the AWS CLI key', async () => {
    const r = await onTty([CLI, 'keys', 'list', '--user', 'creds-alice', '--profile', 'admin'], '246810');
    expect(r.prompted).toBe(true);
    expect(r.stdout).toContain(`MFA code for ${MFA} (profile admin): `);
    expect(r.stdout).toContain('creds-alice has no SSH public keys');
    expect(r.code).toBe(0);
    expect(sts('AssumeRole')).toBe(1);
    expect(readdirSync(cacheDir())).toEqual([`${ADMIN_CACHE_KEY}.json`]);
    expect(statSync(cacheFile(ADMIN_CACHE_KEY)).mode & 0o777).toBe(0o600);
    const cached = JSON.parse(readFileSync(cacheFile(ADMIN_CACHE_KEY), 'utf8')).Credentials;
    // IAM was called with the assumed role's session, not the source profile's keys.
    // (keys list reads both stores: ListSSHPublicKeys and ListUserTags.)
    const iamSigners = proxy.requests.filter((q) => q.service === 'iam').map((q) => q.accessKeyId);
    expect(iamSigners.length).toBeGreaterThan(0);
    expect(new Set(iamSigners)).toEqual(new Set([cached.AccessKeyId]));
    expect(cached.AccessKeyId).not.toBe(TEST_CREDENTIALS.accessKeyId);

    // The next command within the session: no prompt, no STS call, even without a terminal.
    proxy.clear();
    const again = await noTty(['keys', 'list', '--user', 'creds-alice', '--profile', 'admin']);
    expect(again).toMatchObject({ code: 0, stderr: '' });
    expect(sts()).toBe(0);
    const again2 = proxy.requests.filter((q) => q.service === 'iam').map((q) => q.accessKeyId);
    expect(again2.length).toBeGreaterThan(0);
    expect(new Set(again2)).toEqual(new Set([cached.AccessKeyId]));
  });

  it('publish (IAM and S3 clients) asks once and signs every call with the one session', async () => {
    const r = await onTty(
      [CLI, 'publish', '--bucket', 'creds-keys', '--dry-run', '--profile', 'admin'],
      '112233',
    );
    expect(r.code).toBe(0);
    expect(r.stdout.match(/MFA code for/g)).toHaveLength(1);
    expect(sts('AssumeRole')).toBe(1);
    const signers = new Set(proxy.requests.filter((q) => q.service !== 'sts').map((q) => q.accessKeyId));
    const cached = JSON.parse(readFileSync(cacheFile(ADMIN_CACHE_KEY), 'utf8')).Credentials;
    expect([...signers]).toEqual([cached.AccessKeyId]);
    expect(proxy.count('s3')).toBeGreaterThan(0);
  });

  it('AWS_PROFILE works like --profile', async () => {
    const r = await noTty(['keys', 'list', '--user', 'creds-alice'], { AWS_PROFILE: 'admin' }, '');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/profile admin needs an MFA code/);
    const ok = await noTty(['keys', 'list', '--user', 'creds-alice'], {
      AWS_PROFILE: 'admin',
      IAM_SSH_KEYS_MFA_CODE: '135791',
    });
    expect(ok).toMatchObject({ code: 0, stderr: '' });
    expect(sts('AssumeRole')).toBe(1);
  });

  it('without a terminal: one line naming the profile and --mfa-code, exit 1, no STS call', async () => {
    const r = await noTty(['keys', 'list', '--user', 'creds-alice', '--profile', 'admin']);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(
      `iam-ssh-keys: profile admin needs an MFA code (${MFA}) and there is no terminal to ask on: ` +
        'pass --mfa-code CODE, --mfa-code - (read from stdin) or set IAM_SSH_KEYS_MFA_CODE\n',
    );
    expect(sts()).toBe(0);
  });

  it('an expired session is renewed with a new prompt', async () => {
    const first = await noTty(['credentials', '--profile', 'admin', '--mfa-code', '111111']);
    expect(first.code).toBe(0);
    expireCache(ADMIN_CACHE_KEY);
    proxy.clear();
    const r = await onTty([CLI, 'credentials', '--profile', 'admin'], '222222');
    expect(r.prompted).toBe(true);
    expect(r.code).toBe(0);
    expect(sts('AssumeRole')).toBe(1);
    const renewed = JSON.parse(readFileSync(cacheFile(ADMIN_CACHE_KEY), 'utf8')).Credentials;
    expect(Date.parse(renewed.Expiration)).toBeGreaterThan(Date.now() + 25 * 60_000);
    expect(r.stdout).toContain(`export AWS_ACCESS_KEY_ID='${renewed.AccessKeyId}'`);
  });

  it('a code that is not 6 digits is refused before any STS call', async () => {
    const r = await noTty(['credentials', '--profile', 'admin', '--mfa-code', '12ab']);
    expect(r).toMatchObject({ code: 1, stdout: '' });
    expect(r.stderr).toBe('iam-ssh-keys: the MFA code given is not 6 digits\n');
    expect(sts()).toBe(0);
  });

  it('STS refusing the code: one line, nothing cached (moto itself accepts any code)', async () => {
    proxy.options = {
      fault: (q) =>
        q.service === 'sts' && q.action === 'AssumeRole'
          ? iamError(
              'AccessDenied',
              'MultiFactorAuthentication failed with invalid MFA one time pass code.',
              403,
            )
          : undefined,
    };
    const r = await noTty(['credentials', '--profile', 'admin', '--mfa-code', '000000']);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      `iam-ssh-keys: AssumeRole ${ADMIN_ROLE} (profile admin) failed: MultiFactorAuthentication failed with invalid MFA one time pass code.\n`,
    );
    expect(() => readdirSync(cacheDir())).toThrow(/ENOENT/);
  });

  it('a session that cannot be cached still serves the command, with a warning', async () => {
    mkdirSync(join(home, '.aws', 'cli'), { recursive: true });
    writeFileSync(cacheDir(), 'not a directory');
    const r = await noTty(['credentials', '--profile', 'admin', '--mfa-code', '-'], {}, '123456\n');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^export AWS_ACCESS_KEY_ID=/);
    expect(r.stderr).toMatch(
      new RegExp(
        `^iam-ssh-keys: could not cache the session of AssumeRole ${ADMIN_ROLE} \\(profile admin\\): .*\\n`,
      ),
    );
  });

  it('a chained role (source_profile is a role profile) prompts once and caches both sessions', async () => {
    const r = await onTty([CLI, 'credentials', '--profile', 'readonly'], '314159');
    expect(r.prompted).toBe(true);
    expect(r.stdout.match(/MFA code for/g)).toHaveLength(1);
    expect(r.code).toBe(0);
    expect(sts('AssumeRole')).toBe(2);
    expect(readdirSync(cacheDir())).toHaveLength(2);
    proxy.clear();
    // The inner (admin) session is reused by the next command that needs it.
    expect((await noTty(['credentials', '--profile', 'admin'])).code).toBe(0);
    expect(sts()).toBe(0);
  });
});

describe('mfa_serial on long-term keys (no role)', () => {
  it('--mfa-code - reads the code from stdin; GetSessionToken; the session is cached', async () => {
    const r = await noTty(['credentials', '--profile', 'mfa-user', '--mfa-code', '-'], {}, '271828\n');
    expect(r.code).toBe(0);
    expect(sts('GetSessionToken')).toBe(1);
    expect(r.stdout).toMatch(
      /^export AWS_ACCESS_KEY_ID='\w+'\nexport AWS_SECRET_ACCESS_KEY='[^']+'\nexport AWS_SESSION_TOKEN='[^']+'\nexport AWS_CREDENTIAL_EXPIRATION='[^']+'\n$/,
    );
    expect(r.stderr).toMatch(/^credentials for profile mfa-user expire at \S+Z \(in \d+ (h \d+ )?min\)\n$/);
    // No secret on stderr.
    const secret = /AWS_SECRET_ACCESS_KEY='([^']+)'/.exec(r.stdout)?.[1] as string;
    expect(r.stderr).not.toContain(secret);
    proxy.clear();
    const json = await noTty(['credentials', '--profile', 'mfa-user', '--json']);
    expect(sts()).toBe(0);
    const v = JSON.parse(json.stdout);
    expect(Object.keys(v)).toEqual([
      'Version',
      'AccessKeyId',
      'SecretAccessKey',
      'SessionToken',
      'Expiration',
    ]);
    expect(v).toMatchObject({ Version: 1, SecretAccessKey: secret });
  });

  it('the export lines work in a shell', async () => {
    const out = await noTty(['credentials', '--profile', 'mfa-user', '--mfa-code', '161803']);
    const sh = spawnSync('sh', ['-c', `eval "$1"; printf '%s' "$AWS_SESSION_TOKEN"`, 'sh', out.stdout], {
      encoding: 'utf8',
    });
    expect(sh.stdout).toBe(/AWS_SESSION_TOKEN='([^']+)'/.exec(out.stdout)?.[1]);
  });

  it('--role-arn assumes a role from the profile with its MFA device, in one STS call', async () => {
    const role = `arn:aws:iam::${ACCOUNT}:role/creds-deploy`;
    const r = await noTty(['credentials', '--profile', 'mfa-user', '--role-arn', role, '--duration', '900'], {
      IAM_SSH_KEYS_MFA_CODE: '424242',
    });
    expect(r.code).toBe(0);
    expect(sts('AssumeRole')).toBe(1);
    expect(sts('GetSessionToken')).toBe(0);
    const key = createHash('sha1')
      .update(`{"DurationSeconds": 900, "RoleArn": "${role}", "SerialNumber": "${MFA}"}`)
      .digest('hex');
    expect(readdirSync(cacheDir())).toEqual([`${key}.json`]);
    expect(r.stderr).toMatch(new RegExp(`role ${role} expire at .* \\(in 15 min\\)`));
  });
});

describe('no profile: environment credentials', () => {
  const envKeys = {
    AWS_ACCESS_KEY_ID: TEST_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: TEST_CREDENTIALS.secretAccessKey,
  };
  it('long-term keys are never printed: a GetSessionToken session of them instead', async () => {
    const r = await noTty(['credentials', '--json'], envKeys);
    expect(r.code).toBe(0);
    expect(sts('GetSessionToken')).toBe(1);
    const v = JSON.parse(r.stdout);
    expect(v.SecretAccessKey).not.toBe(TEST_CREDENTIALS.secretAccessKey);
    expect(v.SessionToken).toMatch(/\w/);
    expect(r.stderr).toMatch(/^credentials for profile \(environment\) expire at/);
  });
  it('--role-arn assumes the role with them, without MFA', async () => {
    const r = await noTty(['credentials', '--role-arn', `arn:aws:iam::${ACCOUNT}:role/creds-env`], envKeys);
    expect(r.code).toBe(0);
    expect(proxy.requests.map((q) => `${q.action}:${q.accessKeyId}`)).toEqual([
      `AssumeRole:${TEST_CREDENTIALS.accessKeyId}`,
    ]);
  });
  it('an --profile that does not exist is named', async () => {
    const r = await noTty(['keys', 'list', '--profile', 'nope'], envKeys);
    expect(r).toMatchObject({ code: 1, stdout: '' });
    expect(r.stderr).toBe(
      'iam-ssh-keys: profile nope does not exist in ~/.aws/config or ~/.aws/credentials\n',
    );
    expect(proxy.requests).toHaveLength(0);
  });
});

describe('other tools', () => {
  it('credential_process: the SDK runs `credentials --json` and gets the cached session', async () => {
    await noTty(['credentials', '--profile', 'admin', '--mfa-code', '123456']);
    const admin = JSON.parse(readFileSync(cacheFile(ADMIN_CACHE_KEY), 'utf8')).Credentials;
    proxy.clear();
    const r = await noTty(['keys', 'list', '--user', 'creds-alice', '--profile', 'via-process']);
    expect(r).toMatchObject({
      code: 0,
      stderr: expect.stringMatching(/^(credentials for profile admin.*\n)?$/),
    });
    const signers = proxy.requests.map((q) => `${q.service}:${q.accessKeyId}`);
    expect(signers.length).toBeGreaterThan(0);
    expect(new Set(signers)).toEqual(new Set([`iam:${admin.AccessKeyId}`]));
  });
});

const haveAwsCli = spawnSync('sh', ['-c', 'command -v aws'], { encoding: 'utf8' }).status === 0;
if (!haveAwsCli && process.env.CI === 'true') throw new Error('the aws CLI is missing (pip install awscli)');

describe.runIf(haveAwsCli)('the AWS CLI shares the cache', () => {
  it('aws reads the session we cached, without a prompt or an AssumeRole', async () => {
    expect((await noTty(['credentials', '--profile', 'admin', '--mfa-code', '123456'])).code).toBe(0);
    const ours = JSON.parse(readFileSync(cacheFile(ADMIN_CACHE_KEY), 'utf8')).Credentials;
    proxy.clear();
    const aws = spawn('setsid', ['-w', 'aws', 'sts', 'get-caller-identity', '--profile', 'admin'], {
      env: env(),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const r = await collect(aws);
    expect(r.code).toBe(0);
    expect(sts('AssumeRole')).toBe(0);
    expect(proxy.requests.map((q) => `${q.action}:${q.accessKeyId}`)).toEqual([
      `GetCallerIdentity:${ours.AccessKeyId}`,
    ]);
  });

  it('we read the session aws cached after its own prompt', async () => {
    const r = await onTty(['aws', 'sts', 'get-caller-identity', '--profile', 'admin'], '123456', /MFA code/);
    expect(r.prompted).toBe(true);
    expect(r.code).toBe(0);
    expect(readdirSync(cacheDir())).toEqual([`${ADMIN_CACHE_KEY}.json`]);
    const theirs = JSON.parse(readFileSync(cacheFile(ADMIN_CACHE_KEY), 'utf8')).Credentials;
    proxy.clear();
    const ours = await noTty(['credentials', '--profile', 'admin', '--json']);
    expect(ours.code).toBe(0);
    expect(sts()).toBe(0);
    expect(JSON.parse(ours.stdout)).toMatchObject({
      AccessKeyId: theirs.AccessKeyId,
      SessionToken: theirs.SessionToken,
    });
  });
});

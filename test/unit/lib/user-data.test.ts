// The user-data snippet: content, and every path of it run for real with bash.
// `uname`, `aws`, `curl`, `install` and `mv` are stubbed on PATH (no real aws
// there) so nothing outside the temp dir is touched and nothing is fetched.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, Aws, Stack, Token } from 'aws-cdk-lib';
import { afterAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../../host-agent/config.js';
import type { AgentSource } from '../../../lib/config.js';
import {
  AGENT_SHA256_PLACEHOLDER,
  AGENT_URI_PLACEHOLDER,
  DEFAULT_HOST_USERS,
  renderUserData,
  shellQuote,
  type UserDataOptions,
} from '../../../lib/user-data.js';

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const sha = (s: string) => createHash('sha256').update(s).digest('hex');
const X64_BYTES = '\x7fELF fake x64 agent\n';
const ARM64_BYTES = '\x7fELF fake arm64 agent\n';
const FOLDER = 's3://release-artifacts/iam-ssh-keys/1.0/';
const AGENT: AgentSource = { s3Uri: FOLDER, sha256: { x64: sha(X64_BYTES), arm64: sha(ARM64_BYTES) } };
const BASE: UserDataOptions = {
  bucket: 'company-ssh-keys',
  prefix: 'ssh/',
  region: 'eu-west-1',
  users: { 'ec2-user': ['groups/Administrators', 'users/alice'] },
  agent: AGENT,
};

function configOf(script: string): unknown {
  const m = /<<'IAM_SSH_KEYS_CONFIG'\n([\s\S]*?)\nIAM_SSH_KEYS_CONFIG\n/.exec(script);
  return JSON.parse(m?.[1] ?? 'null');
}

describe('renderUserData', () => {
  it('writes the host agent config: bucket, prefix, region, users', () => {
    expect(configOf(renderUserData(BASE))).toEqual({
      bucket: 'company-ssh-keys',
      prefix: 'ssh/',
      region: 'eu-west-1',
      users: { 'ec2-user': ['groups/Administrators', 'users/alice'] },
    });
  });

  it('pins the release folder, one checksum per architecture and the region; installs atomically, then runs install', () => {
    const s = renderUserData(BASE);
    expect(s.startsWith('#!/bin/bash\n')).toBe(true);
    expect(s).toContain(`AGENT_S3_FOLDER='${FOLDER}'`);
    expect(s).toContain(`AGENT_SHA256_X64='${sha(X64_BYTES)}'`);
    expect(s).toContain(`AGENT_SHA256_ARM64='${sha(ARM64_BYTES)}'`);
    expect(s).toContain("AGENT_REGION='eu-west-1'");
    expect(s).toContain(
      'install -o root -g root -m 0755 "$tmp/agent" /usr/local/bin/iam-authorized-keys.new',
    );
    expect(s).toContain(
      'install -o root -g root -m 0644 "$tmp/config.json" /etc/iam-authorized-keys.json.new',
    );
    expect(s.trimEnd().endsWith('/usr/local/bin/iam-authorized-keys install')).toBe(true);
    // Nothing asks for Node.js any more.
    expect(s).not.toMatch(/\bnode\b/);
  });

  it('agent.region overrides the region the artifact is fetched from, not the config region', () => {
    const s = renderUserData({ ...BASE, agent: { ...AGENT, region: 'us-east-1' } });
    expect(s).toContain("AGENT_REGION='us-east-1'");
    expect(configOf(s)).toMatchObject({ region: 'eu-west-1' });
  });

  it('is valid bash', () => {
    const r = spawnSync('bash', ['-n'], { input: renderUserData(BASE), encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
  });

  it('without an agent source carries placeholders; without one architecture, that one placeholder', () => {
    const none = renderUserData({ ...BASE, agent: undefined });
    expect(none).toContain(`AGENT_S3_FOLDER='${AGENT_URI_PLACEHOLDER}'`);
    expect(none).toContain(`AGENT_SHA256_X64='${AGENT_SHA256_PLACEHOLDER.x64}'`);
    expect(none).toContain(`AGENT_SHA256_ARM64='${AGENT_SHA256_PLACEHOLDER.arm64}'`);
    const x64Only = renderUserData({ ...BASE, agent: { s3Uri: FOLDER, sha256: { x64: sha(X64_BYTES) } } });
    expect(x64Only).toContain(`AGENT_SHA256_ARM64='${AGENT_SHA256_PLACEHOLDER.arm64}'`);
  });

  it('default users map is a valid example', () => {
    expect(configOf(renderUserData({ ...BASE, users: DEFAULT_HOST_USERS }))).toMatchObject({
      users: { 'ec2-user': ['groups/Administrators'] },
    });
  });

  it.each<[string, AgentSource, RegExp]>([
    ['a file instead of a folder', { ...AGENT, s3Uri: 's3://release-artifacts/agent' }, /agentS3Uri/],
    ['a quote in the folder', { ...AGENT, s3Uri: "s3://release-artifacts/a'b/" }, /agentS3Uri/],
    ['no checksum at all', { ...AGENT, sha256: {} }, /agent\.sha256: expected a checksum/],
    ['a checksum with a quote', { ...AGENT, sha256: { x64: `${'a'.repeat(63)}'` } }, /agent\.sha256\.x64/],
    ['an upper-case checksum', { ...AGENT, sha256: { arm64: 'A'.repeat(64) } }, /agent\.sha256\.arm64/],
    [
      'an unknown architecture',
      { ...AGENT, sha256: { riscv64: 'a'.repeat(64) } as AgentSource['sha256'] },
      /unknown architecture "riscv64"/,
    ],
    ['a region with a quote', { ...AGENT, region: "us-east-1'" }, /agent\.region/],
  ])('rejects an agent source built in code with %s', (_label, agent, message) => {
    expect(() => renderUserData({ ...BASE, agent })).toThrow(message);
  });

  it('with a login trail, writes the audit section (bucket, region, source journal)', () => {
    const config = configOf(
      renderUserData({ ...BASE, audit: { bucket: 'company-audit', region: 'eu-west-1' } }),
    );
    expect(config).toMatchObject({
      bucket: 'company-ssh-keys',
      audit: { bucket: 'company-audit', region: 'eu-west-1', source: 'journal' },
    });
    expect(configOf(renderUserData(BASE))).not.toHaveProperty('audit');
  });

  it.each<[string, { bucket: string; region: string }, RegExp]>([
    ['a bad audit bucket', { bucket: "a'b", region: 'eu-west-1' }, /audit\.bucket/],
    ['a bad audit region', { bucket: 'company-audit', region: 'eu-west-1"' }, /audit\.region/],
  ])('rejects %s', (_label, audit, message) => {
    expect(() => renderUserData({ ...BASE, audit })).toThrow(message);
  });

  it.each<[string, Record<string, string[]>, RegExp]>([
    ['bad local name', { 'bad name': ['users/alice'] }, /local user name/],
    ['bad principal', { 'ec2-user': ['roles/x'] }, /invalid principal/],
    ['principal with a quote', { 'ec2-user': ["users/a'b"] }, /invalid principal/],
  ])('rejects a %s', (_label, users, message) => {
    expect(() => renderUserData({ ...BASE, users })).toThrow(message);
  });
});

const IMDS_TOKEN = 'AQAEAImdsToken+/==';
const SECRET = 'uNiQuEsEcReT/abc+def=';
const SESSION = 'FwoGZXIvYXdzSeSsIoN+/tok==';
const CREDS_JSON = `{
  "Code" : "Success",
  "LastUpdated" : "2026-01-01T00:00:00Z",
  "Type" : "AWS-HMAC",
  "AccessKeyId" : "ASIAEXAMPLEKEYID",
  "SecretAccessKey" : "${SECRET}",
  "Token" : "${SESSION}",
  "Expiration" : "2026-01-01T06:00:00Z"
}`;

interface RunOptions {
  /** What `uname -m` prints. */
  readonly machine: string;
  /** Bytes the download yields (aws or curl). */
  readonly served: string;
  /** Put an `aws` stub on PATH (else the curl path runs). */
  readonly aws?: boolean;
  /** The IMDS credentials document the curl stub answers with. */
  readonly creds?: string;
  /** What `curl --version` names (default 7.88.1, Debian 12's); null: no curl on PATH. */
  readonly curlVersion?: string | null;
  readonly env?: Record<string, string>;
}

/** Runs the script with stubs; returns status, stderr and what the stubs recorded. */
function run(script: string, opts: RunOptions) {
  const dir = mkdtempSync(join(tmpdir(), 'iam-ssh-keys-userdata-'));
  dirs.push(dir);
  const bin = join(dir, 'bin');
  const rec = join(dir, 'rec');
  mkdirSync(bin);
  mkdirSync(rec);
  writeFileSync(join(dir, 'served'), opts.served);
  writeFileSync(join(dir, 'creds.json'), opts.creds ?? CREDS_JSON);
  const stub = (name: string, body: string) => {
    writeFileSync(join(bin, name), `#!/bin/bash\n${body}\n`);
    chmodSync(join(bin, name), 0o755);
  };
  stub('uname', `[ "$1" = -m ] && echo '${opts.machine}'`);
  // aws s3 cp ... URI DEST: serve the prepared bytes.
  if (opts.aws)
    stub(
      'aws',
      `echo "$*" >> '${rec}/aws.log'; echo "\${AWS_USE_FIPS_ENDPOINT-unset}" >> '${rec}/aws.env'; cp '${dir}/served' "\${@: -1}"`,
    );
  // curl: one argv line per call in curl.log, its stdin (the -K - config) in curl.N.stdin;
  // answers like IMDS (token, role name, credentials) or S3 (the prepared bytes, to -o).
  if (opts.curlVersion !== null) {
    stub(
      'curl',
      `[ "$1" = --version ] && { echo 'curl ${opts.curlVersion ?? '7.88.1'} (x86_64-pc-linux-gnu) libcurl/${opts.curlVersion ?? '7.88.1'}'; exit 0; }
n=$(( $(cat '${rec}/curl.log' 2>/dev/null | wc -l) + 1 ))
echo "$*" >> '${rec}/curl.log'
case " $* " in *" -K - "*) cat > '${rec}'/curl.$n.stdin ;; esac
url=\${@: -1}; out=
while [ $# -gt 0 ]; do [ "$1" = -o ] && out=$2; shift; done
case "$url" in
  */latest/api/token) printf '%s' '${IMDS_TOKEN}' ;;
  */security-credentials/) printf 'e2e-instance-role' ;;
  */security-credentials/e2e-instance-role) cat '${dir}/creds.json' ;;
  *) cp '${dir}/served' "$out" ;;
esac`,
    );
  }
  // install -o root -g root -m MODE SRC DST: copy into rec/, recording the mode.
  stub('install', `echo "$*" >> '${rec}/install.log'; cp "\${@: -2:1}" '${rec}'/"$(basename "\${@: -1}")"`);
  // First mv (the agent) succeeds, the second stops the script before it could run anything installed.
  stub('mv', `echo "$*" >> '${rec}/mv.log'; [ "$(wc -l < '${rec}/mv.log')" -lt 2 ]`);
  // No real aws on this PATH, and no real curl: the stubs' bin/ and the few commands the script needs.
  const sys = join(dir, 'sys');
  mkdirSync(sys);
  for (const name of ['cat', 'cp', 'mktemp', 'rm', 'sed', 'sha256sum', 'wc', 'basename']) {
    symlinkSync(
      ['/usr/bin', '/bin'].map((d) => join(d, name)).find((p) => existsSync(p)) as string,
      join(sys, name),
    );
  }
  const r = spawnSync('/bin/bash', ['-c', script], {
    env: { PATH: `${bin}:${sys}`, HOME: dir, ...opts.env },
    encoding: 'utf8',
  });
  const read = (f: string) => (existsSync(join(rec, f)) ? readFileSync(join(rec, f), 'utf8') : undefined);
  const lines = (f: string) => read(f)?.split('\n').filter(Boolean);
  return { status: r.status, stderr: r.stderr, read, lines };
}

describe('the snippet, run by bash: refusals', () => {
  it('refuses to run with placeholders: downloads and installs nothing', () => {
    const r = run(renderUserData({ ...BASE, agent: undefined }), { machine: 'x86_64', served: X64_BYTES });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/^iam-ssh-keys: set AGENT_S3_FOLDER to the s3:\/\/bucket\/folder\//);
    expect(r.read('curl.log')).toBeUndefined();
    expect(r.read('install.log')).toBeUndefined();
  });

  it('refuses an architecture without a pinned checksum: downloads nothing', () => {
    const x64Only = { ...BASE, agent: { s3Uri: FOLDER, sha256: { x64: sha(X64_BYTES) } } };
    const r = run(renderUserData(x64Only), { machine: 'aarch64', served: ARM64_BYTES, aws: true });
    expect(r.status).toBe(1);
    expect(r.stderr).toBe(
      'iam-ssh-keys: no pinned SHA-256 for linux-arm64: set AGENT_SHA256_ARM64 (sha256sum dist/iam-authorized-keys-linux-arm64)\n',
    );
    expect(r.read('aws.log')).toBeUndefined();
  });

  it.each(['riscv64', 'armv7l', 'i686', 's390x'])(
    'refuses an unknown architecture (%s) with one line: downloads nothing',
    (machine) => {
      const r = run(renderUserData(BASE), { machine, served: X64_BYTES, aws: true });
      expect(r.status).toBe(1);
      expect(r.stderr).toBe(
        `iam-ssh-keys: no host agent for this architecture (${machine}): there are x86_64 and aarch64 builds only\n`,
      );
      expect(r.read('aws.log')).toBeUndefined();
      expect(r.read('curl.log')).toBeUndefined();
    },
  );

  it('refuses an artifact whose checksum does not match: installs nothing', () => {
    const r = run(renderUserData(BASE), { machine: 'x86_64', served: `${X64_BYTES}tampered\n`, aws: true });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(
      /^iam-ssh-keys: checksum mismatch for s3:\/\/release-artifacts\/iam-ssh-keys\/1\.0\/iam-authorized-keys-linux-x64: not installing\n$/,
    );
    expect(r.read('install.log')).toBeUndefined();
    expect(r.read('mv.log')).toBeUndefined();
  });

  it('the x64 checksum does not pass for the arm64 artifact', () => {
    const r = run(renderUserData(BASE), { machine: 'aarch64', served: X64_BYTES, aws: true });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/checksum mismatch for \S+-linux-arm64/);
  });
});

describe('the snippet, run by bash: with the AWS CLI', () => {
  it.each([
    ['x86_64', 'x64', X64_BYTES],
    ['aarch64', 'arm64', ARM64_BYTES],
    ['arm64', 'arm64', ARM64_BYTES],
  ])(
    'uname -m %s: fetches linux-%s with aws s3 cp, installs it 0755 and the config 0644 via temp names',
    (machine, arch, bytes) => {
      const r = run(renderUserData(BASE), { machine, served: bytes, aws: true });
      // Stopped by the stubbed second mv, after both installs.
      expect(r.status).not.toBe(0);
      expect(r.lines('aws.log')).toEqual([
        expect.stringMatching(
          new RegExp(
            `^s3 cp --only-show-errors --region eu-west-1 s3://release-artifacts/iam-ssh-keys/1\\.0/iam-authorized-keys-linux-${arch} \\S+/agent$`,
          ),
        ),
      ]);
      expect(r.read('curl.log')).toBeUndefined();
      expect(r.lines('install.log')).toEqual([
        expect.stringMatching(
          /^-o root -g root -m 0755 \S+\/agent \/usr\/local\/bin\/iam-authorized-keys\.new$/,
        ),
        expect.stringMatching(
          /^-o root -g root -m 0644 \S+\/config\.json \/etc\/iam-authorized-keys\.json\.new$/,
        ),
      ]);
      expect(r.read('iam-authorized-keys.new')).toBe(bytes);
      expect(JSON.parse(r.read('iam-authorized-keys.json.new') ?? '')).toEqual(
        configOf(renderUserData(BASE)),
      );
      expect(r.lines('mv.log')).toEqual([
        '-f /usr/local/bin/iam-authorized-keys.new /usr/local/bin/iam-authorized-keys',
        '-f /etc/iam-authorized-keys.json.new /etc/iam-authorized-keys.json',
      ]);
    },
  );
});

describe('the snippet, run by bash: without the AWS CLI (curl, IMDSv2)', () => {
  it('token, role, credentials, then a SigV4 GET path-style; secrets only on stdin, never in argv', () => {
    const r = run(renderUserData(BASE), { machine: 'x86_64', served: X64_BYTES });
    expect(r.status).not.toBe(0); // the stubbed second mv
    expect(r.stderr).toBe('');
    const calls = r.lines('curl.log');
    expect(calls).toEqual([
      '-sSf --retry 3 -X PUT -H X-aws-ec2-metadata-token-ttl-seconds: 300 http://169.254.169.254/latest/api/token',
      '-sSf --retry 3 -K - http://169.254.169.254/latest/meta-data/iam/security-credentials/',
      '-sSf --retry 3 -K - http://169.254.169.254/latest/meta-data/iam/security-credentials/e2e-instance-role',
      expect.stringMatching(
        /^-sSf --retry 3 -K - --aws-sigv4 aws:amz:eu-west-1:s3 -H x-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855 -o \S+\/agent https:\/\/s3\.eu-west-1\.amazonaws\.com\/release-artifacts\/iam-ssh-keys\/1\.0\/iam-authorized-keys-linux-x64$/,
      ),
    ]);
    for (const secret of [IMDS_TOKEN, SECRET, SESSION]) expect(r.read('curl.log')).not.toContain(secret);
    expect(r.read('curl.2.stdin')).toBe(`header = "X-aws-ec2-metadata-token: ${IMDS_TOKEN}"\n`);
    expect(r.read('curl.3.stdin')).toBe(`header = "X-aws-ec2-metadata-token: ${IMDS_TOKEN}"\n`);
    expect(r.read('curl.4.stdin')).toBe(
      `user = "ASIAEXAMPLEKEYID:${SECRET}"\nheader = "x-amz-security-token: ${SESSION}"\n`,
    );
    expect(r.read('iam-authorized-keys.new')).toBe(X64_BYTES);
  });

  it('reads a one-line credentials document too', () => {
    const oneLine = JSON.stringify(JSON.parse(CREDS_JSON));
    const r = run(renderUserData(BASE), { machine: 'aarch64', served: ARM64_BYTES, creds: oneLine });
    expect(r.read('curl.4.stdin')).toBe(
      `user = "ASIAEXAMPLEKEYID:${SECRET}"\nheader = "x-amz-security-token: ${SESSION}"\n`,
    );
    expect(r.lines('curl.log')?.[3]).toMatch(/iam-authorized-keys-linux-arm64$/);
    expect(r.read('iam-authorized-keys.new')).toBe(ARM64_BYTES);
  });

  it.each<[string, Partial<UserDataOptions>, Record<string, string>, RegExp]>([
    [
      'agent.region signs for and reaches the artifacts bucket region',
      { agent: { ...AGENT, region: 'ap-southeast-2' } },
      {},
      / --aws-sigv4 aws:amz:ap-southeast-2:s3 .* https:\/\/s3\.ap-southeast-2\.amazonaws\.com\/release-artifacts\//,
    ],
    [
      'a China region uses amazonaws.com.cn',
      { region: 'cn-north-1' },
      {},
      / https:\/\/s3\.cn-north-1\.amazonaws\.com\.cn\/release-artifacts\//,
    ],
    [
      'IAM_SSH_KEYS_S3_ENDPOINT (e.g. a VPC endpoint) replaces the endpoint',
      {},
      { IAM_SSH_KEYS_S3_ENDPOINT: 'https://bucket.vpce-0abc.s3.eu-west-1.vpce.amazonaws.com' },
      / https:\/\/bucket\.vpce-0abc\.s3\.eu-west-1\.vpce\.amazonaws\.com\/release-artifacts\/iam-ssh-keys\//,
    ],
  ])('%s', (_label, options, env, expected) => {
    const r = run(renderUserData({ ...BASE, ...options }), { machine: 'x86_64', served: X64_BYTES, env });
    expect(r.lines('curl.log')?.[3]).toMatch(expected);
  });

  it.each(['7.86.0', '8.5.0', '10.0.1'])('curl %s is new enough', (curlVersion) => {
    const r = run(renderUserData(BASE), { machine: 'x86_64', served: X64_BYTES, curlVersion });
    expect(r.read('iam-authorized-keys.new')).toBe(X64_BYTES);
  });

  it.each<[string, string, string]>([
    ['7.81.0', 'Ubuntu 22.04', 'curl 7.81'],
    ['7.76.1', 'RHEL 9', 'curl 7.76'],
    ['7.85.0', 'the last one without signed x-amz-* headers', 'curl 7.85'],
    ['unknown', 'a version it cannot read', 'curl of unknown version'],
  ])('refuses curl %s (%s) before asking IMDS for anything', (curlVersion, _label, named) => {
    const r = run(renderUserData(BASE), { machine: 'x86_64', served: X64_BYTES, curlVersion });
    expect(r.status).toBe(1);
    expect(r.stderr).toBe(
      `iam-ssh-keys: ${named} cannot sign S3 requests (needs >= 7.86): install the AWS CLI first, or use the .deb/.rpm\n`,
    );
    expect(r.read('curl.log')).toBeUndefined();
  });

  it('with neither the AWS CLI nor curl: says what it needs', () => {
    const r = run(renderUserData(BASE), { machine: 'x86_64', served: X64_BYTES, curlVersion: null });
    expect(r.status).toBe(1);
    expect(r.stderr).toBe('iam-ssh-keys: needs the AWS CLI or curl (>= 7.86) to download the agent\n');
  });

  it('IAM_SSH_KEYS_IMDS replaces the IMDS address', () => {
    const r = run(renderUserData(BASE), {
      machine: 'x86_64',
      served: X64_BYTES,
      env: { IAM_SSH_KEYS_IMDS: 'http://127.0.0.1:9' },
    });
    expect(r.lines('curl.log')?.[0]).toMatch(/ http:\/\/127\.0\.0\.1:9\/latest\/api\/token$/);
  });

  it.each([
    ['a quote in the secret', CREDS_JSON.replace(SECRET, 'abc\\" -o /etc/x')],
    ['no session token', CREDS_JSON.replace(/"Token" : "[^"]*",\n/, '')],
    ['not JSON at all', '<html>captive portal</html>'],
  ])('refuses credentials it cannot pass safely (%s): fetches nothing', (_label, creds) => {
    const r = run(renderUserData(BASE), { machine: 'x86_64', served: X64_BYTES, creds });
    expect(r.status).toBe(1);
    expect(r.stderr).toBe('iam-ssh-keys: unexpected credentials for role e2e-instance-role from IMDS\n');
    expect(r.lines('curl.log')).toHaveLength(3);
    expect(r.read('install.log')).toBeUndefined();
  });
});

describe('useFipsEndpoint: the download goes through S3 FIPS, and the hosts use FIPS', () => {
  const fips = (region: string) => renderUserData({ ...BASE, region, useFipsEndpoint: true });
  it('writes useFipsEndpoint: true into the host config, which the agent accepts', () => {
    expect(configOf(fips('us-east-1'))).toMatchObject({ region: 'us-east-1', useFipsEndpoint: true });
    expect(configOf(renderUserData(BASE))).not.toHaveProperty('useFipsEndpoint');
    const written = JSON.stringify(configOf(fips('us-gov-west-1')));
    expect(parseConfig(written, 'user data').useFipsEndpoint).toBe(true);
  });

  it.each([
    [true, 'true'],
    [false, 'unset'],
  ])('useFipsEndpoint %j: the AWS CLI runs with AWS_USE_FIPS_ENDPOINT=%s', (useFipsEndpoint, seen) => {
    const script = renderUserData({ ...BASE, region: 'us-east-2', useFipsEndpoint });
    const r = run(script, { machine: 'x86_64', served: X64_BYTES, aws: true });
    expect(r.lines('aws.env')).toEqual([seen]);
    expect(r.read('iam-authorized-keys.new')).toBe(X64_BYTES);
  });

  it.each([
    ['us-east-1', 'https://s3-fips.us-east-1.amazonaws.com'],
    ['us-west-2', 'https://s3-fips.us-west-2.amazonaws.com'],
    ['ca-central-1', 'https://s3-fips.ca-central-1.amazonaws.com'],
    ['us-gov-west-1', 'https://s3-fips.us-gov-west-1.amazonaws.com'],
    ['us-gov-east-1', 'https://s3-fips.us-gov-east-1.amazonaws.com'],
  ])('curl in %s downloads from %s, signed for the region', (region, endpoint) => {
    const r = run(fips(region), { machine: 'x86_64', served: X64_BYTES });
    expect(r.stderr).toBe('');
    const escaped = endpoint.replaceAll('.', '\\.');
    expect(r.lines('curl.log')?.[3]).toMatch(
      new RegExp(
        `^-sSf --retry 3 -K - --aws-sigv4 aws:amz:${region}:s3 -H x-amz-content-sha256: [0-9a-f]{64} -o \\S+/agent ${escaped}/release-artifacts/iam-ssh-keys/1\\.0/iam-authorized-keys-linux-x64$`,
      ),
    );
    expect(r.read('iam-authorized-keys.new')).toBe(X64_BYTES);
  });

  it.each([
    ['eu-west-1', false],
    ['ap-southeast-2', true],
    ['cn-north-1', false],
  ])('refuses %s, where S3 has no FIPS endpoint (AWS CLI: %j): downloads nothing', (region, aws) => {
    const r = run(fips(region), { machine: 'x86_64', served: X64_BYTES, aws });
    expect(r.status).toBe(1);
    expect(r.stderr).toBe(`iam-ssh-keys: useFipsEndpoint: S3 has no FIPS endpoint in ${region}\n`);
    expect(r.read('curl.log')).toBeUndefined();
    expect(r.read('aws.log')).toBeUndefined();
    expect(r.read('install.log')).toBeUndefined();
  });
});

/** Three ways out of a shell word: a quote, a command substitution, a line break. */
const INJECTIONS = (marker: string) => [
  `x'; touch ${marker}; '`,
  `$(touch ${marker})`,
  `x\ntouch ${marker}\n`,
];

describe('values that could break out of the script', () => {
  it.each<[string, string, string]>([
    ['plain', 'eu-west-1', "'eu-west-1'"],
    ['a quote', "a'b", `'a'\\''b'`],
    ['a command substitution', '$(id)', "'$(id)'"],
    ['a line break', 'a\nb', "'a\nb'"],
    ['empty', '', "''"],
  ])('shellQuote: %s', (_label, value, quoted) => {
    expect(shellQuote(value)).toBe(quoted);
    // And bash reads it back as exactly the value.
    const r = spawnSync('bash', ['-c', `printf '%s' ${quoted}`], { encoding: 'utf8' });
    expect(r.stdout).toBe(value);
  });

  const fields: [string, (v: string) => UserDataOptions][] = [
    ['bucket', (v) => ({ ...BASE, bucket: v })],
    ['prefix', (v) => ({ ...BASE, prefix: `${v}/` })],
    ['region', (v) => ({ ...BASE, region: v })],
    ['agent.region', (v) => ({ ...BASE, agent: { ...AGENT, region: v } })],
    ['agent.s3Uri', (v) => ({ ...BASE, agent: { ...AGENT, s3Uri: `s3://release-artifacts/${v}/` } })],
    ['agent.sha256.x64', (v) => ({ ...BASE, agent: { ...AGENT, sha256: { x64: v } } })],
    ['users (local name)', (v) => ({ ...BASE, users: { [v]: ['users/alice'] } })],
    ['users (principal)', (v) => ({ ...BASE, users: { 'ec2-user': [`users/${v}`] } })],
  ];
  it.each(fields.flatMap(([field, make]) => INJECTIONS('/tmp/pwned').map((v) => [field, v, make] as const)))(
    'a literal %s of %j is refused',
    (_field, value, make) => {
      expect(() => renderUserData(make(value))).toThrow();
    },
  );

  it("a quote is a valid key-prefix character: it stays inside the config heredoc's JSON", () => {
    const script = renderUserData({ ...BASE, prefix: "it's/" });
    expect(configOf(script)).toMatchObject({ prefix: "it's/" });
    expect(spawnSync('bash', ['-n'], { input: script, encoding: 'utf8' }).status).toBe(0);
  });
});

/** Evaluates the Ref/Fn::Join/Fn::Split of a resolved CloudFormation value, as CloudFormation would. */
function evaluate(v: unknown, refs: Record<string, string>): unknown {
  if (typeof v === 'string' || v === null || typeof v !== 'object') return v;
  if (Array.isArray(v)) return v.map((x) => evaluate(x, refs));
  const o = v as Record<string, unknown>;
  if ('Ref' in o) return refs[o.Ref as string];
  if ('Fn::Join' in o) {
    const [sep, list] = o['Fn::Join'] as [string, unknown];
    return (evaluate(list, refs) as string[]).join(sep);
  }
  if ('Fn::Split' in o) {
    const [sep, str] = o['Fn::Split'] as [string, unknown];
    return (evaluate(str, refs) as string).split(sep);
  }
  throw new Error(`cannot evaluate ${JSON.stringify(v)}`);
}

describe('values known only at deploy time (CDK tokens)', () => {
  /** The script CloudFormation would produce when AWS::Region (or the bucket's Ref) resolves to `value`. */
  function deployed(o: UserDataOptions, refs: Record<string, string>): string {
    const stack = new Stack(new App(), 'UserData');
    return evaluate(stack.resolve(renderUserData(o)), refs) as string;
  }

  it('Aws.REGION still works: the script gets the deploy-time region', () => {
    const script = deployed(
      { ...BASE, region: Aws.REGION, agent: undefined },
      { 'AWS::Region': 'eu-west-1' },
    );
    expect(script).toContain("AGENT_REGION='eu-west-1'");
    expect(configOf(script)).toMatchObject({ region: 'eu-west-1' });
  });

  it.each(INJECTIONS('MARKER'))('a region token resolving to %j runs nothing and is refused', (crafted) => {
    const dir = mkdtempSync(join(tmpdir(), 'iam-ssh-keys-token-'));
    dirs.push(dir);
    const marker = join(dir, 'pwned');
    const script = deployed(
      { ...BASE, region: Aws.REGION },
      { 'AWS::Region': crafted.replaceAll('MARKER', marker) },
    );
    const r = run(script, { machine: 'x86_64', served: X64_BYTES, aws: true });
    expect(existsSync(marker)).toBe(false);
    expect(r.status).toBe(1);
    expect(r.stderr).toBe('iam-ssh-keys: AGENT_REGION is not an AWS region name\n');
    expect(r.read('aws.log')).toBeUndefined();
  });

  it.each(INJECTIONS('MARKER'))(
    'a bucket token resolving to %j cannot leave the config heredoc or its JSON string',
    (crafted) => {
      const bucket = Token.asString({ Ref: 'KeysBucket' });
      const value = `${crafted}", "endpoint": "https://evil.example`;
      const script = deployed({ ...BASE, bucket }, { KeysBucket: value });
      const config = configOf(script) as Record<string, unknown>;
      expect(Object.keys(config).sort()).toEqual(['bucket', 'prefix', 'region', 'users']);
      expect(config.bucket).toBe(value.replace(/['"\\\n\r]/g, ''));
      expect(spawnSync('bash', ['-n'], { input: script, encoding: 'utf8' }).status).toBe(0);
    },
  );
});

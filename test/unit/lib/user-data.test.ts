// The user-data snippet: content, and its refusal paths run for real with bash.
// `aws`, `install` and `mv` are stubbed on PATH so nothing outside the temp dir is touched.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  AGENT_SHA256_PLACEHOLDER,
  DEFAULT_HOST_USERS,
  renderUserData,
  type UserDataOptions,
} from '../../../lib/user-data.js';

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const AGENT_BYTES = '#!/usr/bin/env node\nconsole.log("agent")\n';
const AGENT_SHA = createHash('sha256').update(AGENT_BYTES).digest('hex');
const BASE: UserDataOptions = {
  bucket: 'company-ssh-keys',
  prefix: 'ssh/',
  region: 'eu-west-1',
  users: { 'ec2-user': ['groups/Administrators', 'users/alice'] },
  agent: { s3Uri: 's3://release-artifacts/iam-authorized-keys', sha256: AGENT_SHA },
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

  it('pins the agent source and checksum, installs atomically with tight modes, then runs install', () => {
    const s = renderUserData(BASE);
    expect(s.startsWith('#!/bin/bash\n')).toBe(true);
    expect(s).toContain("AGENT_S3_URI='s3://release-artifacts/iam-authorized-keys'");
    expect(s).toContain(`AGENT_SHA256='${AGENT_SHA}'`);
    expect(s).toContain(
      'install -o root -g root -m 0755 "$tmp/agent" /usr/local/bin/iam-authorized-keys.new',
    );
    expect(s).toContain(
      'install -o root -g root -m 0644 "$tmp/config.json" /etc/iam-authorized-keys.json.new',
    );
    expect(s.trimEnd().endsWith('/usr/local/bin/iam-authorized-keys install')).toBe(true);
  });

  it('is valid bash', () => {
    const r = spawnSync('bash', ['-n'], { input: renderUserData(BASE), encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
  });

  it('without an agent source carries placeholders', () => {
    expect(renderUserData({ ...BASE, agent: undefined })).toContain(
      `AGENT_SHA256='${AGENT_SHA256_PLACEHOLDER}'`,
    );
  });

  it('default users map is a valid example', () => {
    expect(configOf(renderUserData({ ...BASE, users: DEFAULT_HOST_USERS }))).toMatchObject({
      users: { 'ec2-user': ['groups/Administrators'] },
    });
  });

  it.each<[string, Record<string, string[]>, RegExp]>([
    ['bad local name', { 'bad name': ['users/alice'] }, /local user name/],
    ['bad principal', { 'ec2-user': ['roles/x'] }, /invalid principal/],
    ['principal with a quote', { 'ec2-user': ["users/a'b"] }, /invalid principal/],
  ])('rejects a %s', (_label, users, message) => {
    expect(() => renderUserData({ ...BASE, users })).toThrow(message);
  });
});

/** Runs the script with stubs; returns status, stderr and what the stubs recorded. */
function run(script: string, opts: { served: string; nodeMajor?: string }) {
  const dir = mkdtempSync(join(tmpdir(), 'iam-ssh-keys-userdata-'));
  dirs.push(dir);
  const bin = join(dir, 'bin');
  const rec = join(dir, 'rec');
  mkdirSync(bin);
  mkdirSync(rec);
  writeFileSync(join(dir, 'served'), opts.served);
  const stub = (name: string, body: string) => {
    writeFileSync(join(bin, name), `#!/bin/bash\n${body}\n`);
    chmodSync(join(bin, name), 0o755);
  };
  // aws s3 cp URI DEST: serve the prepared bytes.
  stub('aws', `echo "$*" >> '${rec}/aws.log'; cp '${dir}/served' "\${@: -1}"`);
  // install -o root -g root -m MODE SRC DST: copy into rec/, recording the mode.
  stub('install', `echo "$*" >> '${rec}/install.log'; cp "\${@: -2:1}" '${rec}'/"$(basename "\${@: -1}")"`);
  // First mv (the agent) succeeds, the second stops the script before it could run anything installed.
  stub('mv', `echo "$*" >> '${rec}/mv.log'; [ "$(wc -l < '${rec}/mv.log')" -lt 2 ]`);
  if (opts.nodeMajor) stub('node', `echo ${opts.nodeMajor}`);
  const r = spawnSync('bash', ['-c', script], {
    env: { PATH: `${bin}:${process.env.PATH}`, HOME: dir },
    encoding: 'utf8',
  });
  const read = (f: string) => (existsSync(join(rec, f)) ? readFileSync(join(rec, f), 'utf8') : undefined);
  return { status: r.status, stderr: r.stderr, read };
}

describe('the snippet, run by bash', () => {
  it('refuses to run with placeholders: downloads and installs nothing', () => {
    const r = run(renderUserData({ ...BASE, agent: undefined }), { served: AGENT_BYTES });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/set AGENT_S3_URI and AGENT_SHA256/);
    expect(r.read('aws.log')).toBeUndefined();
    expect(r.read('install.log')).toBeUndefined();
  });

  it('refuses an artifact whose checksum does not match: installs nothing', () => {
    const r = run(renderUserData(BASE), { served: `${AGENT_BYTES}// tampered\n` });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/checksum mismatch/);
    expect(r.read('aws.log')).toMatch(
      /^s3 cp --only-show-errors s3:\/\/release-artifacts\/iam-authorized-keys /,
    );
    expect(r.read('install.log')).toBeUndefined();
    expect(r.read('mv.log')).toBeUndefined();
  });

  it('refuses a Node.js older than 20', () => {
    const r = run(renderUserData(BASE), { served: AGENT_BYTES, nodeMajor: '18' });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/needs Node.js >= 20 \(found: 18\)/);
    expect(r.read('aws.log')).toBeUndefined();
  });

  it('with a matching artifact: installs the agent 0755 and the config 0644 via temp names and rename', () => {
    const r = run(renderUserData(BASE), { served: AGENT_BYTES });
    // Stopped by the stubbed second mv, after both installs.
    expect(r.status).not.toBe(0);
    expect(r.read('aws.log')).toMatch(
      /^s3 cp --only-show-errors s3:\/\/release-artifacts\/iam-authorized-keys \S+\/agent\n$/,
    );
    expect(r.read('install.log')?.split('\n').filter(Boolean)).toEqual([
      expect.stringMatching(
        /^-o root -g root -m 0755 \S+\/agent \/usr\/local\/bin\/iam-authorized-keys\.new$/,
      ),
      expect.stringMatching(
        /^-o root -g root -m 0644 \S+\/config\.json \/etc\/iam-authorized-keys\.json\.new$/,
      ),
    ]);
    expect(r.read('iam-authorized-keys.new')).toBe(AGENT_BYTES);
    expect(JSON.parse(r.read('iam-authorized-keys.json.new') ?? '')).toEqual(configOf(renderUserData(BASE)));
    expect(r.read('mv.log')?.split('\n').filter(Boolean)).toEqual([
      '-f /usr/local/bin/iam-authorized-keys.new /usr/local/bin/iam-authorized-keys',
      '-f /etc/iam-authorized-keys.json.new /etc/iam-authorized-keys.json',
    ]);
  });
});

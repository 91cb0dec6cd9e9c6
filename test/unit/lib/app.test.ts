// `npx cdk synth` as the platform team runs it: the real CDK CLI, the cdk.json
// app, no AWS credentials or config, output in a temp dir.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from './cdk-helpers.js';

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function cdkSynth(args: string[]): { status: number | null; stdout: string; stderr: string; out: string } {
  const out = mkdtempSync(join(tmpdir(), 'iam-ssh-keys-synth-'));
  const home = mkdtempSync(join(tmpdir(), 'iam-ssh-keys-home-'));
  dirs.push(out, home);
  // No credentials, no profile, no ~/.aws: what a fresh clone on a laptop or CI runner has.
  const env = Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !k.startsWith('AWS_') && !k.startsWith('CDK_')),
  );
  const r = spawnSync('npx', ['cdk', 'synth', '--no-notices', '--quiet', '-o', out, ...args], {
    cwd: REPO_ROOT,
    env: {
      ...env,
      HOME: home,
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    },
    encoding: 'utf8',
    timeout: 170_000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, out };
}

describe('npx cdk synth (offline, no credentials)', () => {
  it('synthesizes the publishing stack, bundling the function with local esbuild, and warns about us-east-1', () => {
    const r = cdkSynth([]);
    expect(r.status, r.stderr).toBe(0);
    const template = JSON.parse(readFileSync(join(r.out, 'IamSshKeys.template.json'), 'utf8'));
    expect(
      Object.values(template.Resources).filter(
        (x) => (x as { Type: string }).Type === 'AWS::Lambda::Function',
      ),
    ).toHaveLength(1);
    const assets = readdirSync(r.out).filter((d) => d.startsWith('asset.'));
    expect(assets).toHaveLength(1);
    expect(existsSync(join(r.out, assets[0] as string, 'index.js'))).toBe(true);
    expect(r.stderr).toMatch(/only in us-east-1/);
    expect(existsSync(join(r.out, 'IamSshKeysReader.template.json'))).toBe(false);
  }, 180_000);

  it('synthesizes only the reader stack when asked, with context from the command line', () => {
    const r = cdkSynth([
      'IamSshKeysReader',
      '-c',
      'readerBucket=company-ssh-keys',
      '-c',
      'readerRoleNames=web',
      '-c',
      'keyPrefix=ssh',
    ]);
    expect(r.status, r.stderr).toBe(0);
    const template = JSON.parse(readFileSync(join(r.out, 'IamSshKeysReader.template.json'), 'utf8'));
    const [policy] = Object.values(template.Resources) as { Type: string; Properties: { Roles: string[] } }[];
    expect(policy?.Type).toBe('AWS::IAM::ManagedPolicy');
    expect(policy?.Properties.Roles).toEqual(['web']);
    // The policy and nothing else (CDKMetadata is the CLI's version reporting).
    expect(Object.keys(template.Resources).filter((k) => k !== 'CDKMetadata')).toHaveLength(1);
  }, 180_000);

  it('a bad setting fails with one clear line naming it', () => {
    const r = cdkSynth(['-c', 'scheduleMinutes=often']);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/^iam-ssh-keys: scheduleMinutes: expected a whole number of minutes/m);
    expect(r.stderr).not.toMatch(/at parseScheduleMinutes/);
  }, 180_000);
});

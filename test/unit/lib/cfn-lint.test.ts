// The synthesized templates pass cfn-lint (the real tool, on files in a temp dir).
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildApp, FORWARDER_STACK, MAIN_STACK, READER_STACK } from '../../../lib/build-app.js';
import { type TestApp, testApp } from './cdk-helpers.js';

const CI = process.env.CI === 'true';
const version = spawnSync('cfn-lint', ['--version'], { encoding: 'utf8' });
const haveCfnLint = version.status === 0;

interface Finding {
  readonly Rule: { readonly Id: string };
  readonly Level: 'Error' | 'Warning' | 'Informational';
  readonly Message: string;
  readonly Location: { readonly Path: (string | number)[] };
}

/** Warnings accepted, each with why. Errors: none accepted. */
const ACCEPTED_WARNINGS: Record<string, string> = {
  // aws-cdk-lib's Function adds DependsOn its role although Role is also a GetAtt; harmless.
  W3005: 'redundant DependsOn on the function role, added by aws-cdk-lib',
};

function cfnLint(file: string): Finding[] {
  const r = spawnSync('cfn-lint', ['--format', 'json', '--', file], { encoding: 'utf8' });
  // Exit status bits: 2 errors, 4 warnings, 8 informational; anything else (e.g. 1) is a crash.
  if (r.status === null || (r.status & 1) === 1 || r.status > 14) {
    throw new Error(`cfn-lint failed to run (status ${r.status}): ${r.stderr}`);
  }
  return JSON.parse(r.stdout || '[]') as Finding[];
}

const apps: TestApp[] = [];
afterAll(() => {
  for (const a of apps) a.cleanup();
});

describe.skipIf(!haveCfnLint && !CI)('cfn-lint', () => {
  it('is installed (CI=true fails here instead of skipping)', () => {
    expect(haveCfnLint, 'cfn-lint not found: pip install cfn-lint (scripts/test.sh does this)').toBe(true);
  });

  it.each([
    ['default context', {}, [MAIN_STACK]],
    [
      'every setting',
      {
        readerAccountIds: '111111111111,222222222222',
        readerOrgId: 'o-abcdef1234',
        readerPrincipalArnPatterns: 'arn:aws:iam::*:role/*-instance',
        breakGlassPrincipalArns: 'arn:aws:iam::123456789012:role/break-glass',
        keyPrefix: 'ssh/',
        scheduleMinutes: '5',
        alarmTopicArn: 'arn:aws:sns:us-east-1:123456789012:ops',
        bucketName: 'company-ssh-keys',
        selfServiceGroupName: 'SshKeyUsers',
        agentS3Uri: 's3://release-artifacts/iam-ssh-keys/1.0/',
        agentSha256: `x64:${'d'.repeat(64)},arm64:${'e'.repeat(64)}`,
        readerBucket: 'company-ssh-keys',
        readerRoleNames: 'web-instance,batch-instance',
        forwardIamEventsTo: 'eu-west-1',
      },
      [MAIN_STACK, READER_STACK, FORWARDER_STACK],
    ],
  ])(
    '%s: no errors, only accepted warnings',
    (_label, context, stacks) => {
      const t = testApp(context, { bundle: false });
      apps.push(t);
      buildApp(t.app);
      t.app.synth();
      for (const id of stacks) {
        const findings = cfnLint(join(t.outdir, `${id}.template.json`));
        const errors = findings.filter((f) => f.Level === 'Error');
        expect(errors.map((f) => `${f.Rule.Id} ${f.Message} at ${f.Location.Path.join('/')}`)).toEqual([]);
        const unexpected = findings.filter((f) => f.Level !== 'Error' && !(f.Rule.Id in ACCEPTED_WARNINGS));
        expect(unexpected.map((f) => `${f.Rule.Id} ${f.Message}`)).toEqual([]);
      }
      // cfn-lint is a Python program that loads every resource spec at start: over a minute for the
      // main stack's templates on a loaded 2-core machine.
    },
    180_000,
  );

  it('would report an error (the check is live)', () => {
    const t = testApp({}, { bundle: false });
    apps.push(t);
    const file = join(t.outdir, 'broken.template.json');
    writeFileSync(
      file,
      JSON.stringify({ Resources: { B: { Type: 'AWS::S3::Bucket', Properties: { NoSuchProperty: 1 } } } }),
    );
    expect(cfnLint(file).some((f) => f.Level === 'Error')).toBe(true);
  });
});

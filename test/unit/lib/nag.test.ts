// cdk-nag AwsSolutions: zero unacknowledged findings; every acknowledgement has a written reason.
import { Stack, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { buildApp, FORWARDER_STACK, MAIN_STACK, READER_STACK } from '../../../lib/build-app.js';
import { flattenCfn } from '../../../lib/nag.js';
import { type TestApp, testApp } from './cdk-helpers.js';

const apps: TestApp[] = [];
afterAll(() => {
  for (const a of apps) a.cleanup();
});

const FULL = {
  readerAccountIds: '111111111111',
  readerOrgId: 'o-abcdef1234',
  readerPrincipalArnPatterns: 'arn:aws:iam::*:role/*-instance',
  breakGlassPrincipalArns: 'arn:aws:iam::123456789012:role/break-glass',
  keyPrefix: 'ssh/',
  tagKeyPrefix: 'corp/ssh:',
  alarmTopicArn: 'arn:aws:sns:us-east-1:123456789012:ops',
  agentS3Uri: 's3://release-artifacts/iam-ssh-keys/1.0/',
  agentSha256: `x64:${'c'.repeat(64)},arm64:${'e'.repeat(64)}`,
  readerBucket: 'company-ssh-keys',
  readerRoleNames: 'web-instance',
  forwardIamEventsTo: 'eu-west-1',
};

function acknowledgements(root: IConstruct): { path: string; id: string; reason: string }[] {
  const out: { path: string; id: string; reason: string }[] = [];
  for (const c of root.node.findAll()) {
    for (const m of c.node.metadata) {
      if (m.type !== Validations.ACKNOWLEDGED_RULES_METADATA_KEY) continue;
      for (const [id, reason] of Object.entries(m.data as Record<string, string>)) {
        // Stored as 'Annotation::<id>' (the prefix CDK gives ids without a known one).
        out.push({ path: c.node.path, id: id.replace(/^annotation::/i, ''), reason });
      }
    }
  }
  return out;
}

describe.each([
  ['default context', {}, [MAIN_STACK]],
  ['every setting, with the reader and forwarder stacks', FULL, [MAIN_STACK, READER_STACK, FORWARDER_STACK]],
])('cdk-nag AwsSolutions, %s', (_label, context, stackIds) => {
  const t = testApp(context, { bundle: false });
  apps.push(t);
  buildApp(t.app);
  t.app.synth();

  it.each(stackIds)('%s: no unacknowledged finding (errors or warnings)', (id) => {
    const stack = t.app.node.findChild(id) as Stack;
    const report = new AwsSolutionsChecks(t.app).validateScope(stack);
    const findings = report.violations.map(
      (v) => `${v.ruleName} at ${v.violatingResources.map((r) => r.constructPath).join(', ')}`,
    );
    expect(findings).toEqual([]);
    expect(report.success).toBe(true);
  });

  it('every acknowledgement carries a written reason', () => {
    const acks = acknowledgements(t.app);
    expect(acks.length).toBeGreaterThan(0);
    for (const a of acks) {
      expect(a.reason.trim().length, `${a.id} at ${a.path}`).toBeGreaterThanOrEqual(30);
    }
  });
});

describe('acknowledgements are exactly the findings', () => {
  it.each([
    ['default context', {}],
    ['every setting', FULL],
  ])('%s: each acknowledgement silences a real finding, and nothing else is found', (_label, context) => {
    const acked = testApp(context, { bundle: false });
    apps.push(acked);
    buildApp(acked.app);
    acked.app.synth();
    const expected = acknowledgements(acked.app)
      .map((a) => `${a.id} ${a.path}`)
      .sort();

    // Same app with acknowledge() disabled: what cdk-nag would report.
    const spy = vi.spyOn(Validations.prototype, 'acknowledge').mockImplementation(() => {});
    const bare = testApp(context, { bundle: false });
    apps.push(bare);
    try {
      buildApp(bare.app);
    } finally {
      spy.mockRestore();
    }
    bare.app.synth();
    const found = bare.app.node.children
      .filter((c): c is Stack => c instanceof Stack)
      .flatMap((stack) => new AwsSolutionsChecks(bare.app).validateScope(stack).violations)
      // cdk-nag reports on the CfnResource; acknowledgements sit on its parent construct.
      .flatMap((v) =>
        v.violatingResources.map(
          (r) => `${v.ruleName} ${(r.constructPath ?? '').replace(/\/Resource$/, '')}`,
        ),
      )
      .sort();
    expect(found).toEqual(expected);
  });
});

describe('the checks do catch findings', () => {
  it('an unacknowledged wildcard in a new policy is reported', async () => {
    const t = testApp({}, { bundle: false });
    apps.push(t);
    const stack = new Stack(t.app, 'Bad');
    const iam = await import('aws-cdk-lib/aws-iam');
    new iam.ManagedPolicy(stack, 'P', {
      statements: [new iam.PolicyStatement({ actions: ['s3:*'], resources: ['*'] })],
    });
    t.app.synth();
    const report = new AwsSolutionsChecks(t.app).validateScope(stack);
    expect(report.violations.map((v) => v.ruleName)).toEqual(
      expect.arrayContaining(['AwsSolutions-IAM5[Action::s3:*]', 'AwsSolutions-IAM5[Resource::*]']),
    );
  });
});

describe('flattenCfn (names findings as cdk-nag does)', () => {
  it.each<[unknown, string]>([
    ['*', '*'],
    // biome-ignore lint/suspicious/noTemplateCurlyInString: an IAM policy variable
    ['user/${aws:username}', 'user/<aws:username>'],
    [{ Ref: 'AWS::Partition' }, '<AWS::Partition>'],
    [{ 'Fn::GetAtt': ['Bucket1', 'Arn'] }, '<Bucket1.Arn>'],
    [{ 'Fn::Join': ['', [{ 'Fn::GetAtt': ['Bucket1', 'Arn'] }, '/p/*']] }, '<Bucket1.Arn>/p/*'],
    [{ 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':s3:::b/*']] }, 'arn:<AWS::Partition>:s3:::b/*'],
    // biome-ignore lint/suspicious/noTemplateCurlyInString: Fn::Sub syntax
    [{ 'Fn::Sub': 'arn:${AWS::Partition}:x' }, 'arn:<AWS::Partition>:x'],
    [{ 'Fn::ImportValue': 'Exported' }, 'Exported'],
    [{ Other: 1 }, '{"Other":1}'],
  ])('%j -> %s', (input, expected) => {
    expect(flattenCfn(input)).toBe(expected);
  });
});

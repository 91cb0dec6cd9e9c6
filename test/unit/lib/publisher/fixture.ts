// Shared by the SshKeyPublisher tests (this folder and ../publisher.test.ts): one synth per
// props, the apps' temp dirs removed by cleanupApps, and the bucket policy lookups.
import { Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { SshKeyPublisher, type SshKeyPublisherProps } from '../../../../lib/publisher.js';
import { logicalIdOf, type Statement, type TestApp, testApp } from '../cdk-helpers.js';

export const ACCOUNTS = ['111111111111', '222222222222'];
export const ORG = 'o-abcdef1234';

export interface Synth {
  readonly stack: Stack;
  readonly publisher: SshKeyPublisher;
  readonly template: Template;
  readonly bucketId: string;
  readonly roleId: string;
}

export const apps: TestApp[] = [];
export function synth(props: SshKeyPublisherProps, opts: { bundle?: boolean; region?: string } = {}): Synth {
  const t = testApp({}, { bundle: opts.bundle ?? false });
  apps.push(t);
  const stack = new Stack(t.app, 'Test', opts.region ? { env: { region: opts.region } } : {});
  const publisher = new SshKeyPublisher(stack, 'Publisher', props);
  const template = Template.fromStack(stack);
  return {
    stack,
    publisher,
    template,
    bucketId: logicalIdOf(stack, publisher.bucket),
    roleId: logicalIdOf(stack, publisher.role),
  };
}
export function cleanupApps(): void {
  for (const a of apps.splice(0)) a.cleanup();
}

export const bucketArn = (s: Synth) => ({ 'Fn::GetAtt': [s.bucketId, 'Arn'] });
export const objectsArn = (s: Synth, prefix: string) => ({
  'Fn::Join': ['', [{ 'Fn::GetAtt': [s.bucketId, 'Arn'] }, `/${prefix}*`]],
});

export function bucketPolicy(s: Synth): Statement[] {
  const policies = s.template.findResources('AWS::S3::BucketPolicy', {
    Properties: { Bucket: { Ref: s.bucketId } },
  });
  const [policy] = Object.values(policies) as {
    Properties: { PolicyDocument: { Statement: Statement[] } };
  }[];
  if (!policy) throw new Error('no bucket policy');
  return policy.Properties.PolicyDocument.Statement;
}

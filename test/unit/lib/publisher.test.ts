import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { afterAll, describe, expect, it } from 'vitest';
import { SshKeyPublisher, type SshKeyPublisherProps } from '../../../lib/publisher.js';
import { logicalIdOf, testApp } from './cdk-helpers.js';

import { apps, cleanupApps } from './publisher/fixture.js';

afterAll(cleanupApps);

describe('SshKeyPublisher variants', () => {
  it.each<[string, SshKeyPublisherProps, RegExp]>([
    ['wildcard prefix', { keyPrefix: 'a*' }, /wildcards/],
    ['bad account', { readerAccountIds: ['123'] }, /readerAccountIds/],
    ['fractional schedule', { scheduleMinutes: 1.5 }, /integral|whole/i],
    ['schedule over a day', { scheduleMinutes: 1441 }, /1 day/],
    ['alarm window over a day', { scheduleMinutes: 12 * 60, stalenessPeriods: 3 }, /one-day/],
    ['zero staleness periods', { stalenessPeriods: 0 }, /stalenessPeriods/],
  ])('rejects %s', (_label, props, message) => {
    const t = testApp({}, { bundle: false });
    apps.push(t);
    const stack = new Stack(t.app, 'Bad');
    expect(() => new SshKeyPublisher(stack, 'P', props)).toThrow(message);
    expect(() => new SshKeyPublisher(stack, 'P2', props)).toThrow(
      expect.objectContaining({ name: 'InvalidConfigError' }),
    );
  });

  it('works in an app without the cdk.json feature flags (access logs by bucket policy, not ACL)', () => {
    const outdir = mkdtempSync(join(tmpdir(), 'iam-ssh-keys-cdk-'));
    apps.push({ app: new App(), outdir, cleanup: () => rmSync(outdir, { recursive: true, force: true }) });
    const app = new App({ outdir, context: { 'aws:cdk:bundling-stacks': [] } });
    const stack = new Stack(app, 'Plain');
    const p = new SshKeyPublisher(stack, 'P');
    const template = Template.fromStack(stack);
    const logsId = logicalIdOf(stack, p.accessLogsBucket as s3.Bucket);
    template.hasResourceProperties('AWS::S3::BucketPolicy', {
      Bucket: { Ref: logsId },
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Effect: 'Allow',
            Principal: { Service: 'logging.s3.amazonaws.com' },
            Action: 's3:PutObject',
          }),
        ]),
      },
    });
    expect(template.toJSON().Resources[logsId].Properties.AccessControl).toBeUndefined();
  });

  it('rejects bucket and bucketName together', () => {
    const t = testApp({}, { bundle: false });
    apps.push(t);
    const stack = new Stack(t.app, 'Both');
    const bucket = s3.Bucket.fromBucketName(stack, 'Keys', 'existing-keys');
    expect(() => new SshKeyPublisher(stack, 'P', { bucket, bucketName: 'other-name' })).toThrow(/not both/);
  });
});

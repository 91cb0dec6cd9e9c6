import { Duration, Stack } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DENIED_OBJECT_WRITES, SshKeyPublisher } from '../../../../lib/publisher.js';
import { actionsOf, logicalIdOf, roleStatements, testApp } from '../cdk-helpers.js';

import {
  ACCOUNTS,
  apps,
  bucketArn,
  bucketPolicy,
  cleanupApps,
  ORG,
  objectsArn,
  type Synth,
  synth,
} from './fixture.js';

afterAll(cleanupApps);

const BREAK_GLASS = [
  'arn:aws:iam::123456789012:role/ops/break-glass',
  'arn:aws:iam::123456789012:user/alice',
];
const PATTERNS = ['arn:aws:iam::*:role/*-instance'];

describe('SshKeyPublisher with readers and a prefix (bundled)', () => {
  let s: Synth;
  beforeAll(() => {
    s = synth({ readerAccountIds: ACCOUNTS, readerOrgId: ORG, keyPrefix: 'ssh' }, { bundle: true });
  });

  it('bucket: public access blocked, SSE-S3, versioned with old versions expiring, owner-enforced, access-logged, retained', () => {
    s.template.hasResource('AWS::S3::Bucket', {
      Properties: {
        PublicAccessBlockConfiguration: {
          BlockPublicAcls: true,
          BlockPublicPolicy: true,
          IgnorePublicAcls: true,
          RestrictPublicBuckets: true,
        },
        BucketEncryption: {
          ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }],
        },
        VersioningConfiguration: { Status: 'Enabled' },
        LifecycleConfiguration: {
          Rules: [
            Match.objectLike({
              Status: 'Enabled',
              NoncurrentVersionExpiration: { NoncurrentDays: 30 },
              ExpiredObjectDeleteMarker: true,
            }),
          ],
        },
        OwnershipControls: { Rules: [{ ObjectOwnership: 'BucketOwnerEnforced' }] },
        LoggingConfiguration: Match.objectLike({ DestinationBucketName: Match.anyValue() }),
      },
      DeletionPolicy: 'Retain',
      UpdateReplacePolicy: 'Retain',
    });
    const keys = s.template.toJSON().Resources[s.bucketId];
    expect(
      keys.Properties.BucketEncryption.ServerSideEncryptionConfiguration[0].ServerSideEncryptionByDefault,
    ).toEqual({ SSEAlgorithm: 'AES256' });
  });

  it('bucket policy: denies non-TLS access (and TLS < 1.2)', () => {
    s.template.hasResourceProperties('AWS::S3::BucketPolicy', {
      Bucket: { Ref: s.bucketId },
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Effect: 'Deny',
            Action: 's3:*',
            Principal: { AWS: '*' },
            Condition: { Bool: { 'aws:SecureTransport': 'false' } },
          }),
          Match.objectLike({ Effect: 'Deny', Condition: { NumericLessThan: { 's3:TlsVersion': 1.2 } } }),
        ]),
      },
    });
  });

  it('bucket policy: reader accounts may GetObject under the prefix and ListBucket the prefix only', () => {
    const principal = {
      AWS: ACCOUNTS.map((a) => ({
        'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, `:iam::${a}:root`]],
      })),
    };
    s.template.hasResourceProperties('AWS::S3::BucketPolicy', {
      Bucket: { Ref: s.bucketId },
      PolicyDocument: {
        Statement: Match.arrayWith([
          {
            Sid: 'ReaderAccountsGet',
            Effect: 'Allow',
            Principal: principal,
            Action: 's3:GetObject',
            Resource: objectsArn(s, 'ssh/'),
          },
          {
            Sid: 'ReaderAccountsList',
            Effect: 'Allow',
            Principal: principal,
            Action: 's3:ListBucket',
            Resource: bucketArn(s),
            Condition: { StringLike: { 's3:prefix': 'ssh/*' } },
          },
        ]),
      },
    });
  });

  it('bucket policy: the organization may read, conditioned on aws:PrincipalOrgID', () => {
    s.template.hasResourceProperties('AWS::S3::BucketPolicy', {
      Bucket: { Ref: s.bucketId },
      PolicyDocument: {
        Statement: Match.arrayWith([
          {
            Sid: 'ReaderOrganizationGet',
            Effect: 'Allow',
            Principal: { AWS: '*' },
            Action: 's3:GetObject',
            Resource: objectsArn(s, 'ssh/'),
            Condition: { StringEquals: { 'aws:PrincipalOrgID': ORG } },
          },
          {
            Sid: 'ReaderOrganizationList',
            Effect: 'Allow',
            Principal: { AWS: '*' },
            Action: 's3:ListBucket',
            Resource: bucketArn(s),
            Condition: { StringEquals: { 'aws:PrincipalOrgID': ORG }, StringLike: { 's3:prefix': 'ssh/*' } },
          },
        ]),
      },
    });
  });

  it('bucket policy: object writes and deletes denied to every principal but the publisher role', () => {
    s.template.hasResourceProperties('AWS::S3::BucketPolicy', {
      Bucket: { Ref: s.bucketId },
      PolicyDocument: {
        Statement: Match.arrayWith([
          {
            Sid: 'DenyWritesExceptPublisher',
            Effect: 'Deny',
            Principal: { AWS: '*' },
            Action: [...DENIED_OBJECT_WRITES].sort(),
            Resource: { 'Fn::Join': ['', [{ 'Fn::GetAtt': [s.bucketId, 'Arn'] }, '/*']] },
            Condition: { ArnNotEquals: { 'aws:PrincipalArn': { 'Fn::GetAtt': [s.roleId, 'Arn'] } } },
          },
        ]),
      },
    });
    expect(DENIED_OBJECT_WRITES).toEqual(
      expect.arrayContaining(['s3:PutObject', 's3:DeleteObject', 's3:DeleteObjectVersion']),
    );
  });

  it('bucket policy: no Allow grants anything but reads', () => {
    for (const st of bucketPolicy(s).filter((x) => x.Effect === 'Allow')) {
      expect(actionsOf(st).every((a) => a === 's3:GetObject' || a === 's3:ListBucket')).toBe(true);
    }
  });
});

describe('SshKeyPublisher break-glass writers (M4)', () => {
  it('adds the ARNs to the deny exemption, beside the publisher role', () => {
    const s = synth({ breakGlassPrincipalArns: BREAK_GLASS });
    const deny = bucketPolicy(s).find((st) => st.Sid === 'DenyWritesExceptPublisher');
    expect(deny?.Effect).toBe('Deny');
    expect(deny?.Principal).toEqual({ AWS: '*' });
    expect(deny?.Condition).toEqual({
      ArnNotEquals: { 'aws:PrincipalArn': [{ 'Fn::GetAtt': [s.roleId, 'Arn'] }, ...BREAK_GLASS] },
    });
  });

  it('grants them nothing: no Allow names them, the deny is the only statement that mentions them', () => {
    const s = synth({ breakGlassPrincipalArns: BREAK_GLASS, readerAccountIds: ACCOUNTS, keyPrefix: 'ssh' });
    const mentioning = bucketPolicy(s).filter((st) =>
      BREAK_GLASS.some((a) => JSON.stringify(st).includes(a)),
    );
    expect(mentioning.map((st) => st.Sid)).toEqual(['DenyWritesExceptPublisher']);
    expect(JSON.stringify(roleStatements(s.template, s.roleId))).not.toContain('break-glass');
    // No IAM resource is created for them either.
    expect(JSON.stringify(s.template.findResources('AWS::IAM::Policy'))).not.toContain('break-glass');
  });

  it('duplicates collapse; a token (another construct’s ARN) is accepted unchecked', () => {
    const t = testApp({}, { bundle: false });
    apps.push(t);
    const stack = new Stack(t.app, 'Test');
    const ops = new iam.Role(stack, 'Ops', { assumedBy: new iam.AccountRootPrincipal() });
    const publisher = new SshKeyPublisher(stack, 'Publisher', {
      breakGlassPrincipalArns: [ops.roleArn, BREAK_GLASS[0] as string, BREAK_GLASS[0] as string],
    });
    const template = Template.fromStack(stack);
    const opsId = logicalIdOf(stack, ops);
    template.hasResourceProperties('AWS::S3::BucketPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Sid: 'DenyWritesExceptPublisher',
            Condition: {
              ArnNotEquals: {
                'aws:PrincipalArn': [
                  { 'Fn::GetAtt': [logicalIdOf(stack, publisher.role), 'Arn'] },
                  { 'Fn::GetAtt': [opsId, 'Arn'] },
                  BREAK_GLASS[0],
                ],
              },
            },
          }),
        ]),
      },
    });
  });

  it.each([
    'arn:aws:iam::123456789012:role/*',
    'arn:aws:iam::123456789012:root',
    'arn:aws:sts::123456789012:assumed-role/ops/alice',
    'ops',
  ])('rejects %j (a wildcard or non-principal ARN would exempt too much or nothing)', (arn) => {
    expect(() => synth({ breakGlassPrincipalArns: [arn] })).toThrow(/breakGlassPrincipalArns/);
  });

  it('an existing bucket gets no policy, with or without break-glass ARNs', () => {
    const t = testApp({}, { bundle: false });
    apps.push(t);
    const stack = new Stack(t.app, 'Test');
    const bucket = s3.Bucket.fromBucketName(stack, 'Existing', 'company-ssh-keys');
    new SshKeyPublisher(stack, 'Publisher', { bucket, breakGlassPrincipalArns: BREAK_GLASS });
    Template.fromStack(stack).resourceCountIs('AWS::S3::BucketPolicy', 0);
  });
});

describe('SshKeyPublisher reader principal patterns (L15)', () => {
  it('narrows the account and organization read grants with StringLike aws:PrincipalArn, keeping the prefix limit', () => {
    const s = synth({
      readerAccountIds: ACCOUNTS,
      readerOrgId: ORG,
      keyPrefix: 'ssh',
      readerPrincipalArnPatterns: PATTERNS,
    });
    const bySid = new Map(bucketPolicy(s).map((st) => [st.Sid, st]));
    expect(bySid.get('ReaderAccountsGet')?.Condition).toEqual({
      StringLike: { 'aws:PrincipalArn': PATTERNS },
    });
    expect(bySid.get('ReaderAccountsList')?.Condition).toEqual({
      StringLike: { 'aws:PrincipalArn': PATTERNS, 's3:prefix': 'ssh/*' },
    });
    expect(bySid.get('ReaderOrganizationGet')?.Condition).toEqual({
      StringEquals: { 'aws:PrincipalOrgID': ORG },
      StringLike: { 'aws:PrincipalArn': PATTERNS },
    });
    expect(bySid.get('ReaderOrganizationList')?.Condition).toEqual({
      StringEquals: { 'aws:PrincipalOrgID': ORG },
      StringLike: { 'aws:PrincipalArn': PATTERNS, 's3:prefix': 'ssh/*' },
    });
    // Every Allow in the bucket policy carries the pattern.
    for (const st of bucketPolicy(s).filter((x) => x.Effect === 'Allow')) {
      expect(st.Condition).toMatchObject({ StringLike: { 'aws:PrincipalArn': PATTERNS } });
    }
  });

  it('without a prefix the pattern is the only StringLike', () => {
    const s = synth({ readerOrgId: ORG, readerPrincipalArnPatterns: PATTERNS });
    const list = bucketPolicy(s).find((st) => st.Sid === 'ReaderOrganizationList');
    expect(list?.Condition).toEqual({
      StringEquals: { 'aws:PrincipalOrgID': ORG },
      StringLike: { 'aws:PrincipalArn': PATTERNS },
    });
  });

  it('no patterns: the read grants carry no aws:PrincipalArn condition', () => {
    const s = synth({ readerAccountIds: ACCOUNTS, readerOrgId: ORG, keyPrefix: 'ssh' });
    expect(JSON.stringify(bucketPolicy(s).filter((x) => x.Effect === 'Allow'))).not.toContain(
      'aws:PrincipalArn',
    );
  });

  it('rejects a pattern that is not an IAM ARN pattern', () => {
    expect(() => synth({ readerOrgId: ORG, readerPrincipalArnPatterns: ['*'] })).toThrow(
      /readerPrincipalArnPatterns/,
    );
  });
});

describe('SshKeyPublisher variants', () => {
  it('no prefix: ListBucket unconditioned (nothing to limit), objects over the whole bucket', () => {
    const s = synth({});
    const list = roleStatements(s.template, s.roleId).find((st) => st.Sid === 'ListKeyObjects');
    expect(list?.Condition).toBeUndefined();
    expect(roleStatements(s.template, s.roleId).find((st) => st.Sid === 'WriteKeyObjects')?.Resource).toEqual(
      objectsArn(s, ''),
    );
    s.template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ KEY_PREFIX: '' }) },
    });
  });

  it('no readers: the bucket policy grants nothing', () => {
    const s = synth({});
    expect(bucketPolicy(s).filter((st) => st.Effect === 'Allow')).toEqual([]);
  });

  it('bucketName names the bucket; noncurrent version expiry and log retention are props', () => {
    const s = synth({ bucketName: 'company-ssh-keys', noncurrentVersionExpiration: Duration.days(7) });
    s.template.hasResourceProperties('AWS::S3::Bucket', {
      BucketName: 'company-ssh-keys',
      LifecycleConfiguration: {
        Rules: [Match.objectLike({ NoncurrentVersionExpiration: { NoncurrentDays: 7 } })],
      },
    });
  });

  it('existing bucket: no bucket created or policy changed, role still limited to the prefix, owner warned', () => {
    const t = testApp({}, { bundle: false });
    apps.push(t);
    const stack = new Stack(t.app, 'Existing');
    const bucket = s3.Bucket.fromBucketName(stack, 'Keys', 'existing-keys');
    const p = new SshKeyPublisher(stack, 'P', { bucket, keyPrefix: 'k/' });
    const template = Template.fromStack(stack);
    template.resourceCountIs('AWS::S3::Bucket', 0);
    template.resourceCountIs('AWS::S3::BucketPolicy', 0);
    const roleId = logicalIdOf(stack, p.role);
    expect(roleStatements(template, roleId).find((st) => st.Sid === 'WriteKeyObjects')?.Resource).toEqual({
      'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':s3:::existing-keys/k/*']],
    });
    Annotations.fromStack(stack).hasWarning('/Existing/P', Match.stringLikeRegexp('existing bucket'));
  });
});

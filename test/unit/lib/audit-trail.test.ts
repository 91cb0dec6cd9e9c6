// SshKeyAuditTrail and the dashboard in the synthesized stack: each property of the
// audit bucket, the Athena table and workgroup, the dashboard's metrics, retention.
import type { Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { afterAll, describe, expect, it } from 'vitest';
import { AUDIT_LOGINS_PREFIX } from '../../../contract/audit.js';
import { PUBLISHER_METRICS } from '../../../contract/publisher-settings.js';
import { OWN_LOGINS_PATTERN } from '../../../lib/audit-trail/access.js';
import { AUDIT_COLUMNS } from '../../../lib/audit-trail.js';
import { buildApp, MAIN_STACK } from '../../../lib/build-app.js';
import { DEFAULT_AUDIT_RETENTION_DAYS, InvalidConfigError } from '../../../lib/config.js';
import { type TestApp, testApp } from './cdk-helpers.js';

const apps: TestApp[] = [];
afterAll(() => {
  for (const a of apps) a.cleanup();
});
function mainTemplate(context: Record<string, unknown>): Template {
  const t = testApp(context, { bundle: false });
  apps.push(t);
  buildApp(t.app);
  return Template.fromStack(t.app.node.findChild(MAIN_STACK) as Stack);
}

const tpl = mainTemplate({});
const resources = tpl.toJSON().Resources as Record<
  string,
  { Type: string; Properties: Record<string, unknown> }
>;
const auditId = Object.keys(resources).find(
  (id) => id.startsWith('AuditTrailBucket') && resources[id]?.Type === 'AWS::S3::Bucket',
) as string;
const audit = resources[auditId]?.Properties as Record<string, unknown>;

describe('the audit bucket', () => {
  it('is a bucket of its own, not the keys bucket', () => {
    expect(auditId).toBeDefined();
    expect(Object.keys(resources).some((id) => id.startsWith('PublisherBucket'))).toBe(true);
  });
  it('is encrypted (SSE-S3)', () => {
    expect(audit.BucketEncryption).toEqual({
      ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }],
    });
  });
  it('is versioned', () => {
    expect(audit.VersioningConfiguration).toEqual({ Status: 'Enabled' });
  });
  it('blocks all public access and disables ACLs', () => {
    expect(audit.PublicAccessBlockConfiguration).toEqual({
      BlockPublicAcls: true,
      BlockPublicPolicy: true,
      IgnorePublicAcls: true,
      RestrictPublicBuckets: true,
    });
    expect(audit.OwnershipControls).toEqual({ Rules: [{ ObjectOwnership: 'BucketOwnerEnforced' }] });
  });
  it('is TLS-only (and TLS >= 1.2)', () => {
    tpl.hasResourceProperties('AWS::S3::BucketPolicy', {
      Bucket: { Ref: auditId },
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
          Match.objectLike({ Effect: 'Deny', Condition: { NumericLessThan: { 's3:TlsVersion': 1.2 } } }),
        ]),
      },
    });
  });
  it(`expires records after auditRetentionDays (default ${DEFAULT_AUDIT_RETENTION_DAYS})`, () => {
    tpl.hasResourceProperties('AWS::S3::Bucket', {
      VersioningConfiguration: { Status: 'Enabled' },
      LifecycleConfiguration: {
        Rules: Match.arrayWith([
          Match.objectLike({ Id: 'ExpireLoginRecords', ExpirationInDays: 400, Status: 'Enabled' }),
        ]),
      },
    });
  });
  it('logs access and keeps request metrics on logins/', () => {
    expect(audit.LoggingConfiguration).toEqual(expect.objectContaining({ LogFilePrefix: 'audit-bucket/' }));
    expect(audit.MetricsConfigurations).toEqual([{ Id: 'Logins', Prefix: AUDIT_LOGINS_PREFIX }]);
  });
  it('outlives the stack', () => {
    expect(tpl.toJSON().Resources[auditId].DeletionPolicy).toBe('Retain');
  });
  it('denies keys deeper than the layout, writes without If-None-Match, deletes, and instances anything but PutObject', () => {
    tpl.hasResourceProperties('AWS::S3::BucketPolicy', {
      Bucket: { Ref: auditId },
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Sid: 'DenyKeysBelowTheLayout',
            Effect: 'Deny',
            Action: 's3:PutObject',
            Resource: { 'Fn::Join': ['', [{ 'Fn::GetAtt': [auditId, 'Arn'] }, '/logins/*/*/*/*']] },
          }),
          Match.objectLike({
            Sid: 'DenyOverwrites',
            Effect: 'Deny',
            Action: 's3:PutObject',
            Condition: { Null: { 's3:if-none-match': 'true' } },
          }),
          Match.objectLike({
            Sid: 'DenyDeletes',
            Effect: 'Deny',
            Action: ['s3:DeleteObject', 's3:DeleteObjectVersion'],
          }),
          Match.objectLike({
            Sid: 'DenyInstancesAllButPut',
            Effect: 'Deny',
            NotAction: 's3:PutObject',
            Condition: { Null: { 'ec2:SourceInstanceARN': 'false' } },
          }),
          Match.objectLike({
            Sid: 'DenyInstancesOtherSegments',
            Effect: 'Deny',
            Action: 's3:PutObject',
            NotResource: {
              // biome-ignore lint/suspicious/noTemplateCurlyInString: the IAM policy variable
              'Fn::Join': ['', [{ 'Fn::GetAtt': [auditId, 'Arn'] }, '/logins/dt=*/${aws:userid}/*']],
            },
          }),
        ]),
      },
    });
  });
  it("this account's reader policy may put under the instance's own segment", () => {
    tpl.hasResourceProperties('AWS::IAM::ManagedPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Sid: 'WriteOwnLogins',
            Action: 's3:PutObject',
            Resource: Match.objectLike({ 'Fn::Join': ['', Match.arrayWith([`/${OWN_LOGINS_PATTERN}`])] }),
          }),
        ]),
      },
    });
  });
  it('auditRetentionDays from the context sets the expiry and the projection range', () => {
    const short = mainTemplate({ auditRetentionDays: '30' });
    short.hasResourceProperties('AWS::S3::Bucket', {
      LifecycleConfiguration: {
        Rules: Match.arrayWith([Match.objectLike({ Id: 'ExpireLoginRecords', ExpirationInDays: 30 })]),
      },
    });
    short.hasResourceProperties('AWS::Glue::Table', {
      TableInput: Match.objectLike({
        Parameters: Match.objectLike({ 'projection.dt.range': 'NOW-30DAYS,NOW+1DAYS' }),
      }),
    });
  });
  it.each([['0'], ['3651'], ['1.5'], ['x']])('auditRetentionDays=%s is refused', (v) => {
    expect(() => mainTemplate({ auditRetentionDays: v })).toThrow(InvalidConfigError);
  });
});

describe('the Athena table over logins/', () => {
  const table = Object.values(resources).find((r) => r.Type === 'AWS::Glue::Table')?.Properties
    .TableInput as Record<string, unknown> & {
    StorageDescriptor: {
      Columns: { Name: string; Type: string }[];
      SerdeInfo: { SerializationLibrary: string };
    };
    Parameters: Record<string, string>;
    PartitionKeys: { Name: string; Type: string }[];
  };
  it('has one column per record field (lower-cased), JSON SerDe', () => {
    expect(table.StorageDescriptor.Columns.map((c) => c.Name)).toEqual(
      Object.keys(AUDIT_COLUMNS).map((k) => k.toLowerCase()),
    );
    expect(table.StorageDescriptor.SerdeInfo.SerializationLibrary).toBe('org.openx.data.jsonserde.JsonSerDe');
  });
  it('is partitioned by dt with date projection over the retention and a location template', () => {
    expect(table.PartitionKeys).toEqual([{ Name: 'dt', Type: 'string' }]);
    expect(table.Parameters).toMatchObject({
      'projection.enabled': 'true',
      'projection.dt.type': 'date',
      'projection.dt.format': 'yyyy-MM-dd',
      'projection.dt.range': 'NOW-400DAYS,NOW+1DAYS',
      'projection.dt.interval.unit': 'DAYS',
    });
    tpl.hasResourceProperties('AWS::Glue::Table', {
      TableInput: Match.objectLike({
        Parameters: Match.objectLike({
          'storage.location.template': {
            // biome-ignore lint/suspicious/noTemplateCurlyInString: Athena's projection placeholder
            'Fn::Join': ['', ['s3://', { Ref: auditId }, '/logins/dt=${dt}/']],
          },
        }),
        StorageDescriptor: Match.objectLike({
          Location: { 'Fn::Join': ['', ['s3://', { Ref: auditId }, '/logins/']] },
        }),
      }),
    });
  });
  it('has a workgroup whose encrypted results go to a bucket of their own', () => {
    const resultsId = Object.keys(resources).find(
      (id) => id.startsWith('AuditTrailQueryResultsBucket') && resources[id]?.Type === 'AWS::S3::Bucket',
    ) as string;
    expect(resultsId).toBeDefined();
    tpl.hasResourceProperties('AWS::Athena::WorkGroup', {
      WorkGroupConfiguration: {
        EnforceWorkGroupConfiguration: true,
        PublishCloudWatchMetricsEnabled: true,
        ResultConfiguration: {
          OutputLocation: { 'Fn::Join': ['', ['s3://', { Ref: resultsId }, '/']] },
          EncryptionConfiguration: { EncryptionOption: 'SSE_S3' },
        },
      },
    });
    tpl.hasOutput('AuditWorkGroup', Match.anyValue());
  });
});

describe('the dashboard', () => {
  const body = JSON.stringify(
    Object.values(resources).find((r) => r.Type === 'AWS::CloudWatch::Dashboard')?.Properties.DashboardBody,
  );
  it.each([
    'PublishSucceeded',
    'PublishFailed',
    'DurationMs',
    'Keys',
    'RejectedKeys',
    'CopiedKeysRefused',
    'ImportProgressed',
  ] as const)('graphs the publisher metric %s', (name) => {
    expect(PUBLISHER_METRICS).toContain(name);
    expect(body).toContain(`\\"${name}\\"`);
  });
  it('graphs the event queue and its dead-letter queue, and uploads to logins/', () => {
    expect(body.match(/ApproximateNumberOfMessagesVisible/g)).toHaveLength(2);
    expect(body).toContain('\\"PutRequests\\"');
    expect(body).toContain('\\"FilterId\\",\\"Logins\\"');
  });
  it('uses only metric names the publisher emits in its namespace', () => {
    const names = [...body.matchAll(/\\"IamSshKeys\\",\\"(\w+)\\"/g)].map((m) => m[1]);
    expect(names.length).toBeGreaterThan(5);
    for (const n of names) expect(PUBLISHER_METRICS as readonly string[]).toContain(n);
  });
});

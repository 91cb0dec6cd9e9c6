// The login trail in Athena: a Glue table over the audit bucket's logins/ prefix
// (JSON Lines, one column per record field, partition `dt` found by partition
// projection, so no crawler and no MSCK REPAIR), and a workgroup whose query
// results go to a bucket of their own.
import { Aws, Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as athena from 'aws-cdk-lib/aws-athena';
import * as glue from 'aws-cdk-lib/aws-glue';
import * as s3 from 'aws-cdk-lib/aws-s3';
import type { Construct } from 'constructs';
import { AUDIT_LOGINS_PREFIX, type AuditRecord } from '../../contract/audit.js';

/**
 * Athena type of each record field. Typed against AuditRecord: a field added to the
 * contract does not compile here until it has a column. Glue lower-cases names; the
 * JSON SerDe matches keys case-insensitively.
 */
export const AUDIT_COLUMNS: Readonly<Record<keyof AuditRecord, string>> = {
  id: 'string',
  time: 'string',
  event: 'string',
  instanceId: 'string',
  accountId: 'string',
  region: 'string',
  hostname: 'string',
  localUser: 'string',
  iamUser: 'string',
  iamUserId: 'string',
  keyId: 'string',
  fingerprint: 'string',
  principal: 'string',
  keySource: 'string',
  fetchedFrom: 'string',
  sourceIp: 'string',
  sourcePort: 'int',
  sshdPid: 'int',
  durationSeconds: 'double',
  reason: 'string',
  verifiedBy: 'string',
  droppedBefore: 'int',
};

// biome-ignore lint/suspicious/noTemplateCurlyInString: Athena's projection placeholder, not a JS template
const DT_PLACEHOLDER = '${dt}';

export interface AuditTableProps {
  readonly bucket: s3.IBucket;
  readonly retentionDays: number;
  readonly databaseName: string;
  readonly tableName: string;
  readonly workGroupName: string;
  readonly accessLogsBucket: s3.IBucket;
}

export interface AuditQuerying {
  readonly database: glue.CfnDatabase;
  readonly table: glue.CfnTable;
  readonly workGroup: athena.CfnWorkGroup;
  readonly resultsBucket: s3.Bucket;
}

export function auditTable(scope: Construct, p: AuditTableProps): AuditQuerying {
  const database = new glue.CfnDatabase(scope, 'Database', {
    catalogId: Aws.ACCOUNT_ID,
    databaseInput: { name: p.databaseName, description: 'iam-ssh-keys: the login trail' },
  });
  const location = `s3://${p.bucket.bucketName}/${AUDIT_LOGINS_PREFIX}`;
  const table = new glue.CfnTable(scope, 'Table', {
    catalogId: Aws.ACCOUNT_ID,
    databaseName: p.databaseName,
    tableInput: {
      name: p.tableName,
      description: 'iam-ssh-keys login records (JSON Lines); the uploader is in "$path"',
      tableType: 'EXTERNAL_TABLE',
      partitionKeys: [{ name: 'dt', type: 'string' }],
      parameters: {
        classification: 'json',
        'projection.enabled': 'true',
        'projection.dt.type': 'date',
        'projection.dt.format': 'yyyy-MM-dd',
        // One day ahead: a host's clock, or a batch named by its upload date, may be past midnight.
        'projection.dt.range': `NOW-${p.retentionDays}DAYS,NOW+1DAYS`,
        'projection.dt.interval': '1',
        'projection.dt.interval.unit': 'DAYS',
        'storage.location.template': `${location}dt=${DT_PLACEHOLDER}/`,
      },
      storageDescriptor: {
        location,
        inputFormat: 'org.apache.hadoop.mapred.TextInputFormat',
        outputFormat: 'org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat',
        serdeInfo: {
          serializationLibrary: 'org.openx.data.jsonserde.JsonSerDe',
          // A line that is not JSON reads as nulls instead of failing the whole query.
          parameters: { 'ignore.malformed.json': 'true' },
        },
        columns: Object.entries(AUDIT_COLUMNS).map(([name, type]) => ({ name: name.toLowerCase(), type })),
      },
    },
  });
  table.node.addDependency(database);
  const resultsBucket = new s3.Bucket(scope, 'QueryResultsBucket', {
    blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
    encryption: s3.BucketEncryption.S3_MANAGED,
    enforceSSL: true,
    minimumTLSVersion: 1.2,
    objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
    serverAccessLogsBucket: p.accessLogsBucket,
    serverAccessLogsPrefix: 'audit-query-results/',
    // Query results copy login records: keep them briefly.
    lifecycleRules: [{ id: 'ExpireQueryResults', expiration: Duration.days(30) }],
    removalPolicy: RemovalPolicy.RETAIN,
  });
  const workGroup = new athena.CfnWorkGroup(scope, 'WorkGroup', {
    name: p.workGroupName,
    description: 'iam-ssh-keys: queries over the login trail',
    state: 'ENABLED',
    workGroupConfiguration: {
      enforceWorkGroupConfiguration: true,
      publishCloudWatchMetricsEnabled: true,
      resultConfiguration: {
        outputLocation: `s3://${resultsBucket.bucketName}/`,
        encryptionConfiguration: { encryptionOption: 'SSE_S3' },
      },
    },
  });
  return { database, table, workGroup, resultsBucket };
}

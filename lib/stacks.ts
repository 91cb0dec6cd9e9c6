// The two deployable stacks: the publishing account's, and a small one for each
// reading account.
import { CfnOutput, DefaultStackSynthesizer, Stack, type StackProps, Token } from 'aws-cdk-lib';
import * as sns from 'aws-cdk-lib/aws-sns';
import type { Construct } from 'constructs';
import { S3_FIPS_REGIONS } from '../contract/index.js';
import { SshKeyAuditTrail } from './audit-trail.js';
import { InvalidConfigError, type SharedSettings, type StackSettings } from './config.js';
import { SshKeysDashboard } from './dashboard.js';
import { SshKeyGrantApprovers } from './grant-approvers.js';
import { SshKeyPublisher, type SshKeyPublisherProps } from './publisher.js';
import { SshKeyReaderPolicy } from './reader-policy.js';
import { SshKeySelfServicePolicy } from './self-service-policy.js';
import { DEFAULT_HOST_USERS, renderUserData } from './user-data.js';

/** The publisher's SDK clients read AWS_USE_FIPS_ENDPOINT. A stack region without FIPS S3 is refused (a token region: by the hosts). */
function useFipsEndpoints(stack: Stack, publisher: SshKeyPublisher): void {
  if (!Token.isUnresolved(stack.region) && !S3_FIPS_REGIONS.has(stack.region)) {
    throw new InvalidConfigError(
      `useFipsEndpoint: S3 has no FIPS endpoint in ${stack.region} (only in ${[...S3_FIPS_REGIONS].join(', ')})`,
    );
  }
  publisher.function.addEnvironment('AWS_USE_FIPS_ENDPOINT', 'true');
}

/** The stack's settings (lib/config.ts StackSettings, each optional) and the rest of its props. */
export interface IamSshKeysStackProps extends StackProps, Partial<StackSettings> {
  /**
   * Local account -> principals written into the host agent config by the user-data snippet.
   * @default { 'ec2-user': ['groups/Administrators'] }
   */
  readonly hostUsers?: Readonly<Record<string, readonly string[]>>;
  /** Anything else for the publisher construct. */
  readonly publisher?: Omit<SshKeyPublisherProps, keyof SharedSettings | 'alarmTopic'>;
}

/** Publishing account: bucket, publisher, alarms, reader policy for local instances, self-service group. */
export class IamSshKeysStack extends Stack {
  public readonly publisher: SshKeyPublisher;
  public readonly readerPolicy: SshKeyReaderPolicy;
  public readonly selfService: SshKeySelfServicePolicy;
  public readonly grantApprovers: SshKeyGrantApprovers;
  public readonly auditTrail: SshKeyAuditTrail;

  constructor(scope: Construct, id: string, props: IamSshKeysStackProps = {}) {
    super(scope, id, {
      description: 'iam-ssh-keys: publishes IAM users SSH public keys to S3 for the host agent',
      ...props,
    });
    this.publisher = new SshKeyPublisher(this, 'Publisher', {
      ...props.publisher,
      readerAccountIds: props.readerAccountIds,
      readerOrgId: props.readerOrgId,
      readerPrincipalArnPatterns: props.readerPrincipalArnPatterns,
      breakGlassPrincipalArns: props.breakGlassPrincipalArns,
      keyPrefix: props.keyPrefix,
      tagKeyPrefix: props.tagKeyPrefix,
      scheduleMinutes: props.scheduleMinutes,
      eventDriven: props.eventDriven,
      bucketName: props.bucketName,
      maxKeyAgeDays: props.maxKeyAgeDays,
      maxGrantHours: props.maxGrantHours,
      verifyRequiredGroups: props.verifyRequiredGroups,
      grantTagPrefix: props.grantTagPrefix,
      alarmTopic: props.alarmTopicArn
        ? sns.Topic.fromTopicArn(this, 'AlarmTopic', props.alarmTopicArn)
        : undefined,
    });
    if (props.useFipsEndpoint) useFipsEndpoints(this, this.publisher);
    const bucketName = this.publisher.bucket.bucketName;
    const prefix = this.publisher.keyPrefix;
    this.auditTrail = loginTrail(this, props);
    // Same-account instance roles need an identity policy; other accounts deploy IamSshKeysReader.
    this.readerPolicy = new SshKeyReaderPolicy(this, 'ReaderPolicy', {
      bucketName,
      keyPrefix: prefix,
      agentS3Uri: props.agent?.s3Uri,
      auditBucketName: this.auditTrail.bucket.bucketName,
    });
    this.selfService = new SshKeySelfServicePolicy(this, 'SelfService', {
      groupName: props.selfServiceGroupName,
      tagKeyPrefix: this.publisher.tagKeyPrefix,
      grantTagPrefix: this.publisher.lifecycle.grantTagPrefix,
    });
    this.grantApprovers = new SshKeyGrantApprovers(this, 'GrantApprovers', {
      grantTagPrefix: this.publisher.lifecycle.grantTagPrefix,
    });

    new CfnOutput(this, 'BucketName', { description: 'The keys bucket', value: bucketName });
    new CfnOutput(this, 'KeyPrefix', {
      description: 'Key prefix of every object',
      value: prefix === '' ? '(none)' : prefix,
    });
    new CfnOutput(this, 'ReaderPolicyArn', {
      description: 'Attach to instance roles in this account to read the keys',
      value: this.readerPolicy.policy.managedPolicyArn,
    });
    new CfnOutput(this, 'SelfServiceGroupName', {
      description: 'Add IAM users to this group to let them manage their own SSH keys (with MFA)',
      value: this.selfService.group.groupName,
    });
    new CfnOutput(this, 'GrantApproversGroupName', {
      description:
        'Members may grant other IAM users time-boxed SSH access (iam-ssh-keys grant, with MFA); keep them out of the self-service group',
      value: this.grantApprovers.group.groupName,
    });
    new CfnOutput(this, 'PublisherFunctionName', { value: this.publisher.function.functionName });
    new CfnOutput(this, 'InstanceUserData', {
      description: 'Instance user data: installs the host agent and writes /etc/iam-authorized-keys.json',
      value: renderUserData({
        bucket: bucketName,
        prefix,
        region: this.publisher.bucket.env.region,
        users: props.hostUsers ?? DEFAULT_HOST_USERS,
        agent: props.agent,
        useFipsEndpoint: props.useFipsEndpoint ?? false,
        audit: { bucket: this.auditTrail.bucket.bucketName, region: this.auditTrail.bucket.env.region },
      }),
    });
  }
}

/** The login trail (bucket, Athena table) and the operations dashboard, with their outputs. */
function loginTrail(stack: IamSshKeysStack, props: IamSshKeysStackProps): SshKeyAuditTrail {
  const publisher = stack.publisher;
  const trail = new SshKeyAuditTrail(stack, 'AuditTrail', {
    readerAccountIds: props.readerAccountIds,
    readerOrgId: props.readerOrgId,
    readerPrincipalArnPatterns: props.readerPrincipalArnPatterns,
    auditRetentionDays: props.auditRetentionDays,
    ...(publisher.accessLogsBucket ? { accessLogsBucket: publisher.accessLogsBucket } : {}),
  });
  new SshKeysDashboard(stack, 'Dashboard', {
    function: publisher.function,
    eventQueue: publisher.eventQueue,
    eventDeadLetterQueue: publisher.eventDeadLetterQueue,
    auditBucket: trail.bucket,
    auditMetricsFilterId: trail.metricsFilterId,
  });
  new CfnOutput(stack, 'AuditBucketName', {
    description: 'The login trail: hosts write login records here (iam-ssh-keys logins --bucket)',
    value: trail.bucket.bucketName,
  });
  new CfnOutput(stack, 'AuditWorkGroup', {
    description: 'Athena workgroup for queries over the login trail (docs/audit.md)',
    value: trail.workGroup.ref,
  });
  return trail;
}

export interface IamSshKeysReaderStackProps extends StackProps {
  /** The publishing stack's BucketName output. */
  readonly bucketName: string;
  /** @default '' */
  readonly keyPrefix?: string;
  /** @default - attached to no role */
  readonly roleNames?: readonly string[];
  /**
   * `s3://bucket/folder/` of the standalone agent executables: GetObject on the two of them.
   * @default - no artifact access
   */
  readonly agentS3Uri?: string;
  /**
   * The publishing stack's AuditBucketName output: instance roles may write their own login records.
   * @default - no login trail access
   */
  readonly auditBucketName?: string;
}

/** Reading account: a managed policy for instance roles, optionally attached to named roles. */
export class IamSshKeysReaderStack extends Stack {
  public readonly readerPolicy: SshKeyReaderPolicy;

  constructor(scope: Construct, id: string, props: IamSshKeysReaderStackProps) {
    super(scope, id, {
      description: 'iam-ssh-keys: lets instance roles in this account read the published SSH keys',
      // No assets and no bootstrap check: the template also deploys with plain
      // `aws cloudformation deploy` in an account that was never bootstrapped.
      synthesizer: new DefaultStackSynthesizer({ generateBootstrapVersionRule: false }),
      ...props,
    });
    this.readerPolicy = new SshKeyReaderPolicy(this, 'ReaderPolicy', {
      bucketName: props.bucketName,
      keyPrefix: props.keyPrefix,
      roleNames: props.roleNames,
      agentS3Uri: props.agentS3Uri,
      auditBucketName: props.auditBucketName,
    });
    new CfnOutput(this, 'ReaderPolicyArn', {
      description: 'Attach to instance roles in this account to read the keys',
      value: this.readerPolicy.policy.managedPolicyArn,
    });
  }
}

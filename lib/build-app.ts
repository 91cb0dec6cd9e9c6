// Context -> config -> stacks, for the cdk.json entry and for tests.
import { Annotations, type App } from 'aws-cdk-lib';
import { InvalidConfigError, parseAppConfig } from './config.js';
import { IAM_EVENTS_REGION, IamEventsForwarderStack } from './events-forwarder.js';
import { EVENT_REGION_WARNING } from './publisher.js';
import { IamSshKeysReaderStack, IamSshKeysStack } from './stacks.js';

export const MAIN_STACK = 'IamSshKeys';
export const READER_STACK = 'IamSshKeysReader';
export const FORWARDER_STACK = 'IamSshKeysEventsForwarder';

export function buildApp(app: App): void {
  const config = parseAppConfig((name) => app.node.tryGetContext(name));
  const main = new IamSshKeysStack(app, MAIN_STACK, {
    readerAccountIds: config.readerAccountIds,
    readerOrgId: config.readerOrgId,
    readerPrincipalArnPatterns: config.readerPrincipalArnPatterns,
    breakGlassPrincipalArns: config.breakGlassPrincipalArns,
    keyPrefix: config.keyPrefix,
    tagKeyPrefix: config.tagKeyPrefix,
    scheduleMinutes: config.scheduleMinutes,
    eventDriven: config.eventDriven,
    bucketName: config.bucketName,
    alarmTopicArn: config.alarmTopicArn,
    selfServiceGroupName: config.selfServiceGroupName,
    agent: config.agent,
    useFipsEndpoint: config.useFipsEndpoint,
    maxKeyAgeDays: config.maxKeyAgeDays,
    maxGrantHours: config.maxGrantHours,
    verifyRequiredGroups: config.verifyRequiredGroups,
    grantTagPrefix: config.grantTagPrefix,
    auditRetentionDays: config.auditRetentionDays,
  });
  if (config.forwardIamEventsTo !== undefined) {
    if (!config.eventDriven)
      throw new InvalidConfigError('forwardIamEventsTo: needs eventDriven (not false)');
    if (config.forwardIamEventsTo === IAM_EVENTS_REGION)
      throw new InvalidConfigError(
        `forwardIamEventsTo: IAM events already reach ${IAM_EVENTS_REGION}; no forwarder needed`,
      );
    new IamEventsForwarderStack(app, FORWARDER_STACK, { targetRegion: config.forwardIamEventsTo });
    Annotations.of(main.publisher).acknowledgeWarning(
      EVENT_REGION_WARNING,
      `IAM events are forwarded from ${IAM_EVENTS_REGION} by the ${FORWARDER_STACK} stack`,
    );
  }
  if (config.reader) {
    new IamSshKeysReaderStack(app, READER_STACK, {
      bucketName: config.reader.bucketName,
      keyPrefix: config.keyPrefix,
      roleNames: config.reader.roleNames,
      agentS3Uri: config.agent?.s3Uri,
      auditBucketName: config.reader.auditBucketName,
    });
  }
}

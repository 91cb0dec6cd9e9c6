// Context -> config -> stacks, for the cdk.json entry and for tests.
import type { App } from 'aws-cdk-lib';
import { parseAppConfig } from './config.js';
import { IamSshKeysReaderStack, IamSshKeysStack } from './stacks.js';

export const MAIN_STACK = 'IamSshKeys';
export const READER_STACK = 'IamSshKeysReader';

export function buildApp(app: App): void {
  const config = parseAppConfig((name) => app.node.tryGetContext(name));
  new IamSshKeysStack(app, MAIN_STACK, {
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
  });
  if (config.reader) {
    new IamSshKeysReaderStack(app, READER_STACK, {
      bucketName: config.reader.bucketName,
      keyPrefix: config.keyPrefix,
      roleNames: config.reader.roleNames,
      agentS3Uri: config.agent?.s3Uri,
    });
  }
}

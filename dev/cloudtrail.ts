// EventBridge events as CloudTrail delivers IAM API calls ("AWS API Call via
// CloudTrail", source aws.iam, detail = the CloudTrail record): the fields the
// publisher reads and the ones around them, so tests see the real shape.
import { randomUUID } from 'node:crypto';

export interface CloudTrailOptions {
  readonly errorCode?: string;
  readonly time?: Date;
  readonly account?: string;
  readonly responseElements?: Record<string, unknown> | null;
}

export function cloudTrailEvent(
  eventName: string,
  requestParameters: Record<string, unknown>,
  opts: CloudTrailOptions = {},
): Record<string, unknown> {
  const time = (opts.time ?? new Date()).toISOString().replace(/\.\d{3}Z$/, 'Z');
  const account = opts.account ?? '123456789012';
  return {
    version: '0',
    id: randomUUID(),
    'detail-type': 'AWS API Call via CloudTrail',
    source: 'aws.iam',
    account,
    time,
    region: 'us-east-1',
    resources: [],
    detail: {
      eventVersion: '1.09',
      userIdentity: {
        type: 'IAMUser',
        principalId: 'AIDAEXAMPLEADMIN0001',
        arn: `arn:aws:iam::${account}:user/admin`,
        accountId: account,
        accessKeyId: 'AKIAEXAMPLEADMIN0001',
        userName: 'admin',
      },
      eventTime: time,
      eventSource: 'iam.amazonaws.com',
      eventName,
      awsRegion: 'us-east-1',
      sourceIPAddress: '198.51.100.7',
      userAgent: 'aws-cli/2.15.0 md/awscrt#0.19.19 ua/2.0 os/linux#6.1 md/arch#x86_64 lang/python#3.11.6',
      ...(opts.errorCode
        ? { errorCode: opts.errorCode, errorMessage: `${opts.errorCode}: the request was refused` }
        : {}),
      requestParameters,
      responseElements: opts.responseElements === undefined ? null : opts.responseElements,
      requestID: randomUUID(),
      eventID: randomUUID(),
      readOnly: false,
      eventType: 'AwsApiCall',
      managementEvent: true,
      recipientAccountId: account,
      eventCategory: 'Management',
      tlsDetails: {
        tlsVersion: 'TLSv1.3',
        cipherSuite: 'TLS_AES_128_GCM_SHA256',
        clientProvidedHostHeader: 'iam.amazonaws.com',
      },
    },
  };
}

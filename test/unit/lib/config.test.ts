import { describe, expect, it } from 'vitest';
import {
  DEFAULT_SCHEDULE_MINUTES,
  InvalidConfigError,
  parseAccountIds,
  parseAgentSource,
  parseAppConfig,
  parseBoolean,
  parseBreakGlassPrincipalArns,
  parseBucketName,
  parseKeyPrefix,
  parseList,
  parseReaderPrincipalArnPatterns,
  parseS3Uri,
  parseScheduleMinutes,
} from '../../../lib/config.js';

const SHA = 'a'.repeat(64);

describe('parseAppConfig', () => {
  it('defaults: no readers, root prefix, every 15 minutes, event-driven, no reader stack', () => {
    expect(parseAppConfig(() => undefined)).toEqual({
      readerAccountIds: [],
      readerOrgId: undefined,
      readerPrincipalArnPatterns: [],
      breakGlassPrincipalArns: [],
      keyPrefix: '',
      scheduleMinutes: DEFAULT_SCHEDULE_MINUTES,
      eventDriven: true,
      bucketName: undefined,
      alarmTopicArn: undefined,
      selfServiceGroupName: undefined,
      agent: undefined,
      reader: undefined,
    });
    expect(DEFAULT_SCHEDULE_MINUTES).toBe(15);
  });

  it('reads CLI strings (-c name=value)', () => {
    const ctx: Record<string, string> = {
      readerAccountIds: '111111111111, 222222222222,111111111111',
      readerOrgId: 'o-abcdef1234',
      readerPrincipalArnPatterns: 'arn:aws:iam::*:role/*-instance',
      breakGlassPrincipalArns:
        'arn:aws:iam::123456789012:role/ops/break-glass,arn:aws:iam::123456789012:user/alice',
      keyPrefix: 'ssh',
      scheduleMinutes: '5',
      eventDriven: 'false',
      bucketName: 'company-ssh-keys',
      alarmTopicArn: 'arn:aws:sns:eu-west-1:123456789012:ops-alarms',
      selfServiceGroupName: 'SshKeyUsers',
      agentS3Uri: 's3://artifacts-bucket/iam-ssh-keys/v1/iam-authorized-keys',
      agentSha256: SHA.toUpperCase(),
      readerBucket: 'company-ssh-keys',
      readerRoleNames: 'web-instance,batch-instance',
    };
    expect(parseAppConfig((n) => ctx[n])).toEqual({
      readerAccountIds: ['111111111111', '222222222222'],
      readerOrgId: 'o-abcdef1234',
      readerPrincipalArnPatterns: ['arn:aws:iam::*:role/*-instance'],
      breakGlassPrincipalArns: [
        'arn:aws:iam::123456789012:role/ops/break-glass',
        'arn:aws:iam::123456789012:user/alice',
      ],
      keyPrefix: 'ssh/',
      scheduleMinutes: 5,
      eventDriven: false,
      bucketName: 'company-ssh-keys',
      alarmTopicArn: 'arn:aws:sns:eu-west-1:123456789012:ops-alarms',
      selfServiceGroupName: 'SshKeyUsers',
      agent: { s3Uri: 's3://artifacts-bucket/iam-ssh-keys/v1/iam-authorized-keys', sha256: SHA },
      reader: { bucketName: 'company-ssh-keys', roleNames: ['web-instance', 'batch-instance'] },
    });
  });

  it('reads typed cdk.json values', () => {
    const ctx: Record<string, unknown> = {
      readerAccountIds: ['111111111111'],
      scheduleMinutes: 30,
      eventDriven: true,
      readerBucket: 'b-1',
      readerRoleNames: ['r'],
    };
    const c = parseAppConfig((n) => ctx[n]);
    expect([c.readerAccountIds, c.scheduleMinutes, c.eventDriven, c.reader]).toEqual([
      ['111111111111'],
      30,
      true,
      { bucketName: 'b-1', roleNames: ['r'] },
    ]);
  });

  it.each([
    ['readerAccountIds', '12345'],
    ['readerAccountIds', 42],
    ['readerOrgId', 'org-1'],
    ['readerPrincipalArnPatterns', '*'],
    ['breakGlassPrincipalArns', 'arn:aws:iam::123456789012:role/*'],
    ['keyPrefix', '../x'],
    ['keyPrefix', 'a*'],
    ['scheduleMinutes', 'soon'],
    ['eventDriven', 'yes'],
    ['bucketName', 'Bad_Bucket'],
    ['alarmTopicArn', 'arn:aws:sqs:eu-west-1:123456789012:q'],
    ['selfServiceGroupName', 'has space'],
    ['agentS3Uri', 's3://b-1/key'],
    ['readerBucket', 'x'],
  ])('rejects %s=%j with an error naming the setting', (name, value) => {
    expect(() => parseAppConfig((n) => (n === name ? value : undefined))).toThrow(
      expect.objectContaining({ name: 'InvalidConfigError', message: expect.stringContaining(name) }),
    );
  });

  it('rejects reader role names that are not IAM role names', () => {
    const ctx: Record<string, string> = { readerBucket: 'b-12', readerRoleNames: 'ok,not ok' };
    expect(() => parseAppConfig((n) => ctx[n])).toThrow(/readerRoleNames/);
  });
});

describe('parseKeyPrefix', () => {
  it.each([
    [undefined, ''],
    ['', ''],
    ['p', 'p/'],
    ['p/', 'p/'],
    ['a/b', 'a/b/'],
  ])('%j -> %j', (input, expected) => {
    expect(parseKeyPrefix(input)).toBe(expected);
  });

  it.each(['/abs', 'a//b', '..', 'a/../b', 'x*', 'x?', 'sp ace'])('rejects %j', (input) => {
    expect(() => parseKeyPrefix(input)).toThrow(InvalidConfigError);
  });

  it('keeps the contract error as cause', () => {
    try {
      parseKeyPrefix('a//b');
      expect.unreachable();
    } catch (err) {
      expect((err as Error).cause).toMatchObject({ name: 'InvalidPrefixError' });
    }
  });
});

describe('parseScheduleMinutes', () => {
  it.each([
    [undefined, 15],
    ['', 15],
    ['1', 1],
    [60, 60],
    [' 1440 ', 1440],
  ])('%j -> %j', (input, expected) => {
    expect(parseScheduleMinutes(input)).toBe(expected);
  });
  it.each(['0', 0, '1441', '2.5', 'x', -5, true])('rejects %j', (input) => {
    expect(() => parseScheduleMinutes(input)).toThrow(/scheduleMinutes/);
  });
});

describe('parseBoolean', () => {
  it.each([
    [undefined, true],
    ['true', true],
    ['false', false],
    [true, true],
    [false, false],
  ])('%j -> %j', (input, expected) => {
    expect(parseBoolean(input, 'x', true)).toBe(expected);
  });
  it.each(['TRUE', '1', 0, 'no'])('rejects %j', (input) => {
    expect(() => parseBoolean(input, 'flag', true)).toThrow(/flag/);
  });
});

describe('parseAccountIds / parseList', () => {
  it.each([
    [undefined, []],
    ['', []],
    ['111111111111', ['111111111111']],
    [' 111111111111 , ,222222222222 ', ['111111111111', '222222222222']],
    [['333333333333', '333333333333'], ['333333333333']],
  ])('%j -> %j', (input, expected) => {
    expect(parseAccountIds(input)).toEqual(expected);
  });
  it.each(['11111111111', '1111111111111', 'abcdefghijkl', [1]])('rejects %j', (input) => {
    expect(() => parseAccountIds(input)).toThrow(InvalidConfigError);
  });
  it('rejects non-list values', () => {
    expect(() => parseList({ a: 1 }, 'things')).toThrow(/things/);
  });
});

describe('parseBreakGlassPrincipalArns', () => {
  it.each([
    [undefined, []],
    ['', []],
    ['arn:aws:iam::123456789012:role/break-glass', ['arn:aws:iam::123456789012:role/break-glass']],
    [
      ' arn:aws:iam::123456789012:user/alice , arn:aws:iam::123456789012:user/alice ',
      ['arn:aws:iam::123456789012:user/alice'],
    ],
    [
      'arn:aws:iam::123456789012:role/aws-reserved/sso.amazonaws.com/eu-west-1/AWSReservedSSO_Admin_0123abcd',
      [
        'arn:aws:iam::123456789012:role/aws-reserved/sso.amazonaws.com/eu-west-1/AWSReservedSSO_Admin_0123abcd',
      ],
    ],
    ['arn:aws-us-gov:iam::123456789012:role/ops', ['arn:aws-us-gov:iam::123456789012:role/ops']],
    // cdk.json arrays keep names with commas whole.
    [['arn:aws:iam::123456789012:user/a,b'], ['arn:aws:iam::123456789012:user/a,b']],
  ])('%j -> %j', (input, expected) => {
    expect(parseBreakGlassPrincipalArns(input)).toEqual(expected);
  });
  it.each([
    ['wildcard name', 'arn:aws:iam::123456789012:role/*'],
    ['single-char wildcard', 'arn:aws:iam::123456789012:role/ops?'],
    ['wildcard account', 'arn:aws:iam::*:role/ops'],
    ['root user', 'arn:aws:iam::123456789012:root'],
    ['assumed-role session', 'arn:aws:sts::123456789012:assumed-role/ops/alice'],
    ['group', 'arn:aws:iam::123456789012:group/admins'],
    ['short account', 'arn:aws:iam::12345:role/ops'],
    ['not an ARN', 'break-glass'],
    ['name too long', `arn:aws:iam::123456789012:role/${'r'.repeat(65)}`],
  ])('rejects %s', (_label, input) => {
    expect(() => parseBreakGlassPrincipalArns(input)).toThrow(
      expect.objectContaining({
        name: 'InvalidConfigError',
        message: expect.stringContaining('breakGlassPrincipalArns'),
      }),
    );
  });
});

describe('parseReaderPrincipalArnPatterns', () => {
  it.each([
    [undefined, []],
    ['arn:aws:iam::*:role/*-instance', ['arn:aws:iam::*:role/*-instance']],
    [
      'arn:aws:iam::111111111111:role/web-?,arn:aws:iam::*:role/batch/*',
      ['arn:aws:iam::111111111111:role/web-?', 'arn:aws:iam::*:role/batch/*'],
    ],
    ['arn:*:iam::*:role/x', ['arn:*:iam::*:role/x']],
    [['arn:aws:iam::*:role/a', 'arn:aws:iam::*:role/a'], ['arn:aws:iam::*:role/a']],
  ])('%j -> %j', (input, expected) => {
    expect(parseReaderPrincipalArnPatterns(input)).toEqual(expected);
  });
  it.each([
    ['a bare wildcard', '*'],
    ['another service', 'arn:aws:s3:::bucket/*'],
    ['an STS ARN', 'arn:aws:sts::*:assumed-role/*'],
    ['a space', 'arn:aws:iam::*:role/a b'],
    ['not a list', 42],
  ])('rejects %s', (_label, input) => {
    expect(() => parseReaderPrincipalArnPatterns(input)).toThrow(/readerPrincipalArnPatterns/);
  });
});

describe('parseBucketName', () => {
  it.each(['abc', 'company-ssh-keys', 'a.b.c', `a${'b'.repeat(61)}c`])('accepts %j', (name) => {
    expect(parseBucketName(name, 'bucketName')).toBe(name);
  });
  it.each(['ab', 'ABC', 'a_b', '-abc', 'abc-', 'a..b', '192.168.1.1', `a${'b'.repeat(62)}c`])(
    'rejects %j',
    (name) => {
      expect(() => parseBucketName(name, 'bucketName')).toThrow(InvalidConfigError);
    },
  );
});

describe('parseS3Uri / parseAgentSource', () => {
  it.each([
    ['s3://artifacts/iam-authorized-keys', { bucket: 'artifacts', key: 'iam-authorized-keys' }],
    ['s3://artifacts/a/b/v1.2.3/agent', { bucket: 'artifacts', key: 'a/b/v1.2.3/agent' }],
  ])('%j', (uri, expected) => {
    expect(parseS3Uri(uri)).toEqual(expected);
  });
  // Each of these would need quoting (or worse) inside the user-data script.
  it.each([
    'https://artifacts/agent',
    's3://artifacts/',
    's3://artifacts',
    "s3://artifacts/a'b",
    's3://artifacts/a b',
    's3://artifacts/$(reboot)',
    's3://artifacts/a/../b',
    's3://artifacts//b',
    's3://Bad_Bucket/agent',
  ])('rejects %j', (uri) => {
    expect(() => parseS3Uri(uri)).toThrow(InvalidConfigError);
  });

  it('needs both the URI and the checksum, or neither', () => {
    expect(parseAgentSource(undefined, undefined)).toBeUndefined();
    expect(() => parseAgentSource('s3://artifacts/agent', undefined)).toThrow(/together/);
    expect(() => parseAgentSource(undefined, SHA)).toThrow(/together/);
  });

  it.each(['abc', 'g'.repeat(64), 'a'.repeat(63), 'a'.repeat(65)])('rejects checksum %j', (sha) => {
    expect(() => parseAgentSource('s3://artifacts/agent', sha)).toThrow(/agentSha256/);
  });
});

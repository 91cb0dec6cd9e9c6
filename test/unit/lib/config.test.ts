import { describe, expect, it } from 'vitest';
import {
  DEFAULT_AUDIT_RETENTION_DAYS,
  DEFAULT_SCHEDULE_MINUTES,
  InvalidConfigError,
  parseAccountIds,
  parseAgentSha256,
  parseAgentSource,
  parseAppConfig,
  parseAuditRetentionDays,
  parseBoolean,
  parseBreakGlassPrincipalArns,
  parseBucketName,
  parseKeyPrefix,
  parseList,
  parseReaderPrincipalArnPatterns,
  parseS3Folder,
  parseScheduleMinutes,
} from '../../../lib/config.js';

const SHA = 'a'.repeat(64);
const SHA2 = 'b'.repeat(64);

describe('parseAppConfig', () => {
  it('defaults: no readers, root prefix, every 15 minutes, event-driven, no reader stack', () => {
    expect(parseAppConfig(() => undefined)).toEqual({
      readerAccountIds: [],
      readerOrgId: undefined,
      readerPrincipalArnPatterns: [],
      breakGlassPrincipalArns: [],
      keyPrefix: '',
      tagKeyPrefix: 'ssh-key:',
      scheduleMinutes: DEFAULT_SCHEDULE_MINUTES,
      eventDriven: true,
      bucketName: undefined,
      alarmTopicArn: undefined,
      selfServiceGroupName: undefined,
      agent: undefined,
      useFipsEndpoint: false,
      auditRetentionDays: DEFAULT_AUDIT_RETENTION_DAYS,
      reader: undefined,
      maxKeyAgeDays: undefined,
      maxGrantHours: 12,
      verifyRequiredGroups: [],
      grantTagPrefix: 'ssh-grant:',
    });
    expect(DEFAULT_SCHEDULE_MINUTES).toBe(15);
    expect(DEFAULT_AUDIT_RETENTION_DAYS).toBe(400);
  });

  it('reads CLI strings (-c name=value)', () => {
    const ctx: Record<string, string> = {
      readerAccountIds: '111111111111, 222222222222,111111111111',
      readerOrgId: 'o-abcdef1234',
      readerPrincipalArnPatterns: 'arn:aws:iam::*:role/*-instance',
      breakGlassPrincipalArns:
        'arn:aws:iam::123456789012:role/ops/break-glass,arn:aws:iam::123456789012:user/alice',
      keyPrefix: 'ssh',
      tagKeyPrefix: 'corp/ssh:',
      scheduleMinutes: '5',
      eventDriven: 'false',
      bucketName: 'company-ssh-keys',
      alarmTopicArn: 'arn:aws:sns:eu-west-1:123456789012:ops-alarms',
      selfServiceGroupName: 'SshKeyUsers',
      agentS3Uri: 's3://artifacts-bucket/iam-ssh-keys/v1/',
      agentSha256: `x64:${SHA.toUpperCase()}, arm64:${SHA2}`,
      agentRegion: 'eu-central-1',
      useFipsEndpoint: 'true',
      readerBucket: 'company-ssh-keys',
      readerRoleNames: 'web-instance,batch-instance',
      maxKeyAgeDays: '90',
      maxGrantHours: ' 4 ',
      verifyRequiredGroups: 'Administrators, Db-Admins,Administrators',
      grantTagPrefix: 'corp/grant:',
      readerAuditBucket: 'company-audit',
      auditRetentionDays: '90',
    };
    expect(parseAppConfig((n) => ctx[n])).toEqual({
      maxKeyAgeDays: 90,
      maxGrantHours: 4,
      verifyRequiredGroups: ['Administrators', 'Db-Admins'],
      grantTagPrefix: 'corp/grant:',
      readerAccountIds: ['111111111111', '222222222222'],
      readerOrgId: 'o-abcdef1234',
      readerPrincipalArnPatterns: ['arn:aws:iam::*:role/*-instance'],
      breakGlassPrincipalArns: [
        'arn:aws:iam::123456789012:role/ops/break-glass',
        'arn:aws:iam::123456789012:user/alice',
      ],
      keyPrefix: 'ssh/',
      tagKeyPrefix: 'corp/ssh:',
      scheduleMinutes: 5,
      eventDriven: false,
      bucketName: 'company-ssh-keys',
      alarmTopicArn: 'arn:aws:sns:eu-west-1:123456789012:ops-alarms',
      selfServiceGroupName: 'SshKeyUsers',
      agent: {
        s3Uri: 's3://artifacts-bucket/iam-ssh-keys/v1/',
        sha256: { x64: SHA, arm64: SHA2 },
        region: 'eu-central-1',
      },
      useFipsEndpoint: true,
      auditRetentionDays: 90,
      reader: {
        bucketName: 'company-ssh-keys',
        roleNames: ['web-instance', 'batch-instance'],
        auditBucketName: 'company-audit',
      },
    });
  });

  it('reads typed cdk.json values', () => {
    const ctx: Record<string, unknown> = {
      readerAccountIds: ['111111111111'],
      scheduleMinutes: 30,
      eventDriven: true,
      readerBucket: 'b-1',
      readerRoleNames: ['r'],
      maxKeyAgeDays: 365,
      maxGrantHours: 720,
      verifyRequiredGroups: ['Admins'],
    };
    const c = parseAppConfig((n) => ctx[n]);
    expect([c.readerAccountIds, c.scheduleMinutes, c.eventDriven, c.reader]).toEqual([
      ['111111111111'],
      30,
      true,
      { bucketName: 'b-1', roleNames: ['r'] },
    ]);
    expect([c.maxKeyAgeDays, c.maxGrantHours, c.verifyRequiredGroups]).toEqual([365, 720, ['Admins']]);
  });

  it.each([
    ['readerAccountIds', '12345'],
    ['readerAccountIds', 42],
    ['readerOrgId', 'org-1'],
    ['readerPrincipalArnPatterns', '*'],
    ['breakGlassPrincipalArns', 'arn:aws:iam::123456789012:role/*'],
    ['keyPrefix', '../x'],
    ['keyPrefix', 'a*'],
    ['tagKeyPrefix', 'ssh-*'],
    ['tagKeyPrefix', 'aws:ssh'],
    ['tagKeyPrefix', 42],
    ['scheduleMinutes', 'soon'],
    ['eventDriven', 'yes'],
    ['bucketName', 'Bad_Bucket'],
    ['alarmTopicArn', 'arn:aws:sqs:eu-west-1:123456789012:q'],
    ['selfServiceGroupName', 'has space'],
    ['agentS3Uri', 's3://b-1/key'],
    ['agentRegion', 'eu-west-1'],
    ['readerBucket', 'x'],
    ['maxKeyAgeDays', '0'],
    ['maxKeyAgeDays', '30d'],
    ['maxKeyAgeDays', 3651],
    ['maxKeyAgeDays', 1.5],
    ['maxGrantHours', '0'],
    ['maxGrantHours', '721'],
    ['maxGrantHours', '4h'],
    ['verifyRequiredGroups', 'ok,not ok'],
    ['verifyRequiredGroups', ['a,b']],
    ['verifyRequiredGroups', 7],
    ['grantTagPrefix', 'ssh-grant*'],
    ['grantTagPrefix', 'ssh-grant'],
    ['grantTagPrefix', 'aws:grant:'],
    ['grantTagPrefix', 42],
    // Overlaps the default tag key prefix ssh-key:, in any case, either way round.
    ['grantTagPrefix', 'ssh-key:'],
    ['grantTagPrefix', 'SSH-KEY:grant:'],
    ['grantTagPrefix', 'ssh-key:Admin/'],
  ])('rejects %s=%j with an error naming the setting', (name, value) => {
    expect(() => parseAppConfig((n) => (n === name ? value : undefined))).toThrow(
      expect.objectContaining({ name: 'InvalidConfigError', message: expect.stringContaining(name) }),
    );
  });

  it('refuses a grant tag prefix that starts the tag key prefix, without case', () => {
    const ctx: Record<string, string> = { tagKeyPrefix: 'corp/ssh:grant:key:', grantTagPrefix: 'CORP/SSH:' };
    expect(() => parseAppConfig((n) => ctx[n])).toThrow(/grantTagPrefix: .*overlaps the key tag prefix/);
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

describe('parseAuditRetentionDays', () => {
  it.each([
    [undefined, 400],
    ['', 400],
    ['1', 1],
    [30, 30],
    [' 3650 ', 3650],
  ])('%j -> %j', (input, expected) => {
    expect(parseAuditRetentionDays(input)).toBe(expected);
  });
  it.each(['0', 0, '3651', '1.5', 'x', -5, true])('rejects %j', (input) => {
    expect(() => parseAuditRetentionDays(input)).toThrow(/auditRetentionDays/);
  });
  it('refuses a readerAuditBucket that is not a bucket name', () => {
    expect(() => parseAppConfig((n) => ({ readerBucket: 'b-1', readerAuditBucket: 'Bad_Name' })[n])).toThrow(
      /readerAuditBucket/,
    );
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
  it.each([
    'ab',
    'ABC',
    'a_b',
    '-abc',
    'abc-',
    'a..b',
    '192.168.1.1',
    `a${'b'.repeat(62)}c`,
    'xn--keys',
    'keys--x-s3',
  ])('rejects %j', (name) => {
    expect(() => parseBucketName(name, 'bucketName')).toThrow(InvalidConfigError);
  });
});

describe('parseS3Folder', () => {
  it.each([
    ['s3://artifacts/iam-ssh-keys/', { bucket: 'artifacts', prefix: 'iam-ssh-keys/' }],
    ['s3://artifacts/a/b/v1.2.3/', { bucket: 'artifacts', prefix: 'a/b/v1.2.3/' }],
    ['s3://artifacts/rel_1-0/', { bucket: 'artifacts', prefix: 'rel_1-0/' }],
    ['s3://artifacts/', { bucket: 'artifacts', prefix: '' }],
  ])('%j', (uri, expected) => {
    expect(parseS3Folder(uri)).toEqual(expected);
  });
  // A file instead of a folder, or anything that would need quoting (or worse) inside the user-data script.
  it.each<[string, RegExp]>([
    ['s3://artifacts/iam-authorized-keys', /release folder s3:\/\/bucket\/path\/ \(ending in \/\)/],
    ['s3://artifacts', /release folder/],
    ['https://artifacts/rel/', /release folder/],
    ["s3://artifacts/a'b/", /only letters, digits and \._-\//],
    ['s3://artifacts/a b/', /only letters/],
    ['s3://artifacts/$(reboot)/', /only letters/],
    ['s3://artifacts/a/../b/', /no empty, \. or \.\. segments/],
    ['s3://artifacts/./', /segments/],
    ['s3://artifacts//b/', /segments/],
    ['s3://artifacts/a//', /segments/],
    [`s3://artifacts/${'a/'.repeat(500)}`, /only letters/],
    ['s3://Bad_Bucket/rel/', /not a valid S3 bucket name/],
  ])('rejects %j', (uri, message) => {
    expect(() => parseS3Folder(uri)).toThrow(InvalidConfigError);
    expect(() => parseS3Folder(uri)).toThrow(message);
  });
});

describe('parseAgentSha256', () => {
  const A = 'a'.repeat(64);
  const B = 'b'.repeat(64);
  it.each<[string, Record<string, string>]>([
    [`x64:${A},arm64:${B}`, { x64: A, arm64: B }],
    [`arm64:${B},x64:${A}`, { x64: A, arm64: B }],
    [`x64:${A}`, { x64: A }],
    [`arm64:${B}`, { arm64: B }],
    [` x64 : ${A.toUpperCase()} , arm64:${B}, `, { x64: A, arm64: B }],
  ])('%j', (value, expected) => {
    expect(parseAgentSha256(value)).toEqual(expected);
  });

  it.each<[string, string, RegExp]>([
    ['nothing', ' , ', /expected x64:<sha256>,arm64:<sha256>/],
    ['a bare checksum (the old format)', A, /names no architecture: expected x64:<sha256>,arm64:<sha256>/],
    ['an unknown architecture', `x86_64:${A}`, /unknown architecture "x86_64" \(known: x64, arm64\)/],
    ['an upper-case architecture', `X64:${A}`, /unknown architecture "X64"/],
    ['a duplicate', `x64:${A},x64:${B}`, /x64 is given twice/],
    ['a short checksum', `x64:${'a'.repeat(63)}`, /x64: expected 64 hex digits/],
    ['a long checksum', `arm64:${'a'.repeat(65)}`, /arm64: expected 64 hex digits.*linux-arm64/],
    ['a non-hex checksum', `x64:${'g'.repeat(64)}`, /x64: expected 64 hex digits/],
    ['an empty checksum', 'x64:', /x64: expected 64 hex digits/],
  ])('rejects %s', (_label, value, message) => {
    expect(() => parseAgentSha256(value)).toThrow(
      expect.objectContaining({ name: 'InvalidConfigError', message: expect.stringMatching(message) }),
    );
    expect(() => parseAgentSha256(value)).toThrow(/^agentSha256: /);
  });
});

describe('parseAgentSource', () => {
  const FOLDER = 's3://artifacts/rel/1.0/';
  it('needs both the folder and the checksums, or neither', () => {
    expect(parseAgentSource(undefined, undefined)).toBeUndefined();
    expect(() => parseAgentSource(FOLDER, undefined)).toThrow(/together/);
    expect(() => parseAgentSource(undefined, `x64:${SHA}`)).toThrow(/together/);
  });

  it('returns the folder, the lower-cased checksums and the optional region', () => {
    expect(parseAgentSource(FOLDER, `x64:${SHA.toUpperCase()}`)).toEqual({
      s3Uri: FOLDER,
      sha256: { x64: SHA },
    });
    expect(parseAgentSource(FOLDER, `arm64:${SHA}`, 'us-gov-west-1')).toEqual({
      s3Uri: FOLDER,
      sha256: { arm64: SHA },
      region: 'us-gov-west-1',
    });
  });

  // contract/aws-names.ts: every partition's regions, as the host agent's config accepts them.
  it.each(['eusc-de-east-1', 'cn-northwest-1', 'us-isob-east-1', 'il-central-1'])(
    'accepts the region %s',
    (r) => expect(parseAgentSource(FOLDER, `x64:${SHA}`, r)?.region).toBe(r),
  );

  it.each<[string, string | undefined, string | undefined, string | undefined, RegExp]>([
    [
      'a file URI',
      's3://artifacts/agent',
      `x64:${SHA}`,
      undefined,
      /agentS3Uri: expected the release folder/,
    ],
    ['the old checksum format', FOLDER, SHA, undefined, /agentSha256: .*names no architecture/],
    ['a bad region', FOLDER, `x64:${SHA}`, 'EU-WEST-1', /agentRegion: "EU-WEST-1" is not valid/],
    ['a region with a quote', FOLDER, `x64:${SHA}`, "eu-west-1'", /agentRegion/],
    ['a region of no partition', FOLDER, `x64:${SHA}`, 'xx-west-1', /agentRegion/],
    ['a region alone', undefined, undefined, 'eu-west-1', /agentRegion: needs agentS3Uri and agentSha256/],
  ])('rejects %s', (_label, uri, sums, region, message) => {
    expect(() => parseAgentSource(uri, sums, region)).toThrow(
      expect.objectContaining({ name: 'InvalidConfigError', message: expect.stringMatching(message) }),
    );
  });
});

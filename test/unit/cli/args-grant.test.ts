import { describe, expect, it } from 'vitest';
import { parseArgs, UsageError } from '../../../cli/args.js';

describe('parseArgs: grant, grants', () => {
  it.each([
    [
      ['grant', '--user', 'alice', '--group', 'Administrators', '--for', '4h'],
      { cmd: 'grant', revoke: false, user: 'alice', group: 'Administrators', for: '4h', seconds: 14400 },
    ],
    [
      ['grant', '--user=alice', '--group=Admins', '--for=90m', '--grant-tag-prefix', 'corp/grant:'],
      {
        cmd: 'grant',
        revoke: false,
        user: 'alice',
        group: 'Admins',
        for: '90m',
        seconds: 5400,
        grantTagPrefix: 'corp/grant:',
      },
    ],
    [
      ['grant', '--user', 'alice', '--group', 'Admins', '--for', '24h', '--max-grant-hours', '24'],
      { cmd: 'grant', revoke: false, user: 'alice', group: 'Admins', for: '24h', seconds: 86400 },
    ],
    [
      ['grant', '--revoke', '--user', 'alice', '--group', 'Administrators'],
      { cmd: 'grant', revoke: true, user: 'alice', group: 'Administrators' },
    ],
    [['grants', '--bucket', 'b'], { cmd: 'grants', bucket: 'b', json: false }],
    [
      ['grants', '--bucket', 'b', '--prefix', 'p', '--json'],
      { cmd: 'grants', bucket: 'b', prefix: 'p', json: true },
    ],
  ])('%j', (argv, expected) => {
    expect(parseArgs(argv)).toEqual(expected);
  });

  it.each([
    [
      ['grant', '--user', 'alice', '--group', 'A', '--for', '13h'],
      /refusing --for 13h \(13 h\): longer than the maximum grant of 12 h/,
    ],
    [['grant', '--user', 'alice', '--group', 'A', '--for', '12h1m'], /longer than the maximum grant of 12 h/],
    [
      ['grant', '--user', 'alice', '--group', 'A', '--for', '5h', '--max-grant-hours', '4'],
      /maximum grant of 4 h/,
    ],
    [
      ['grant', '--user', 'alice', '--group', 'A', '--for', '1h', '--max-grant-hours', '0'],
      /--max-grant-hours must be a whole number from 1 to 720/,
    ],
    [['grant', '--user', 'alice', '--group', 'A', '--for', '4'], /--for "4": expected a duration/],
    [['grant', '--user', 'alice', '--group', 'A'], /grant needs --for DURATION/],
    [['grant', '--user', 'alice', '--for', '4h'], /grant needs --user IAM_USER and --group IAM_GROUP/],
    [['grant', '--group', 'A', '--for', '4h'], /grant needs --user/],
    [['grant', '--user', 'a b', '--group', 'A', '--for', '4h'], /--user: "a b" is not an IAM user name/],
    [
      ['grant', '--user', 'alice', '--group', 'A/B', '--for', '4h'],
      /--group: "A\/B" is not an IAM group name/,
    ],
    [
      ['grant', '--revoke', '--user', 'alice', '--group', 'A', '--for', '4h'],
      /grant --revoke ends a grant: it takes no --for or --max-grant-hours/,
    ],
    [
      ['grant', '--user', 'alice', '--group', 'A', '--for', '4h', '--bucket', 'b'],
      /--bucket does not apply to grant/,
    ],
    [['grant', '--user', 'alice', '--group', 'A', '--for', '4h', 'extra'], /unexpected argument extra/],
    [['grants'], /grants needs --bucket NAME/],
    [['grants', '--bucket', 'b', '--user', 'alice'], /--user does not apply to grants/],
    [['publish', '--bucket', 'b', '--revoke'], /--revoke does not apply to publish/],
    [['status', '--bucket', 'b', '--max-key-age-days', '9'], /--max-key-age-days does not apply to status/],
  ])('refuses %j', (argv, message) => {
    expect(() => parseArgs(argv)).toThrow(UsageError);
    expect(() => parseArgs(argv)).toThrow(message);
  });
});

describe('parseArgs: publish key lifecycle options', () => {
  const base = {
    cmd: 'publish',
    bucket: 'b',
    dryRun: false,
    allowMassDelete: false,
    allowIndexReset: false,
    json: false,
  };
  it.each([
    [['--max-key-age-days', '90'], { maxKeyAgeDays: 90 }],
    [['--max-grant-hours', '4'], { maxGrantHours: 4 }],
    [
      ['--verify-required-groups', 'Admins, Db-Admins,Admins'],
      { verifyRequiredGroups: ['Admins', 'Db-Admins'] },
    ],
    [['--grant-tag-prefix', 'corp/grant:'], { grantTagPrefix: 'corp/grant:' }],
  ])('%j', (more, expected) => {
    expect(parseArgs(['publish', '--bucket', 'b', ...more])).toEqual({ ...base, ...expected });
  });

  it.each([
    [['--max-key-age-days', '0'], /--max-key-age-days must be a whole number from 1 to 3650/],
    [['--max-key-age-days', '90d'], /--max-key-age-days must be a number/],
    [['--max-grant-hours', '721'], /--max-grant-hours must be a whole number from 1 to 720/],
    [['--verify-required-groups', 'Admins,a b'], /"a b" is not an IAM group name/],
  ])('refuses %j', (more, message) => {
    expect(() => parseArgs(['publish', '--bucket', 'b', ...more])).toThrow(message);
  });
});

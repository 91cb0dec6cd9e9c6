// Global options (--profile, --region, --mfa-code) and the credentials command.
import { describe, expect, it } from 'vitest';
import { parseArgs, splitGlobalOptions } from '../../../cli/args.js';

describe('splitGlobalOptions', () => {
  it.each<[string[], Record<string, string>, string[]]>([
    [['keys', 'list'], {}, ['keys', 'list']],
    [['--profile', 'admin', 'keys', 'list'], { profile: 'admin' }, ['keys', 'list']],
    [
      ['status', '--bucket', 'b', '--profile=p', '--region', 'eu-west-1', '--mfa-code', '-'],
      { profile: 'p', region: 'eu-west-1', mfaCode: '-' },
      ['status', '--bucket', 'b'],
    ],
    [['credentials', '--mfa-code=123456', '--json'], { mfaCode: '123456' }, ['credentials', '--json']],
    // IAM user names that are Object.prototype properties are arguments, never global options.
    ...['__proto__', 'constructor', 'toString', 'valueOf', 'hasOwnProperty'].map(
      (n): [string[], Record<string, string>, string[]] => [
        ['keys', 'list', '--user', n, '--profile', 'p'],
        { profile: 'p' },
        ['keys', 'list', '--user', n],
      ],
    ),
  ])('%j', (argv, global, rest) => expect(splitGlobalOptions(argv)).toEqual({ global, rest }));

  it.each([
    [['keys', 'list', '--profile'], /--profile needs a value/],
    [['--region=', 'keys', 'list'], /--region needs a value/],
  ])('refuses %j', (argv, message) => expect(() => splitGlobalOptions(argv)).toThrow(message));
});

describe('parseArgs credentials', () => {
  it.each([
    [['credentials'], { cmd: 'credentials', json: false }],
    [
      ['credentials', '--role-arn', 'arn:aws:iam::1:role/r', '--duration', '900', '--json'],
      { cmd: 'credentials', roleArn: 'arn:aws:iam::1:role/r', durationSeconds: 900, json: true },
    ],
  ])('%j', (argv, want) => expect(parseArgs(argv)).toEqual(want));

  it.each([
    [['credentials', '--duration', '60'], /--duration must be a whole number of seconds, 900 to 43200/],
    [['credentials', '--duration', '1000.5'], /--duration must be/],
    [['credentials', '--bucket', 'b'], /--bucket does not apply to credentials/],
    [['credentials', 'extra'], /unexpected argument extra/],
    [['status', '--bucket', 'b', '--role-arn', 'x'], /--role-arn does not apply to status/],
  ])('refuses %j', (argv, message) => expect(() => parseArgs(argv)).toThrow(message));
});

// `iam-ssh-keys logins` arguments.
import { describe, expect, it } from 'vitest';
import { parseArgs, UsageError } from '../../../cli/args.js';

describe('parseArgs logins', () => {
  it.each<[string[], object]>([
    [['logins', '--bucket', 'a'], { cmd: 'logins', bucket: 'a', since: { ago: 86_400_000 }, json: false }],
    [
      [
        'logins',
        '--bucket=a',
        '--since',
        '7d',
        '--until',
        '2026-12-07T10:00:00Z',
        '--user',
        'alice',
        '--instance',
        'i-0aaaaaaaaaaaaaaaa',
        '--local-user',
        'ec2-user',
        '--keys-bucket',
        'k',
        '--keys-prefix',
        'ssh/',
        '--json',
      ],
      {
        cmd: 'logins',
        bucket: 'a',
        since: { ago: 7 * 86_400_000 },
        until: { at: Date.parse('2026-12-07T10:00:00Z') },
        user: 'alice',
        instance: 'i-0aaaaaaaaaaaaaaaa',
        localUser: 'ec2-user',
        keysBucket: 'k',
        keysPrefix: 'ssh/',
        json: true,
      },
    ],
  ])('%j', (argv, expected) => {
    expect(parseArgs(argv)).toEqual(expected);
  });

  it.each<[string[], RegExp]>([
    [['logins'], /logins needs --bucket/],
    [['logins', '--bucket', 'a', '--since', 'yesterday'], /--since takes a duration/],
    [['logins', '--bucket', 'a', '--until', '5'], /--until takes a duration/],
    [['logins', '--bucket', 'a', '--prefix', 'p/'], /--prefix does not apply to logins/],
    [['logins', '--bucket', 'a', '--keys-prefix', 'p/'], /--keys-prefix needs --keys-bucket/],
    [['logins', '--bucket', 'a', 'extra'], /unexpected argument extra/],
    [['status', '--bucket', 'a', '--since', '1h'], /--since does not apply to status/],
  ])('%j: %s', (argv, message) => {
    expect(() => parseArgs(argv)).toThrow(UsageError);
    expect(() => parseArgs(argv)).toThrow(message);
  });
});

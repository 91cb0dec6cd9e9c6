import { describe, expect, it } from 'vitest';
import { type Command, parseArgs } from '../../../host-agent/args.js';
import { DEFAULT_CONFIG_PATH } from '../../../host-agent/config.js';
import { UsageError } from '../../../host-agent/errors.js';

const FP = 'SHA256:RPLynQ5OREsukid9Hhg0+NQ7gmeTcFl+SqLmiEDLpu4';
const login = (user: string, fingerprint?: string, configPath = DEFAULT_CONFIG_PATH): Command => ({
  kind: 'login',
  configPath,
  user,
  ...(fingerprint ? { fingerprint } : {}),
});

describe('parseArgs', () => {
  const ok: [string, string[], Command][] = [
    ['user only', ['ec2-user'], login('ec2-user')],
    ['user and fingerprint', ['ec2-user', FP], login('ec2-user', FP)],
    ['--config FILE', ['--config', '/etc/x.json', 'alice', FP], login('alice', FP, '/etc/x.json')],
    ['--config=FILE', ['--config=/etc/x.json', 'alice'], login('alice', undefined, '/etc/x.json')],
    ['-- forces login for an admin word', ['--', 'doctor', FP], login('doctor', FP)],
    ['%u %f shape with an admin word', ['doctor', FP], login('doctor', FP)],
    ['admin command', ['doctor'], { kind: 'admin', command: 'doctor', args: [] }],
    [
      'admin command with options',
      ['sync-users', '--dry-run', '--config', '/x'],
      { kind: 'admin', command: 'sync-users', args: ['--dry-run', '--config', '/x'] },
    ],
    ['help alone', ['--help'], { kind: 'help', alone: true }],
    ['-h alone', ['-h'], { kind: 'help', alone: true }],
    ['-h in a login shape', ['--config', '/x.json', '-h'], { kind: 'help', alone: false }],
    ['-h before a user', ['-h', 'alice'], { kind: 'help', alone: false }],
    ['a user named -h after --', ['--', '-h', FP], login('-h', FP)],
    [
      'a user named --help after --',
      ['--config', '/x.json', '--', '--help'],
      login('--help', undefined, '/x.json'),
    ],
  ];
  it.each(ok)('%s', (_n, argv, expected) => {
    expect(parseArgs(argv)).toEqual(expected);
  });

  const bad: [string, string[], RegExp][] = [
    ['nothing', [], /expected USER \[FINGERPRINT\], got 0/],
    ['three positionals', ['a', 'b', 'c'], /got 3/],
    ['--config without value', ['--config'], /--config needs a file path/],
    ['--config= empty', ['--config=', 'a'], /--config needs a file path/],
    ['unknown option', ['--verbose', 'a'], /unknown option "--verbose"/],
  ];
  it.each(bad)('rejects %s', (_n, argv, message) => {
    expect(() => parseArgs(argv)).toThrow(UsageError);
    expect(() => parseArgs(argv)).toThrow(message);
  });
});

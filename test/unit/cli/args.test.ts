import { describe, expect, it } from 'vitest';
import { parseArgs, UsageError } from '../../../cli/args.js';
import { statusReport } from '../../../cli/status-report.js';
import { publishConfigFromEnv } from '../../../lambda/config.js';

describe('parseArgs', () => {
  it.each([
    [
      ['publish', '--bucket', 'b'],
      {
        cmd: 'publish',
        bucket: 'b',
        dryRun: false,
        allowMassDelete: false,
        allowIndexReset: false,
        json: false,
      },
    ],
    [
      ['publish', '--bucket=b', '--prefix', 'p', '--dry-run', '--max-delete-share', '0.2'],
      {
        cmd: 'publish',
        bucket: 'b',
        prefix: 'p',
        dryRun: true,
        allowMassDelete: false,
        allowIndexReset: false,
        maxDeleteShare: 0.2,
        json: false,
      },
    ],
    [
      ['publish', '--bucket', 'b', '--event', 'ev.json'],
      {
        cmd: 'publish',
        bucket: 'b',
        dryRun: false,
        allowMassDelete: false,
        allowIndexReset: false,
        json: false,
        event: 'ev.json',
      },
    ],
    [
      ['status', '--bucket', 'b', '--max-age', '60'],
      { cmd: 'status', bucket: 'b', maxAge: 60, expiringWithin: 14, json: false },
    ],
    [
      ['status', '--bucket', 'b', '--expiring-within', '30', '--json'],
      { cmd: 'status', bucket: 'b', maxAge: 3600, expiringWithin: 30, json: true },
    ],
    [['keys', 'list'], { cmd: 'keys', action: 'list' }],
    [
      ['keys', 'upload', '--user', 'bob', 'k.pub'],
      { cmd: 'keys', action: 'upload', user: 'bob', file: 'k.pub' },
    ],
    [['keys', 'deactivate', 'APKA1'], { cmd: 'keys', action: 'deactivate', keyId: 'APKA1' }],
    [
      ['keys', 'upload', '--label', 'yubikey', '--tag-key-prefix=corp:', 'k.pub'],
      { cmd: 'keys', action: 'upload', label: 'yubikey', tagKeyPrefix: 'corp:', file: 'k.pub' },
    ],
    [
      ['keys', 'delete', 'tag:ssh-key:laptop'],
      { cmd: 'keys', action: 'delete', keyId: 'tag:ssh-key:laptop' },
    ],
    [['keys', 'list', '--tag-key-prefix', 'corp:'], { cmd: 'keys', action: 'list', tagKeyPrefix: 'corp:' }],
    [
      ['publish', '--bucket', 'b', '--tag-key-prefix', 'corp:'],
      {
        cmd: 'publish',
        bucket: 'b',
        dryRun: false,
        allowMassDelete: false,
        allowIndexReset: false,
        json: false,
        tagKeyPrefix: 'corp:',
      },
    ],
    [[], { cmd: 'help' }],
  ])('%j', (argv, want) => expect(parseArgs(argv)).toEqual(want));

  it.each([
    [['publish'], /needs --bucket/],
    [['publish', '--bucket'], /--bucket needs a value/],
    [['publish', '--bucket', 'b', '--max-delete-share', '2'], /between 0 and 1/],
    [['publish', '--bucket', 'b', '--frobnicate'], /unknown option --frobnicate/],
    [['status', '--bucket', 'b', '--dry-run'], /--dry-run does not apply to status/],
    [['status', '--bucket', 'b', '--event', 'e.json'], /--event does not apply to status/],
    [['publish', '--bucket', 'b', '--event'], /--event needs a value/],
    [['keys', 'upload'], /exactly one FILE/],
    [['keys', 'rotate'], /unknown keys action/],
    [['keys', 'list', '--label', 'x'], /--label does not apply to keys list/],
    [['keys', 'delete', '--label', 'x', 'APKA1'], /--label does not apply to keys delete/],
    [['status', '--bucket', 'b', '--tag-key-prefix', 'x'], /--tag-key-prefix does not apply to status/],
    [['status', '--bucket', 'b', '--expiring-within', '-1'], /--expiring-within must be 0 to 3650 days/],
    [['status', '--bucket', 'b', '--expiring-within', 'soon'], /--expiring-within must be a number/],
    [['publish', '--bucket', 'b', '--expiring-within', '3'], /--expiring-within does not apply to publish/],
    [['deploy'], /unknown command/],
  ])('refuses %j', (argv, reason) => expect(() => parseArgs(argv)).toThrow(reason));
});

describe('statusReport', () => {
  const index = {
    version: 1,
    generatedAt: '2026-01-01T00:00:00.000Z',
    users: {
      a: {
        localName: 'a',
        uid: 1,
        groups: [],
        keys: [
          { id: 'K', type: 'ssh-ed25519', fingerprint: 'SHA256:x' },
          { id: 'tag:ssh-key:pc', tagKey: 'ssh-key:pc', type: 'ssh-ed25519', fingerprint: 'SHA256:y' },
        ],
      },
      'long@x': {
        localName: null,
        localNameProblem: 'too long',
        uid: 2,
        groups: [],
        keys: [],
        rejectedKeys: [
          { id: 'R', reason: 'bad' },
          { id: 'tag:ssh-key:old', tagKey: 'ssh-key:old', reason: 'tag value longer than IAM allows' },
        ],
      },
    },
    groups: {},
    keyBodies: {},
    uids: {},
    nextUid: 3,
  };
  it.each([
    [30, 60, true],
    [120, 60, false],
  ])('age %i s with max %i s: ok=%s', (age, max, ok) => {
    const r = statusReport(index, new Date(Date.parse(index.generatedAt) + age * 1000), max);
    expect(r.ok).toBe(ok);
    expect(r.ageSeconds).toBe(age);
    expect(r.lines.join('\n')).toMatch(
      /users: 2 {2}groups: 0 {2}keys: 2 {2}rejected keys: 2 {2}keys from tags: 1/,
    );
    expect(r.lines).toContain('rejected key R of long@x: bad');
    expect(r.lines).toContain('rejected key tag:ssh-key:old of long@x: tag value longer than IAM allows');
    expect(r.data).toMatchObject({ keys: 2, tagKeys: 1 });
    expect(r.lines).toContain('no local name for long@x: too long');
  });
});

describe('publishConfigFromEnv', () => {
  it('reads the Lambda environment with defaults', () => {
    expect(publishConfigFromEnv({ BUCKET: 'b', KEY_PREFIX: 'p' })).toMatchObject({
      bucket: 'b',
      prefix: 'p/',
      maxDeleteShare: 0.5,
      allowMassDelete: false,
      uidBase: 20000,
      tagKeyPrefix: 'ssh-key:',
      eventFullRunIntervalMs: 3_600_000,
    });
    expect(publishConfigFromEnv({ BUCKET: 'b', TAG_KEY_PREFIX: 'corp/ssh:' }).tagKeyPrefix).toBe('corp/ssh:');
    expect(publishConfigFromEnv({ BUCKET: 'b', EVENT_FULL_RUN_MINUTES: '15' }).eventFullRunIntervalMs).toBe(
      900_000,
    );
  });
  it.each([
    [{}, /BUCKET is not set/],
    [{ BUCKET: 'b', ALLOW_MASS_DELETE: 'yes' }, /must be true or false/],
    [{ BUCKET: 'b', MAX_DELETE_SHARE: '1.5' }, /MAX_DELETE_SHARE/],
    [{ BUCKET: 'b', UID_BASE: '10' }, /UID_BASE/],
    [{ BUCKET: 'b', EVENT_FULL_RUN_MINUTES: '0' }, /EVENT_FULL_RUN_MINUTES/],
    [{ BUCKET: 'b', EVENT_FULL_RUN_MINUTES: '1.5' }, /EVENT_FULL_RUN_MINUTES/],
    [{ BUCKET: 'b', KEY_PREFIX: '../x' }, /invalid key prefix/],
    [{ BUCKET: 'b', TAG_KEY_PREFIX: 'ssh-*' }, /TAG_KEY_PREFIX: invalid tag key prefix/],
    [{ BUCKET: 'b', TAG_KEY_PREFIX: 'aws:ssh:' }, /TAG_KEY_PREFIX: .*IAM reserves aws:/],
  ])('refuses %j', (env, reason) => expect(() => publishConfigFromEnv(env)).toThrow(reason));
});

// Forms node:util parseArgs tokenizes: each kept to the old hand-rolled parser's behaviour.
describe('parseArgs argument forms', () => {
  const base = { cmd: 'publish', dryRun: false, allowMassDelete: false, allowIndexReset: false, json: false };
  it.each([
    [
      ['publish', '--bucket=b', '--prefix=p/', '--time-budget=60'],
      { ...base, bucket: 'b', prefix: 'p/', timeBudget: 60 },
    ],
    [['publish', '--bucket', 'a', '--bucket', 'b'], { ...base, bucket: 'b' }],
    [['publish', '--bucket', 'b', '--json', '--json'], { ...base, bucket: 'b', json: true }],
    [['publish', '--bucket', '-b'], { ...base, bucket: '-b' }],
    [['publish', '--bucket=a=b'], { ...base, bucket: 'a=b' }],
    [['keys', 'upload', '--label=x', 'k.pub'], { cmd: 'keys', action: 'upload', label: 'x', file: 'k.pub' }],
  ])('%j', (argv, want) => expect(parseArgs(argv)).toEqual(want));

  it.each([
    [['publish', '--bucket='], /^--bucket needs a value$/],
    [['publish', '--bucket', 'b', '--json=yes'], /^--json does not take a value$/],
    [['publish', '--bucket', 'b', '--frobnicate=1'], /^unknown option --frobnicate=1$/],
    [['publish', '--bucket', 'b', '-x'], /^unknown option -x$/],
    [['publish', '--bucket', 'b', '-abc'], /^unknown option -abc$/],
    [['publish', '--bucket', 'b', '--', 'x'], /^unknown option --$/],
    [['publish', '--bucket', 'b', '--constructor'], /^unknown option --constructor$/],
    [['publish', '--bucket', 'b', '--__proto__=x'], /^unknown option --__proto__=x$/],
    [['status', '--bucket', 'b', 'extra'], /^unexpected argument extra$/],
    [['keys', 'list', '--user'], /^--user needs a value$/],
  ])('refuses %j', (argv, reason) => expect(() => parseArgs(argv)).toThrow(reason));

  it('throws UsageError (exit 2 in cli/main.ts)', () => {
    expect(() => parseArgs(['publish', '--nope'])).toThrow(UsageError);
  });
});

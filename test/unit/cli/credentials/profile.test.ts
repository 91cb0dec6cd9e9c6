import { describe, expect, it } from 'vitest';
import {
  mergeProfiles,
  type Plan,
  parseIni,
  profileName,
  resolvePlan,
} from '../../../../cli/credentials/profile.js';

const KEYS = { accessKeyId: 'AKIDBASE', secretAccessKey: 'secret' };

const CONFIG = `
# comment
[default]
region = eu-west-1
s3 =
  max_concurrent_requests = 20

[profile base]
region = us-east-1

[profile admin]
role_arn = arn:aws:iam::1:role/admin
source_profile = base
mfa_serial = arn:aws:iam::1:mfa/alice
duration_seconds = 3600
external_id = ext
role_session_name = alice

[profile chained]
role_arn = arn:aws:iam::1:role/ro
source_profile = admin

[profile self]
role_arn = arn:aws:iam::1:role/self
source_profile = self
aws_access_key_id = AKIDSELF
aws_secret_access_key = s

[profile ec2]
role_arn = arn:aws:iam::1:role/x
credential_source = Ec2InstanceMetadata

[profile env]
role_arn = arn:aws:iam::1:role/x
credential_source = Environment

[profile mfa-user]
mfa_serial = arn:aws:iam::1:mfa/bob

[profile sso]
sso_session = corp
sso_account_id = 1

[sso-session corp]
sso_region = eu-west-1

[profile loop-a]
role_arn = arn:aws:iam::1:role/a
source_profile = loop-b

[profile loop-b]
role_arn = arn:aws:iam::1:role/b
source_profile = loop-a

[profile orphan]
role_arn = arn:aws:iam::1:role/x

[profile both]
role_arn = arn:aws:iam::1:role/x
source_profile = base
credential_source = Environment

[profile bad-duration]
role_arn = arn:aws:iam::1:role/x
source_profile = base
duration_seconds = 60

[profile mfa-nothing]
mfa_serial = arn:aws:iam::1:mfa/x
`;
const CREDENTIALS = `[base]
aws_access_key_id = AKIDBASE
aws_secret_access_key = secret
[mfa-user]
aws_access_key_id = AKIDBOB
aws_secret_access_key = bobsecret
[default]
aws_access_key_id = AKIDDEF
aws_secret_access_key = d
`;
const profiles = mergeProfiles(CONFIG, CREDENTIALS);

describe('parseIni', () => {
  it('reads [profile x] in config, [x] in credentials, skips other sections and sub-settings', () => {
    const c = parseIni(CONFIG, 'config');
    expect(c.get('default')).toEqual({ region: 'eu-west-1', s3: '' });
    expect(c.has('corp')).toBe(false);
    expect(c.has('sso-session corp')).toBe(false);
    expect(parseIni('[profile x]\na=1\n', 'credentials').get('profile x')).toEqual({ a: '1' });
  });
  it('the credentials file wins over the config file', () => {
    const m = mergeProfiles(
      '[profile p]\naws_access_key_id = A\nregion = r\n',
      '[p]\naws_access_key_id = B\n',
    );
    expect(m.get('p')).toEqual({ aws_access_key_id: 'B', region: 'r' });
  });
});

describe('resolvePlan', () => {
  const admin = {
    kind: 'assume-role' as const,
    profile: 'admin',
    roleArn: 'arn:aws:iam::1:role/admin',
    serialNumber: 'arn:aws:iam::1:mfa/alice',
    externalId: 'ext',
    roleSessionName: 'alice',
    durationSeconds: 3600,
  };
  it.each<[string, Plan]>([
    ['base', { base: { kind: 'static', profile: 'base', credentials: KEYS }, steps: [] }],
    ['admin', { base: { kind: 'static', profile: 'base', credentials: KEYS }, steps: [admin] }],
    [
      'chained',
      {
        base: { kind: 'static', profile: 'base', credentials: KEYS },
        steps: [admin, { kind: 'assume-role', profile: 'chained', roleArn: 'arn:aws:iam::1:role/ro' }],
      },
    ],
    [
      'self',
      {
        base: {
          kind: 'static',
          profile: 'self',
          credentials: { accessKeyId: 'AKIDSELF', secretAccessKey: 's' },
        },
        steps: [{ kind: 'assume-role', profile: 'self', roleArn: 'arn:aws:iam::1:role/self' }],
      },
    ],
    [
      'ec2',
      {
        base: { kind: 'instance-metadata' },
        steps: [{ kind: 'assume-role', profile: 'ec2', roleArn: 'arn:aws:iam::1:role/x' }],
      },
    ],
    [
      'env',
      {
        base: { kind: 'environment' },
        steps: [{ kind: 'assume-role', profile: 'env', roleArn: 'arn:aws:iam::1:role/x' }],
      },
    ],
    [
      'mfa-user',
      {
        base: {
          kind: 'static',
          profile: 'mfa-user',
          credentials: { accessKeyId: 'AKIDBOB', secretAccessKey: 'bobsecret' },
        },
        steps: [{ kind: 'session-token', profile: 'mfa-user', serialNumber: 'arn:aws:iam::1:mfa/bob' }],
      },
    ],
    ['sso', { base: { kind: 'sdk-profile', profile: 'sso' }, steps: [] }],
  ])('%s', (name, want) => expect(resolvePlan(profiles, name)).toEqual(want));

  it('--role-arn on an MFA user: one AssumeRole carrying its MFA device (no GetSessionToken)', () => {
    expect(
      resolvePlan(profiles, 'mfa-user', { roleArn: 'arn:aws:iam::1:role/deploy', durationSeconds: 900 }),
    ).toEqual({
      base: {
        kind: 'static',
        profile: 'mfa-user',
        credentials: { accessKeyId: 'AKIDBOB', secretAccessKey: 'bobsecret' },
      },
      steps: [
        {
          kind: 'assume-role',
          profile: 'mfa-user --role-arn',
          roleArn: 'arn:aws:iam::1:role/deploy',
          serialNumber: 'arn:aws:iam::1:mfa/bob',
          durationSeconds: 900,
        },
      ],
    });
  });

  it('--role-arn on a role profile chains from its session', () => {
    const plan = resolvePlan(profiles, 'admin', { roleArn: 'arn:aws:iam::1:role/deploy' });
    expect(plan.steps.map((s) => [s.kind, s.profile, s.serialNumber])).toEqual([
      ['assume-role', 'admin', 'arn:aws:iam::1:mfa/alice'],
      ['assume-role', 'admin --role-arn', undefined],
    ]);
  });

  it.each([
    ['nope', /profile nope does not exist/],
    ['loop-a', /loop-a -> loop-b -> loop-a form a source_profile loop/],
    ['orphan', /has role_arn but no source_profile or credential_source/],
    ['both', /both source_profile and credential_source/],
    ['bad-duration', /duration_seconds must be 900..43200/],
    ['mfa-nothing', /has mfa_serial but neither role_arn nor keys/],
  ])('refuses %s', (name, message) => expect(() => resolvePlan(profiles, name)).toThrow(message));
});

describe('profileName', () => {
  it.each([
    ['p', {}, { name: 'p', explicit: true }],
    [undefined, { AWS_PROFILE: 'q' }, { name: 'q', explicit: true }],
    ['p', { AWS_PROFILE: 'q' }, { name: 'p', explicit: true }],
    [undefined, { AWS_ACCESS_KEY_ID: 'a', AWS_SECRET_ACCESS_KEY: 'b' }, undefined],
    [undefined, {}, { name: 'default', explicit: false }],
  ])('--profile %s with %j', (explicit, env, want) => expect(profileName(explicit, env)).toEqual(want));
});

// Which endpoints the CLI's clients resolve to under AWS_USE_FIPS_ENDPOINT and a
// profile's use_fips_endpoint (no network: the request is stopped once built).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ListUsersCommand } from '@aws-sdk/client-iam';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { afterAll, describe, expect, it } from 'vitest';
import { credentialSetup } from '../../../../cli/credentials/setup.js';
import { sdkOptions } from '../../../../cli/run.js';
import { createClients } from '../../../../lambda/clients.js';
import { requestUrl } from '../../../helpers/sdk-endpoint.js';

const home = mkdtempSync(join(tmpdir(), 'iak-cli-fips-'));
afterAll(() => rmSync(home, { recursive: true, force: true }));
writeFileSync(
  join(home, 'config'),
  [
    '[profile plain]',
    'region = us-east-1',
    '[profile fips]',
    'region = us-east-2',
    'use_fips_endpoint = true',
    // A role profile: its clients get our provider, not the profile, so the CLI passes FIPS on itself.
    '[profile fips-role]',
    'region = us-west-2',
    'role_arn = arn:aws:iam::111111111111:role/admin',
    'source_profile = base',
    'use_fips_endpoint = true',
    '[profile base]',
    'aws_access_key_id = AKIDBASE',
    'aws_secret_access_key = s',
    '[profile typo]',
    'use_fips_endpoint = yes',
  ].join('\n'),
);
const creds = { accessKeyId: 'AKID', secretAccessKey: 's' };

async function endpoints(profile: string, extraEnv: Record<string, string> = {}) {
  const env = { HOME: home, AWS_CONFIG_FILE: join(home, 'config'), ...extraEnv };
  const auth = credentialSetup({ profile }, env);
  const { iam, s3 } = createClients({
    env,
    ...(auth.region ? { region: auth.region } : {}),
    ...sdkOptions(auth),
    credentials: async () => creds,
  });
  const sts = new STSClient({ region: auth.region ?? 'us-east-1', ...sdkOptions(auth), credentials: creds });
  return {
    fips: auth.useFipsEndpoint,
    s3: await requestUrl(s3, new GetObjectCommand({ Bucket: 'keys-bucket', Key: 'index.json' })),
    iam: await requestUrl(iam, new ListUsersCommand({})),
    sts: await requestUrl(sts, new GetCallerIdentityCommand({})),
    // The STS client of the role chain (AssumeRole for fips-role).
    chain: await requestUrl(auth.deps.sts(creds), new GetCallerIdentityCommand({})),
  };
}

describe('the CLI: AWS_USE_FIPS_ENDPOINT, else the profile use_fips_endpoint', () => {
  it.each([
    ['plain', {}, undefined, 'us-east-1', false],
    ['plain', { AWS_USE_FIPS_ENDPOINT: 'true' }, true, 'us-east-1', true],
    ['fips', {}, true, 'us-east-2', true],
    ['fips', { AWS_USE_FIPS_ENDPOINT: 'false' }, false, 'us-east-2', false],
    ['fips-role', {}, true, 'us-west-2', true],
  ] as [string, Record<string, string>, boolean | undefined, string, boolean][])(
    'profile %s, env %j: useFipsEndpoint %j, %s FIPS endpoints: %j',
    async (profile, env, fips, region, useFips) => {
      const f = useFips ? '-fips' : '';
      expect(await endpoints(profile, env)).toEqual({
        fips,
        s3: `https://keys-bucket.s3${f}.${region}.amazonaws.com/index.json`,
        iam: `https://iam${f}.amazonaws.com/`,
        sts: `https://sts${f}.${region}.amazonaws.com/`,
        chain: `https://sts${f}.${region}.amazonaws.com/`,
      });
    },
  );

  it.each([
    ['typo', {}, /use_fips_endpoint of profile typo must be true or false, not "yes"/],
    ['plain', { AWS_USE_FIPS_ENDPOINT: '1' }, /AWS_USE_FIPS_ENDPOINT must be true or false, not "1"/],
  ] as [string, Record<string, string>, RegExp][])('refuses profile %s env %j', (profile, env, message) => {
    expect(() =>
      credentialSetup({ profile }, { HOME: home, AWS_CONFIG_FILE: join(home, 'config'), ...env }),
    ).toThrow(message);
  });
});

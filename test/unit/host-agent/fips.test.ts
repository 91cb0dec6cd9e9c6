import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { AssumeRoleCommand, STSClient } from '@aws-sdk/client-sts';
import { afterAll, describe, expect, it } from 'vitest';
import { S3_FIPS_REGIONS } from '../../../contract/fips.js';
import { ConfigError, parseConfig } from '../../../host-agent/config.js';
import { checkFipsEndpoints, fipsStsUrl, fipsWanted, s3Domain } from '../../../host-agent/fips.js';
import { createS3Fetcher, objectUrl } from '../../../host-agent/s3-fetch.js';
import { requestUrl } from '../../helpers/sdk-endpoint.js';

const ROLE = 'arn:aws:iam::111111111111:role/reader';
const creds = { accessKeyId: 'AKID', secretAccessKey: 's' };

describe('fipsWanted: the config key wins, else AWS_USE_FIPS_ENDPOINT as the SDK reads it', () => {
  it.each([
    [undefined, {}, false],
    [undefined, { AWS_USE_FIPS_ENDPOINT: 'true' }, true],
    [undefined, { AWS_USE_FIPS_ENDPOINT: 'false' }, false],
    [undefined, { AWS_USE_FIPS_ENDPOINT: '' }, false],
    [true, {}, true],
    [false, { AWS_USE_FIPS_ENDPOINT: 'true' }, false],
    [true, { AWS_USE_FIPS_ENDPOINT: 'false' }, true],
  ] as [boolean | undefined, NodeJS.ProcessEnv, boolean][])(
    'config %j env %j -> %j',
    (setting, env, want) => {
      expect(fipsWanted(setting === undefined ? {} : { useFipsEndpoint: setting }, env)).toBe(want);
    },
  );
  it.each(['TRUE', '1', 'yes'])('refuses AWS_USE_FIPS_ENDPOINT=%s (the SDK does too)', (v) => {
    expect(() => fipsWanted({}, { AWS_USE_FIPS_ENDPOINT: v })).toThrow(ConfigError);
    expect(() => checkFipsEndpoints({ region: 'us-east-1' }, { AWS_USE_FIPS_ENDPOINT: v })).toThrow(
      /AWS_USE_FIPS_ENDPOINT must be true or false/,
    );
  });
});

describe('objectUrl with FIPS', () => {
  const c = (bucket: string, region: string, endpoint?: string) => ({
    bucket,
    region,
    useFipsEndpoint: true,
    ...(endpoint ? { endpoint } : {}),
  });
  it.each([
    [c('keys', 'us-east-1'), {}, 'https://keys.s3-fips.us-east-1.amazonaws.com/index.json'],
    [c('keys', 'us-west-2'), {}, 'https://keys.s3-fips.us-west-2.amazonaws.com/index.json'],
    [c('keys', 'ca-central-1'), {}, 'https://keys.s3-fips.ca-central-1.amazonaws.com/index.json'],
    [c('keys', 'us-gov-west-1'), {}, 'https://keys.s3-fips.us-gov-west-1.amazonaws.com/index.json'],
    [c('my.keys', 'us-gov-east-1'), {}, 'https://s3-fips.us-gov-east-1.amazonaws.com/my.keys/index.json'],
    // From the environment when the config does not say.
    [
      { bucket: 'keys', region: 'us-east-2' },
      { AWS_USE_FIPS_ENDPOINT: 'true' },
      'https://keys.s3-fips.us-east-2.amazonaws.com/index.json',
    ],
    [
      { bucket: 'keys', region: 'us-east-2', useFipsEndpoint: false },
      { AWS_USE_FIPS_ENDPOINT: 'true' },
      'https://keys.s3.us-east-2.amazonaws.com/index.json',
    ],
  ] as [Parameters<typeof objectUrl>[0], NodeJS.ProcessEnv, string][])('%j %j', (config, env, url) => {
    expect(objectUrl(config, env, 'index.json').href).toBe(url);
  });

  it.each(['eu-west-1', 'ap-southeast-2', 'cn-north-1', 'sa-east-1'])(
    'refuses %s, which has no FIPS S3 endpoint, instead of using the regular one',
    (region) => {
      expect(() => objectUrl(c('keys', region), {}, 'index.json')).toThrow(ConfigError);
      expect(() => checkFipsEndpoints({ region, useFipsEndpoint: true }, {})).toThrow(
        `useFipsEndpoint: S3 has no FIPS endpoint in ${region}`,
      );
    },
  );

  it.each([...S3_FIPS_REGIONS].flatMap((r) => [[r, 'keys'] as const, [r, 'my.keys'] as const]))(
    '%s %s: the same URL as the AWS SDK with useFipsEndpoint',
    async (region, bucket) => {
      const sdk = new S3Client({ region, useFipsEndpoint: true, credentials: creds });
      const want = await requestUrl(sdk, new GetObjectCommand({ Bucket: bucket, Key: 'index.json' }));
      expect(objectUrl({ bucket, region, useFipsEndpoint: true }, {}, 'index.json').href).toBe(want);
    },
  );
});

describe('an explicit endpoint with FIPS is refused, as the AWS SDK refuses it', () => {
  const fips = { region: 'us-east-1', useFipsEndpoint: true };
  it.each([
    [{ ...fips, endpoint: 'https://vpce.example' }, {}, 'endpoint'],
    [fips, { AWS_ENDPOINT_URL_S3: 'https://s3.test' }, 'AWS_ENDPOINT_URL_S3'],
    [fips, { AWS_ENDPOINT_URL: 'https://all.test' }, 'AWS_ENDPOINT_URL'],
    [
      { region: 'us-east-1' },
      { AWS_USE_FIPS_ENDPOINT: 'true', AWS_ENDPOINT_URL_S3: 'https://s3.test' },
      'AWS_ENDPOINT_URL_S3',
    ],
    [{ ...fips, roleArn: ROLE }, { AWS_ENDPOINT_URL_STS: 'https://sts.test' }, 'AWS_ENDPOINT_URL_STS'],
  ] as [Parameters<typeof checkFipsEndpoints>[0], NodeJS.ProcessEnv, string][])(
    '%j %j',
    (config, env, name) => {
      expect(() => checkFipsEndpoints(config, env)).toThrow(
        new ConfigError(`${name} cannot be combined with useFipsEndpoint/AWS_USE_FIPS_ENDPOINT`),
      );
    },
  );
  it.each([
    [{ region: 'us-east-1', endpoint: 'https://vpce.example' }, {}],
    [
      { region: 'us-east-1', useFipsEndpoint: false },
      { AWS_ENDPOINT_URL: 'https://all.test', AWS_USE_FIPS_ENDPOINT: 'true' },
    ],
    [{ region: 'us-east-1', roleArn: ROLE }, { AWS_ENDPOINT_URL_STS: 'https://sts.test' }],
  ] as [Parameters<typeof checkFipsEndpoints>[0], NodeJS.ProcessEnv][])(
    'without FIPS: %j %j is fine',
    (config, env) => {
      expect(() => checkFipsEndpoints(config, env)).not.toThrow();
    },
  );
  it('the fetcher refuses before any request', () => {
    const config = parseConfig(JSON.stringify({ bucket: 'keys', region: 'us-east-1' }), 't');
    const env = { AWS_USE_FIPS_ENDPOINT: 'true', AWS_ENDPOINT_URL_S3: 'https://s3.test' };
    expect(() => createS3Fetcher(config, { env, warn: () => {}, now: Date.now })).toThrow(ConfigError);
  });
});

describe('fipsStsUrl: AssumeRole through STS FIPS', () => {
  it.each([
    ['us-east-1', 'https://sts-fips.us-east-1.amazonaws.com/'],
    ['us-west-2', 'https://sts-fips.us-west-2.amazonaws.com/'],
    ['us-gov-west-1', 'https://sts.us-gov-west-1.amazonaws.com/'],
    ['us-gov-east-1', 'https://sts.us-gov-east-1.amazonaws.com/'],
  ])('%s -> %s, as the AWS SDK', async (region, url) => {
    expect(fipsStsUrl({ region, roleArn: ROLE, useFipsEndpoint: true }, {})?.href).toBe(url);
    const sdk = new STSClient({ region, useFipsEndpoint: true, credentials: creds });
    const sent = await requestUrl(sdk, new AssumeRoleCommand({ RoleArn: ROLE, RoleSessionName: 's' }));
    expect(sent).toBe(url);
  });
  it.each([
    [{ region: 'us-east-1', roleArn: ROLE }, {}],
    [{ region: 'us-east-1', useFipsEndpoint: true }, {}], // no roleArn: STS is not used
  ] as [Parameters<typeof fipsStsUrl>[0], NodeJS.ProcessEnv][])(
    '%j %j: the usual endpoint',
    (config, env) => {
      expect(fipsStsUrl(config, env)).toBeUndefined();
    },
  );
  it('refuses roleArn with FIPS in Canada, where STS has no FIPS endpoint', () => {
    const config = { region: 'ca-central-1', roleArn: ROLE, useFipsEndpoint: true };
    expect(() => checkFipsEndpoints(config, {})).toThrow(
      /STS \(for roleArn\) has no FIPS endpoint in ca-central-1/,
    );
    expect(s3Domain(config, {})).toBe('s3-fips.ca-central-1.amazonaws.com');
  });
});

describe('createS3Fetcher with useFipsEndpoint and roleArn', () => {
  const dirs: string[] = [];
  afterAll(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });
  const stsOk = `<AssumeRoleResponse><AssumeRoleResult><Credentials><AccessKeyId>ASIAROLE</AccessKeyId><SecretAccessKey>s</SecretAccessKey><SessionToken>t</SessionToken><Expiration>2030-01-01T01:00:00Z</Expiration></Credentials></AssumeRoleResult></AssumeRoleResponse>`;
  it.each([
    [true, {}, 'sts-fips.us-west-2.amazonaws.com', 'keys.s3-fips.us-west-2.amazonaws.com'],
    [
      undefined,
      { AWS_USE_FIPS_ENDPOINT: 'true' },
      'sts-fips.us-west-2.amazonaws.com',
      'keys.s3-fips.us-west-2.amazonaws.com',
    ],
    [undefined, {}, 'sts.us-west-2.amazonaws.com', 'keys.s3.us-west-2.amazonaws.com'],
  ] as [boolean | undefined, NodeJS.ProcessEnv, string, string][])(
    'useFipsEndpoint %j env %j: STS at %s, S3 at %s',
    async (setting, extraEnv, stsHost, s3Host) => {
      const hosts: string[] = [];
      const config = parseConfig(
        JSON.stringify({
          bucket: 'keys',
          region: 'us-west-2',
          roleArn: ROLE,
          // Its own cache dir: a cached role from another case would skip STS.
          cache: { dir: dirs[dirs.push(mkdtempSync(join(tmpdir(), 'iak-fips-'))) - 1] },
          ...(setting === undefined ? {} : { useFipsEndpoint: setting }),
        }),
        't',
      );
      const f = createS3Fetcher(config, {
        env: { AWS_ACCESS_KEY_ID: 'BASE', AWS_SECRET_ACCESS_KEY: 'b', ...extraEnv },
        warn: () => {},
        now: () => Date.parse('2030-01-01T00:00:00Z'),
        uid: process.getuid?.() ?? 0,
        http: async (req) => {
          hosts.push(req.url.host);
          const body = req.url.host.startsWith('sts') ? stsOk : 'keys\n';
          return { status: 200, headers: {}, framed: true, body: Buffer.from(body) };
        },
      });
      expect(await f.get('index.json', {})).toMatchObject({ status: 200 });
      expect(hosts).toEqual([stsHost, s3Host]);
    },
  );
});

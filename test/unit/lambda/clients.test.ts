// The publisher's clients give up on a connection that never answers instead of
// holding the run: a real socket that accepts and says nothing.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ListUsersCommand } from '@aws-sdk/client-iam';
import { GetObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { listenLoopback } from '../../../dev/loopback.js';
import { createClients } from '../../../lambda/clients.js';
import { requestUrl } from '../../helpers/sdk-endpoint.js';

const creds = { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'secret' };

let server: Server;
const sockets: Socket[] = [];
const saved: Record<string, string | undefined> = {};
const ENV_KEYS = [
  'AWS_ACCESS_KEY_ID',
  'AWS_SECRET_ACCESS_KEY',
  'AWS_SESSION_TOKEN',
  'AWS_REGION',
  'AWS_ENDPOINT_URL',
];

beforeAll(async () => {
  server = createServer((s) => {
    sockets.push(s); // accepted, never answered
  });
  const { endpoint } = await listenLoopback(server);
  // The SDK reads credentials and the endpoint override from the process environment.
  for (const k of ENV_KEYS) saved[k] = process.env[k];
  Object.assign(process.env, {
    AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE',
    AWS_SECRET_ACCESS_KEY: 'secret',
    AWS_REGION: 'eu-west-1',
    AWS_ENDPOINT_URL: endpoint,
  });
  delete process.env.AWS_SESSION_TOKEN;
});
afterAll(async () => {
  for (const k of ENV_KEYS) {
    if (saved[k] === undefined) delete process.env[k];
    else process.env[k] = saved[k];
  }
  for (const s of sockets) s.destroy();
  await new Promise<void>((r) => server.close(() => r()));
});

describe('createClients', () => {
  it.each(['s3', 'iam'] as const)(
    '%s: a request that gets no answer fails each attempt at the request timeout, then the call fails',
    async (which) => {
      const { iam, s3 } = createClients({ requestTimeoutMs: 300, maxAttempts: 2 });
      const before = sockets.length;
      const send =
        which === 's3'
          ? s3.send(new ListObjectsV2Command({ Bucket: 'keys-bucket' }))
          : iam.send(new ListUsersCommand({}));
      await expect(send).rejects.toMatchObject({ name: expect.stringMatching(/TimeoutError/) });
      // Both attempts reached the silent server: the timeout ended each, then the call gave up.
      expect(sockets.length - before).toBe(2);
    },
  );
});

describe('createClients: FIPS endpoints (AWS_USE_FIPS_ENDPOINT, or the profile via useFipsEndpoint)', () => {
  // The SDK reads the environment itself too: none of the silent server's overrides here.
  const own: Record<string, string | undefined> = {};
  const KEYS = ['AWS_ENDPOINT_URL', 'AWS_USE_FIPS_ENDPOINT', 'AWS_CONFIG_FILE', 'AWS_PROFILE'];
  beforeEach(() => {
    for (const k of KEYS) {
      own[k] = process.env[k];
      delete process.env[k];
    }
  });
  afterEach(() => {
    for (const k of KEYS) {
      if (own[k] === undefined) delete process.env[k];
      else process.env[k] = own[k];
    }
  });
  const urls = async (opts: Parameters<typeof createClients>[0]) => {
    const { iam, s3 } = createClients(opts);
    return {
      s3: await requestUrl(s3, new GetObjectCommand({ Bucket: 'keys-bucket', Key: 'index.json' })),
      iam: await requestUrl(iam, new ListUsersCommand({})),
    };
  };
  const S3 = (host: string) => `https://keys-bucket.${host}/index.json`;
  it.each([
    [{}, undefined, S3('s3.us-east-1.amazonaws.com'), 'https://iam.amazonaws.com/'],
    [
      { AWS_USE_FIPS_ENDPOINT: 'true' },
      undefined,
      S3('s3-fips.us-east-1.amazonaws.com'),
      'https://iam-fips.amazonaws.com/',
    ],
    [
      { AWS_USE_FIPS_ENDPOINT: 'false' },
      true,
      S3('s3.us-east-1.amazonaws.com'),
      'https://iam.amazonaws.com/',
    ],
    [{}, true, S3('s3-fips.us-east-1.amazonaws.com'), 'https://iam-fips.amazonaws.com/'],
    [
      { AWS_USE_FIPS_ENDPOINT: 'true', AWS_REGION: 'us-gov-west-1' },
      undefined,
      S3('s3-fips.us-gov-west-1.amazonaws.com'),
      'https://iam.us-gov.amazonaws.com/',
    ],
  ] as [Record<string, string>, boolean | undefined, string, string][])(
    'env %j, useFipsEndpoint %j: S3 %s, IAM %s',
    async (env, useFipsEndpoint, s3, iam) => {
      const all = { AWS_REGION: 'us-east-1', ...env };
      expect(
        await urls({
          env: all,
          credentials: async () => creds,
          ...(useFipsEndpoint === undefined ? {} : { useFipsEndpoint }),
        }),
      ).toEqual({ s3, iam });
    },
  );

  it('reads AWS_USE_FIPS_ENDPOINT from the process environment when given none (the Lambda)', async () => {
    process.env.AWS_USE_FIPS_ENDPOINT = 'true';
    const { s3 } = await urls({ env: { AWS_REGION: 'us-east-2' }, credentials: async () => creds });
    expect(s3).toBe(S3('s3-fips.us-east-2.amazonaws.com'));
  });

  it("reads the profile's use_fips_endpoint (the SDK's lookup) when the environment does not say", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'iak-fips-'));
    try {
      writeFileSync(join(dir, 'config'), '[profile gov]\nregion = us-gov-east-1\nuse_fips_endpoint = true\n');
      process.env.AWS_CONFIG_FILE = join(dir, 'config');
      const { s3 } = await urls({
        env: {},
        profile: 'gov',
        region: 'us-gov-east-1',
        credentials: async () => creds,
      });
      expect(s3).toBe(S3('s3-fips.us-gov-east-1.amazonaws.com'));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses a value other than true or false, as the SDK does', () => {
    expect(() => createClients({ env: { AWS_USE_FIPS_ENDPOINT: 'yes' } })).toThrow(
      /AWS_USE_FIPS_ENDPOINT must be true or false, not "yes"/,
    );
  });

  it('an endpoint override and FIPS together: the SDK refuses both', async () => {
    const env = {
      AWS_REGION: 'us-east-1',
      AWS_USE_FIPS_ENDPOINT: 'true',
      AWS_ENDPOINT_URL: 'http://127.0.0.1:9',
    };
    process.env.AWS_ENDPOINT_URL = env.AWS_ENDPOINT_URL;
    const { iam, s3 } = createClients({ env, credentials: async () => creds });
    await expect(requestUrl(s3, new GetObjectCommand({ Bucket: 'b', Key: 'k' }))).rejects.toThrow(
      /custom endpoint cannot be combined with FIPS/,
    );
    await expect(requestUrl(iam, new ListUsersCommand({}))).rejects.toThrow(
      /FIPS and custom endpoint are not supported/,
    );
  });
});

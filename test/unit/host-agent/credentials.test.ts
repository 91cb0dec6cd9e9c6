// The credential chain; IMDS is a real local HTTP server speaking IMDSv2.

import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listenLoopback } from '../../../dev/loopback.js';
import {
  baseCredentials,
  type CredentialDeps,
  createCredentialProvider,
  fromEnv,
  fromProfileFiles,
  imdsSession,
  parseIni,
  roleCacheName,
  stsEndpoint,
} from '../../../host-agent/credentials.js';
import { CredentialsError, FetchError } from '../../../host-agent/errors.js';
import { request } from '../../../host-agent/http-client.js';

describe('parseIni', () => {
  it('reads sections, keys (lower-cased) and skips comments', () => {
    expect(parseIni('# c\n[default]\nAWS_Access_Key_Id = A\n; x\n[profile p]\nk=v=w\r\n')).toEqual({
      default: { aws_access_key_id: 'A' },
      'profile p': { k: 'v=w' },
    });
  });
});

describe('fromEnv', () => {
  it.each([
    [
      { AWS_ACCESS_KEY_ID: 'A', AWS_SECRET_ACCESS_KEY: 'S' },
      { accessKeyId: 'A', secretAccessKey: 'S' },
    ],
    [
      { AWS_ACCESS_KEY_ID: 'A', AWS_SECRET_ACCESS_KEY: 'S', AWS_SESSION_TOKEN: 'T' },
      { accessKeyId: 'A', secretAccessKey: 'S', sessionToken: 'T' },
    ],
    [{ AWS_ACCESS_KEY_ID: 'A' }, undefined],
    [{ AWS_ACCESS_KEY_ID: '', AWS_SECRET_ACCESS_KEY: 'S' }, undefined],
  ])('%j', (env, expected) => {
    expect(fromEnv(env)).toEqual(expected);
  });
});

describe('fromProfileFiles', () => {
  const files: Record<string, string> = {
    '/h/.aws/credentials':
      '[default]\naws_access_key_id=CD\naws_secret_access_key=cs\n[p1]\naws_access_key_id=C1\naws_secret_access_key=c1\naws_session_token=t1\n',
    '/h/.aws/config':
      '[default]\nregion=x\n[profile p2]\naws_access_key_id=F2\naws_secret_access_key=f2\n[profile sso]\nsso_start_url=x\n',
    '/alt/creds': '[default]\naws_access_key_id=ALT\naws_secret_access_key=alt\n',
  };
  const read = (p: string) => files[p];
  it.each([
    [{ HOME: '/h' }, 'CD'],
    [{ HOME: '/h', AWS_PROFILE: 'p1' }, 'C1'],
    [{ HOME: '/h', AWS_PROFILE: 'p2' }, 'F2'],
    [{ HOME: '/h', AWS_PROFILE: 'sso' }, undefined],
    [{ HOME: '/h', AWS_PROFILE: 'missing' }, undefined],
    [{ HOME: '/nowhere' }, undefined],
    [{ HOME: '/h', AWS_SHARED_CREDENTIALS_FILE: '/alt/creds' }, 'ALT'],
  ] as [NodeJS.ProcessEnv, string | undefined][])('%j -> %s', (env, id) => {
    expect(fromProfileFiles(env, read)?.accessKeyId).toBe(id);
  });
  it('keeps the session token', () => {
    expect(fromProfileFiles({ HOME: '/h', AWS_PROFILE: 'p1' }, read)?.sessionToken).toBe('t1');
  });
});

describe('stsEndpoint', () => {
  it.each([
    [{}, 'eu-west-1', 'https://sts.eu-west-1.amazonaws.com/'],
    [{}, 'cn-north-1', 'https://sts.cn-north-1.amazonaws.com.cn/'],
    [{ AWS_ENDPOINT_URL: 'http://127.0.0.1:1/' }, 'eu-west-1', 'http://127.0.0.1:1/'],
    [{ AWS_ENDPOINT_URL: 'https://a/', AWS_ENDPOINT_URL_STS: 'https://b/' }, 'eu-west-1', 'https://b/'],
  ] as [NodeJS.ProcessEnv, string, string][])('%j %s', (env, region, url) => {
    expect(stsEndpoint(env, region).href).toBe(url);
  });
});

describe('IMDSv2 (real HTTP server)', () => {
  let server: Server;
  let endpoint: string;
  const seen: string[] = [];
  let role = 'reader-role';
  beforeAll(async () => {
    server = createServer((req: IncomingMessage, res) => {
      seen.push(`${req.method} ${req.url}`);
      if (req.method === 'PUT' && req.url === '/latest/api/token') {
        if (req.headers['x-aws-ec2-metadata-token-ttl-seconds'] === undefined)
          return res.writeHead(400).end();
        return res.end('TOKEN');
      }
      if (req.headers['x-aws-ec2-metadata-token'] !== 'TOKEN') return res.writeHead(401).end();
      if (req.url === '/latest/meta-data/iam/security-credentials/') return res.end(role ? `${role}\n` : '');
      if (req.url === `/latest/meta-data/iam/security-credentials/${role}`) {
        return res.end(
          JSON.stringify({
            Code: 'Success',
            AccessKeyId: 'ASIAIMDS',
            SecretAccessKey: 'imds-secret',
            Token: 'imds-token',
            Expiration: '2099-01-01T00:00:00Z',
          }),
        );
      }
      res.writeHead(404).end();
    });
    ({ endpoint } = await listenLoopback(server));
  });
  afterAll(() => {
    server.close();
  });
  const deps = (env: NodeJS.ProcessEnv): CredentialDeps => ({
    env,
    http: request,
    now: Date.now,
    readFile: () => undefined,
    warn: () => {},
  });

  it('gets the role credentials with a session token', async () => {
    seen.length = 0;
    const c = await baseCredentials(deps({ AWS_EC2_METADATA_SERVICE_ENDPOINT: endpoint }));
    expect(c).toEqual({
      accessKeyId: 'ASIAIMDS',
      secretAccessKey: 'imds-secret',
      sessionToken: 'imds-token',
      expiration: Date.parse('2099-01-01T00:00:00Z'),
    });
    expect(seen).toEqual([
      'PUT /latest/api/token',
      'GET /latest/meta-data/iam/security-credentials/',
      'GET /latest/meta-data/iam/security-credentials/reader-role',
    ]);
  });

  it('prefers environment credentials (IMDS not asked)', async () => {
    seen.length = 0;
    const c = await baseCredentials(
      deps({
        AWS_EC2_METADATA_SERVICE_ENDPOINT: endpoint,
        AWS_ACCESS_KEY_ID: 'E',
        AWS_SECRET_ACCESS_KEY: 'e',
      }),
    );
    expect(c.accessKeyId).toBe('E');
    expect(seen).toEqual([]);
  });

  it('reports an instance without a role', async () => {
    role = '';
    try {
      await expect(baseCredentials(deps({ AWS_EC2_METADATA_SERVICE_ENDPOINT: endpoint }))).rejects.toThrow(
        /this instance has no IAM role/,
      );
    } finally {
      role = 'reader-role';
    }
  });

  it('imdsSession: one token for several GETs, a 404 is undefined, no IMDS throws FetchError', async () => {
    seen.length = 0;
    const imds = await imdsSession(
      { http: request, env: { AWS_EC2_METADATA_SERVICE_ENDPOINT: endpoint } },
      1000,
    );
    expect(await imds('/latest/meta-data/iam/security-credentials/')).toBe('reader-role\n');
    expect(await imds('/latest/meta-data/tags/instance/none')).toBeUndefined();
    expect(seen).toEqual([
      'PUT /latest/api/token',
      'GET /latest/meta-data/iam/security-credentials/',
      'GET /latest/meta-data/tags/instance/none',
    ]);
    await expect(
      imdsSession({ http: request, env: { AWS_EC2_METADATA_SERVICE_ENDPOINT: 'http://127.0.0.1:1' } }, 1000),
    ).rejects.toThrow(FetchError);
  });

  it('gives up quickly when nothing answers, and honours AWS_EC2_METADATA_DISABLED', async () => {
    await expect(
      baseCredentials(deps({ AWS_EC2_METADATA_SERVICE_ENDPOINT: 'http://127.0.0.1:1' })),
    ).rejects.toThrow(CredentialsError);
    seen.length = 0;
    await expect(
      baseCredentials(
        deps({ AWS_EC2_METADATA_SERVICE_ENDPOINT: endpoint, AWS_EC2_METADATA_DISABLED: 'true' }),
      ),
    ).rejects.toThrow(/no AWS credentials/);
    expect(seen).toEqual([]);
  });
});

describe('createCredentialProvider with roleArn', () => {
  const env = {
    AWS_ACCESS_KEY_ID: 'BASE',
    AWS_SECRET_ACCESS_KEY: 'b',
    AWS_ENDPOINT_URL_STS: 'https://sts.test/',
  };
  const arn = 'arn:aws:iam::123456789012:role/r';
  const stsOk = (expiry: string) =>
    `<AssumeRoleResponse><AssumeRoleResult><Credentials><AccessKeyId>ASIAROLE</AccessKeyId><SecretAccessKey>s&amp;x</SecretAccessKey><SessionToken>tok</SessionToken><Expiration>${expiry}</Expiration></Credentials></AssumeRoleResult></AssumeRoleResponse>`;

  function setup(answer: { status: number; body: string }) {
    const dir = mkdtempSync(join(tmpdir(), 'iak-creds-'));
    const calls: string[] = [];
    const deps: CredentialDeps = {
      env,
      now: () => Date.parse('2030-01-01T00:00:00Z'),
      readFile: () => undefined,
      warn: () => {},
      http: async (req) => {
        calls.push(`${req.method} ${req.url.href} ${String(req.body)}`);
        return { status: answer.status, headers: {}, framed: true, body: Buffer.from(answer.body) };
      },
    };
    const uid = process.getuid?.() ?? 0;
    return {
      dir,
      calls,
      deps,
      make: () =>
        createCredentialProvider({ roleArn: arn, region: 'eu-west-1', roleCache: { dir, uid } }, deps),
    };
  }

  it('assumes the role once, caches it 0600 and reuses the cache in the next process', async () => {
    const t = setup({ status: 200, body: stsOk('2030-01-01T01:00:00Z') });
    const c = await t.make()();
    expect(c).toMatchObject({ accessKeyId: 'ASIAROLE', secretAccessKey: 's&x', sessionToken: 'tok' });
    expect(t.calls).toHaveLength(1);
    expect(t.calls[0]).toMatch(
      /^POST https:\/\/sts.test\/ Action=AssumeRole&Version=2011-06-15&RoleArn=arn%3Aaws/,
    );
    expect(readdirSync(t.dir)).toEqual([roleCacheName(arn, 'BASE')]);
    await t.make()(); // a new provider = a new login
    expect(t.calls).toHaveLength(1);
  });

  it('assumes again when the cached credentials are about to expire', async () => {
    const t = setup({ status: 200, body: stsOk('2030-01-01T00:04:00Z') });
    await t.make()();
    await t.make()();
    expect(t.calls).toHaveLength(2);
  });

  it('reports STS errors with their code', async () => {
    const t = setup({
      status: 403,
      body: '<ErrorResponse><Error><Code>AccessDenied</Code><Message>not allowed</Message></Error></ErrorResponse>',
    });
    await expect(t.make()()).rejects.toThrow(
      /AssumeRole arn:aws:iam::123456789012:role\/r failed: 403 AccessDenied not allowed/,
    );
  });

  it('rejects an answer without credentials', async () => {
    const t = setup({ status: 200, body: '<x/>' });
    await expect(t.make()()).rejects.toThrow(/unexpected answer/);
  });

  it('ignores a corrupt cache file', async () => {
    const t = setup({ status: 200, body: stsOk('2030-01-01T01:00:00Z') });
    writeFileSync(join(t.dir, roleCacheName(arn, 'BASE')), '{', { mode: 0o600 });
    expect((await t.make()()).accessKeyId).toBe('ASIAROLE');
    expect(t.calls).toHaveLength(1);
  });
});

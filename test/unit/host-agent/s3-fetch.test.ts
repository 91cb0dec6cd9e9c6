import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listenLoopback } from '../../../dev/loopback.js';
import { parseConfig } from '../../../host-agent/config.js';
import { FetchError, ObjectTooLargeError } from '../../../host-agent/errors.js';
import type { HttpClient, HttpResponse } from '../../../host-agent/http.js';
import { request } from '../../../host-agent/http-client.js';
import { createS3Fetcher, objectUrl, wholeGet } from '../../../host-agent/s3-fetch.js';

describe('objectUrl', () => {
  const c = (bucket: string, region = 'eu-west-1', endpoint?: string) => ({
    bucket,
    region,
    ...(endpoint ? { endpoint } : {}),
  });
  it.each([
    [
      c('keys'),
      {},
      'users/a+b@c/authorized_keys',
      'https://keys.s3.eu-west-1.amazonaws.com/users/a%2Bb%40c/authorized_keys',
    ],
    [c('my.keys'), {}, 'index.json', 'https://s3.eu-west-1.amazonaws.com/my.keys/index.json'],
    [c('keys', 'cn-north-1'), {}, 'index.json', 'https://keys.s3.cn-north-1.amazonaws.com.cn/index.json'],
    [
      c('keys', 'us-east-1', 'http://127.0.0.1:9000'),
      {},
      'p/index.json',
      'http://127.0.0.1:9000/keys/p/index.json',
    ],
    [
      c('keys', 'us-east-1', 'https://vpce.example/base'),
      {},
      'index.json',
      'https://vpce.example/base/keys/index.json',
    ],
    [
      c('keys'),
      { AWS_ENDPOINT_URL_S3: 'https://s3.test:1' },
      'index.json',
      'https://s3.test:1/keys/index.json',
    ],
    [
      c('keys'),
      { AWS_ENDPOINT_URL: 'https://all.test:2' },
      'index.json',
      'https://all.test:2/keys/index.json',
    ],
    [
      c('keys', 'us-east-1', 'http://cfg:3'),
      { AWS_ENDPOINT_URL_S3: 'http://env:4' },
      'x',
      'http://cfg:3/keys/x',
    ],
  ] as [ReturnType<typeof c>, NodeJS.ProcessEnv, string, string][])('%j %j %s', (config, env, key, url) => {
    expect(objectUrl(config, env, key).href).toBe(url);
  });
});

describe('createS3Fetcher against a local HTTP server', () => {
  let server: Server;
  let endpoint: string;
  const seen: { url: string; headers: Record<string, unknown> }[] = [];
  beforeAll(async () => {
    server = createServer((req, res) => {
      seen.push({ url: req.url ?? '', headers: req.headers });
      const key = (req.url ?? '').replace(/^\/bkt\//, '');
      if (key === 'ok') {
        if (req.headers['if-none-match'] === '"e1"') return res.writeHead(304).end();
        return res.writeHead(200, { etag: '"e1"' }).end('body\n');
      }
      if (key === 'big') return res.writeHead(200).end(Buffer.alloc(8 * 1024 * 1024 + 10));
      if (key === 'nobucket') return res.writeHead(404).end('<Error><Code>NoSuchBucket</Code></Error>');
      if (key === 'denied') return res.writeHead(403).end('<Error><Code>AccessDenied</Code></Error>');
      if (key === 'slow') return; // never answers
      if (key === 'proxy404') return res.writeHead(404).end('<html>Not Found</html>');
      res.writeHead(404).end('<Error><Code>NoSuchKey</Code></Error>');
    });
    ({ endpoint } = await listenLoopback(server));
  });
  afterAll(() => {
    server.closeAllConnections();
    server.close();
  });
  const fetcher = () =>
    createS3Fetcher(parseConfig(JSON.stringify({ bucket: 'bkt', region: 'us-east-1', endpoint }), 't'), {
      env: { AWS_ACCESS_KEY_ID: 'AKID', AWS_SECRET_ACCESS_KEY: 's', AWS_SESSION_TOKEN: 'tok' },
      warn: () => {},
      now: Date.now,
      http: request,
    });

  it('GETs with SigV4 headers and returns body and ETag; 304 on a matching ETag', async () => {
    const f = fetcher();
    expect(await f.get('ok', {})).toEqual({ status: 200, body: Buffer.from('body\n'), etag: '"e1"' });
    const h = seen.at(-1)?.headers ?? {};
    expect(h.authorization).toMatch(
      /^AWS4-HMAC-SHA256 Credential=AKID\/\d{8}\/us-east-1\/s3\/aws4_request, /,
    );
    expect(h['x-amz-security-token']).toBe('tok');
    // Checksum mode, signed: S3 sends the object's SHA-256 only when asked.
    expect(h['x-amz-checksum-mode']).toBe('ENABLED');
    expect(h.authorization).toMatch(/SignedHeaders=[^,]*x-amz-checksum-mode/);
    expect(await f.get('ok', { etag: '"e1"' })).toEqual({ status: 304 });
  });

  it.each([['missing', { status: 404 }]])('%s -> %j', async (key, expected) => {
    expect(await fetcher().get(key, {})).toEqual(expected);
  });

  it.each([
    ['nobucket', FetchError, /answered 404 NoSuchBucket/],
    ['denied', FetchError, /answered 403 AccessDenied/],
    // Not S3's NoSuchKey (a proxy, a wrong endpoint): an error, so stale cache rules apply.
    ['proxy404', FetchError, /answered 404$/],
    ['big', ObjectTooLargeError, /over the 8388608-byte limit/],
  ] as [string, new (...a: never[]) => Error, RegExp][])('%s throws', async (key, cls, message) => {
    const p = fetcher().get(key, {});
    await expect(p).rejects.toThrow(cls);
    await expect(fetcher().get(key, {})).rejects.toThrow(message);
  });

  it('aborts at the deadline', async () => {
    await expect(fetcher().get('slow', { signal: AbortSignal.timeout(100) })).rejects.toThrow(
      /deadline reached/,
    );
  });
});

describe('wholeGet: a 200 body is used only when proven whole', () => {
  const body = Buffer.from('line\n');
  const sha = createHash('sha256').update(body).digest('base64');
  const other = createHash('sha256').update('other').digest('base64');
  const answer = (status: number, framed: boolean, checksum?: string): HttpResponse => ({
    status,
    headers: checksum ? { 'x-amz-checksum-sha256': checksum } : {},
    body: status === 304 ? Buffer.alloc(0) : body,
    framed,
  });
  const req = { url: new URL('http://127.0.0.1:1/b/k'), method: 'GET', maxBytes: 100 };
  const client =
    (res: HttpResponse, calls: string[], name: string): HttpClient =>
    async () => {
      calls.push(name);
      return res;
    };

  it.each([
    ['checksum matches (unframed client)', answer(200, false, sha), undefined, ['fetch'], 'first'],
    ['no checksum, framed client', answer(200, true), undefined, ['fetch'], 'first'],
    [
      'no checksum, unframed client: asked again',
      answer(200, false),
      answer(200, true),
      ['fetch', 'framed'],
      'second',
    ],
    [
      'multipart composite: asked again',
      answer(200, false, `${sha.slice(0, 43)}-2`),
      answer(200, true),
      ['fetch', 'framed'],
      'second',
    ],
    ['not S3 (404), unframed', answer(404, false), undefined, ['fetch'], 'first'],
    ['not modified (304), unframed', answer(304, false), undefined, ['fetch'], 'first'],
    [
      'checksum differs',
      answer(200, true, other),
      undefined,
      ['fetch'],
      /does not match its SHA-256 checksum/,
    ],
    [
      'asked again, its checksum differs',
      answer(200, false),
      answer(200, true, other),
      ['fetch', 'framed'],
      /does not match/,
    ],
    [
      'asked again, still unframed',
      answer(200, false),
      answer(200, false),
      ['fetch', 'framed'],
      /neither a checksum nor the framing/,
    ],
  ] as const)('%s', async (_name, first, second, wantCalls, want) => {
    const calls: string[] = [];
    const clients = {
      http: client(first, calls, 'fetch'),
      framed: client(second ?? answer(500, true), calls, 'framed'),
    };
    const got = wholeGet(req, 'p/users/a/authorized_keys', clients);
    if (want instanceof RegExp) await expect(got).rejects.toThrow(want);
    else expect(await got).toBe(want === 'first' ? first : second);
    expect(calls).toEqual(wantCalls);
  });
});

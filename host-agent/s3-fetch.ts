// SigV4-signed S3 GETs, every body checked whole. Loaded only on a cache miss.
import { createHash } from 'node:crypto';
import { MAX_OBJECT_BYTES } from './cache.js';
import type { AgentConfig } from './config.js';
import { createCredentialProvider, readFileOrUndefined } from './credentials.js';
import { envEndpoint } from './endpoint.js';
import { FetchError } from './errors.js';
import type { Fetcher, FetchResult } from './fetcher.js';
import { checkFipsEndpoints, fipsStsDeps, s3Domain } from './fips.js';
import { type HttpClient, type HttpRequest, type HttpResponse, nodeRequest } from './http.js';
import { request } from './http-client.js';
import { EMPTY_SHA256, encodeKeyPath, signRequest } from './sigv4.js';

export interface S3FetchDeps {
  readonly env: NodeJS.ProcessEnv;
  readonly warn: (m: string) => void;
  readonly now: () => number;
  readonly http?: HttpClient;
  /** Asked again when `http` cannot vouch for a body S3 sent no checksum of. @default node:http(s) */
  readonly framedHttp?: HttpClient;
  readonly uid?: number;
}

/**
 * URL of an object. An endpoint (config, then AWS_ENDPOINT_URL_S3, then
 * AWS_ENDPOINT_URL) is used path-style; AWS itself virtual-hosted, except for
 * dotted bucket names, which do not match the wildcard certificate.
 */
export function objectUrl(
  config: Pick<AgentConfig, 'bucket' | 'region' | 'endpoint' | 'useFipsEndpoint'>,
  env: NodeJS.ProcessEnv,
  key: string,
): URL {
  // The config's endpoint was checked at parse; the environment's are checked here (checkEndpoint).
  const endpoint =
    config.endpoint || envEndpoint(env, 'AWS_ENDPOINT_URL_S3') || envEndpoint(env, 'AWS_ENDPOINT_URL');
  const path = encodeKeyPath(key);
  if (endpoint) return new URL(`${endpoint}/${config.bucket}/${path}`);
  const domain = s3Domain(config, env);
  return config.bucket.includes('.')
    ? new URL(`https://${domain}/${config.bucket}/${path}`)
    : new URL(`https://${config.bucket}.${domain}/${path}`);
}

/**
 * The body against S3's SHA-256 checksum of the object (sent on a GET in checksum mode when the
 * object was written with one, as the publisher writes every object): 'none' when there is no
 * full-object checksum to compare (an object written without one, or a multipart composite).
 */
export function checkSha256(headers: HttpResponse['headers'], body: Buffer): 'match' | 'mismatch' | 'none' {
  const sent = headers['x-amz-checksum-sha256'];
  if (typeof sent !== 'string' || !/^[A-Za-z0-9+/]{43}=$/.test(sent)) return 'none';
  return createHash('sha256').update(body).digest('base64') === sent ? 'match' : 'mismatch';
}

/**
 * A GET whose 200 body is known whole: its checksum matches, or the client checked its framing.
 * Else (no checksum, and a client that cannot see a body sent longer than declared) it is asked
 * again through `framed`. A checksum that does not match fails: the stale copy, if any, is served.
 */
export async function wholeGet(
  req: HttpRequest,
  key: string,
  clients: { readonly http: HttpClient; readonly framed: HttpClient },
): Promise<HttpResponse> {
  const whole = (res: HttpResponse): boolean => {
    if (res.status !== 200) return true; // no object body: an error's text or a 304
    const check = checkSha256(res.headers, res.body);
    if (check === 'mismatch') throw new FetchError(`S3 GET ${key}: body does not match its SHA-256 checksum`);
    return check === 'match' || res.framed;
  };
  const first = await clients.http(req);
  if (whole(first)) return first;
  const again = await clients.framed(req);
  if (!whole(again))
    throw new FetchError(`S3 GET ${key}: neither a checksum nor the framing proves the body whole`);
  return again;
}

function s3ErrorCode(body: Buffer): string {
  return /<Code>([^<]{1,100})<\/Code>/.exec(body.toString('utf8'))?.[1] ?? '';
}

export function createS3Fetcher(config: AgentConfig, deps: S3FetchDeps): Fetcher {
  checkFipsEndpoints(config, deps.env);
  const http = deps.http ?? request;
  const uid = deps.uid ?? process.getuid?.() ?? 0;
  let credentials: (() => ReturnType<ReturnType<typeof createCredentialProvider>>) | undefined;
  const creds = (signal?: AbortSignal) => {
    credentials ??= createCredentialProvider(
      {
        region: config.region,
        ...(config.roleArn ? { roleArn: config.roleArn } : {}),
        roleCache: { dir: config.cache.dir, uid },
      },
      {
        env: deps.env,
        http,
        now: deps.now,
        readFile: readFileOrUndefined,
        warn: deps.warn,
        ...(signal ? { signal } : {}),
        ...fipsStsDeps(config, deps.env),
      },
    );
    return credentials();
  };

  return {
    async get(key, opts): Promise<FetchResult> {
      const url = objectUrl(config, deps.env, key);
      const headers = signRequest({
        method: 'GET',
        host: url.host,
        path: url.pathname,
        headers: { 'x-amz-content-sha256': EMPTY_SHA256, 'x-amz-checksum-mode': 'ENABLED' },
        payloadHash: EMPTY_SHA256,
        service: 's3',
        region: config.region,
        credentials: await creds(opts.signal),
        date: new Date(deps.now()),
      });
      // If-None-Match is sent unsigned: it only selects 304 vs 200, never what a 200 contains.
      if (opts.etag) headers['if-none-match'] = opts.etag;
      const req = {
        url,
        method: 'GET',
        headers,
        maxBytes: MAX_OBJECT_BYTES,
        ...(opts.signal ? { signal: opts.signal } : {}),
      };
      const res = await wholeGet(req, key, { http, framed: deps.framedHttp ?? nodeRequest });
      if (res.status === 200) {
        const etag = res.headers.etag;
        return { status: 200, body: res.body, ...(typeof etag === 'string' ? { etag } : {}) };
      }
      if (res.status === 304) return { status: 304 };
      // Only S3's own "no such key" means an unknown principal: a 404 from a proxy or a
      // wrong endpoint must not be cached as "no keys" over good entries.
      if (res.status === 404 && s3ErrorCode(res.body) === 'NoSuchKey') return { status: 404 };
      const code = s3ErrorCode(res.body);
      throw new FetchError(`S3 GET ${key} answered ${res.status}${code ? ` ${code}` : ''}`, res.status);
    },
  };
}

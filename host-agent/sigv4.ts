// AWS Signature Version 4 by hand on node:crypto: the agent's start-up time is
// the login latency, and the SDK's signer costs more to load than this whole file.
// Checked against @smithy/signature-v4 by a differential unit test.
import { createHash, createHmac } from 'node:crypto';
import { envEndpoint } from './endpoint.js';
import type { HttpClient, HttpResponse } from './http.js';

export interface Credentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken?: string;
  /** ms since epoch; undefined for long-term keys. */
  readonly expiration?: number;
}

export interface SignInput {
  readonly method: string;
  readonly host: string;
  /** Canonical, already URI-encoded path (S3: each segment encoded once). */
  readonly path: string;
  readonly query?: Readonly<Record<string, string>>;
  /** Extra headers to sign, lower-case names. */
  readonly headers?: Readonly<Record<string, string>>;
  /** Hex SHA-256 of the payload. */
  readonly payloadHash: string;
  readonly service: string;
  readonly region: string;
  readonly credentials: Credentials;
  readonly date: Date;
}

export const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

export function sha256Hex(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/** RFC 3986 encoding as SigV4 wants it: everything but A-Z a-z 0-9 - _ . ~ */
export function uriEncode(s: string): string {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** Encodes an object key for an S3 path: each segment once, '/' kept. */
export function encodeKeyPath(key: string): string {
  return key.split('/').map(uriEncode).join('/');
}

export function canonicalQuery(query: Readonly<Record<string, string>> = {}): string {
  return Object.entries(query)
    .map(([k, v]) => [uriEncode(k), uriEncode(v)] as const)
    .sort(([a, av], [b, bv]) => (a < b ? -1 : a > b ? 1 : av < bv ? -1 : av > bv ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join('&');
}

function amzDate(d: Date): string {
  return d
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}/, '');
}

/**
 * Returns the headers to send: the input headers plus host, x-amz-date,
 * x-amz-security-token (with a session token) and authorization.
 */
export function signRequest(input: SignInput): Record<string, string> {
  const date = amzDate(input.date);
  const day = date.slice(0, 8);
  const headers: Record<string, string> = { ...input.headers, host: input.host, 'x-amz-date': date };
  if (input.credentials.sessionToken) headers['x-amz-security-token'] = input.credentials.sessionToken;

  const names = Object.keys(headers)
    .map((h) => h.toLowerCase())
    .sort();
  const lower: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers)) lower[k.toLowerCase()] = v.trim().replace(/\s+/g, ' ');
  const canonicalHeaders = names.map((n) => `${n}:${lower[n]}\n`).join('');
  const signedHeaders = names.join(';');
  const canonicalRequest = [
    input.method,
    input.path,
    canonicalQuery(input.query),
    canonicalHeaders,
    signedHeaders,
    input.payloadHash,
  ].join('\n');
  const scope = `${day}/${input.region}/${input.service}/aws4_request`;
  const stringToSign = ['AWS4-HMAC-SHA256', date, scope, sha256Hex(canonicalRequest)].join('\n');

  const hmac = (key: string | Buffer, data: string) => createHmac('sha256', key).update(data).digest();
  const kDate = hmac(`AWS4${input.credentials.secretAccessKey}`, day);
  const kSigning = hmac(hmac(hmac(kDate, input.region), input.service), 'aws4_request');
  const signature = createHmac('sha256', kSigning).update(stringToSign).digest('hex');

  headers.authorization = `AWS4-HMAC-SHA256 Credential=${input.credentials.accessKeyId}/${scope}, SignedHeaders=${signedHeaders}, Signature=${signature}`;
  return headers;
}

/**
 * An AWS service's endpoint: AWS_ENDPOINT_URL_<SERVICE>, else AWS_ENDPOINT_URL, else the regional one.
 * Throws EndpointError for one checkEndpoint refuses.
 */
export function serviceEndpoint(env: NodeJS.ProcessEnv, service: 'sts' | 'ssm', region: string): URL {
  const override =
    envEndpoint(env, service === 'sts' ? 'AWS_ENDPOINT_URL_STS' : 'AWS_ENDPOINT_URL_SSM') ??
    envEndpoint(env, 'AWS_ENDPOINT_URL');
  if (override) return new URL(`${override}/`);
  return new URL(`https://${service}.${region}.amazonaws.com${region.startsWith('cn-') ? '.cn' : ''}/`);
}

export interface SignedPost {
  readonly url: URL;
  readonly body: string;
  /** Content headers (content-type, x-amz-target); host, date and authorization are added. */
  readonly headers: Record<string, string>;
  readonly service: string;
  readonly region: string;
  readonly credentials: Credentials;
  readonly date: Date;
  readonly maxBytes: number;
  readonly signal?: AbortSignal;
}

/** A SigV4-signed POST (the STS query API, SSM's JSON API). */
export function postSigned(http: HttpClient, r: SignedPost): Promise<HttpResponse> {
  const headers = signRequest({
    method: 'POST',
    host: r.url.host,
    path: r.url.pathname || '/',
    headers: r.headers,
    payloadHash: sha256Hex(r.body),
    service: r.service,
    region: r.region,
    credentials: r.credentials,
    date: r.date,
  });
  return http({
    url: r.url,
    method: 'POST',
    headers,
    body: r.body,
    maxBytes: r.maxBytes,
    ...(r.signal ? { signal: r.signal } : {}),
  });
}

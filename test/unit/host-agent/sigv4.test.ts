// Differential test: our hand-written SigV4 against @smithy/signature-v4.
import { createHash, createHmac, type Hash, type Hmac } from 'node:crypto';
import { HttpRequest } from '@smithy/core/protocols';
import { SignatureV4 } from '@smithy/signature-v4';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  canonicalQuery,
  EMPTY_SHA256,
  encodeKeyPath,
  sha256Hex,
  signRequest,
  uriEncode,
} from '../../../host-agent/sigv4.js';

/** The Checksum constructor smithy wants, on node:crypto. */
class NodeSha256 {
  private h: Hash | Hmac;
  constructor(private readonly secret?: string | ArrayBuffer | ArrayBufferView) {
    this.h = this.make();
  }
  private make(): Hash | Hmac {
    if (this.secret === undefined) return createHash('sha256');
    const key =
      typeof this.secret === 'string'
        ? this.secret
        : this.secret instanceof ArrayBuffer
          ? Buffer.from(this.secret)
          : Buffer.from(this.secret.buffer, this.secret.byteOffset, this.secret.byteLength);
    return createHmac('sha256', key);
  }
  update(data: string | Uint8Array): void {
    this.h.update(data);
  }
  async digest(): Promise<Uint8Array> {
    return new Uint8Array(this.h.digest());
  }
  reset(): void {
    this.h = this.make();
  }
}

const creds = { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY' };

async function smithySign(opts: {
  service: string;
  region: string;
  method: string;
  host: string;
  path: string;
  query?: Record<string, string>;
  headers: Record<string, string>;
  body?: string;
  credentials: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  date: Date;
  uriEscapePath: boolean;
}): Promise<Record<string, string>> {
  const signer = new SignatureV4({
    service: opts.service,
    region: opts.region,
    credentials: opts.credentials,
    sha256: NodeSha256,
    uriEscapePath: opts.uriEscapePath,
  });
  const req = new HttpRequest({
    method: opts.method,
    protocol: 'https:',
    hostname: opts.host,
    path: opts.path,
    query: opts.query ?? {},
    headers: { host: opts.host, ...opts.headers },
    ...(opts.body !== undefined ? { body: opts.body } : {}),
  });
  const signed = await signer.sign(req, { signingDate: opts.date });
  return signed.headers as Record<string, string>;
}

describe('uriEncode / encodeKeyPath / canonicalQuery', () => {
  it.each([
    ['abc-_.~', 'abc-_.~'],
    ['a b', 'a%20b'],
    ["!'()*", '%21%27%28%29%2A'],
    ['a+b=c,d@e', 'a%2Bb%3Dc%2Cd%40e'],
    ['é', '%C3%A9'],
  ])('%s -> %s', (s, e) => {
    expect(uriEncode(s)).toBe(e);
  });
  it('keeps slashes in key paths', () => {
    expect(encodeKeyPath('p/users/a+b@c/authorized_keys')).toBe('p/users/a%2Bb%40c/authorized_keys');
  });
  it('sorts query parameters by encoded name', () => {
    expect(canonicalQuery({ b: '2', a: 'x y', A: '1' })).toBe('A=1&a=x%20y&b=2');
  });
});

describe('signRequest matches @smithy/signature-v4', () => {
  const date = new Date('2024-05-06T07:08:09Z');

  it('S3 GET with a session token', async () => {
    const key = 'pre fix/users/bob+ops@example.com/authorized_keys';
    const path = `/bucket/${encodeKeyPath(key)}`;
    const withToken = { ...creds, sessionToken: 'FwoGZXIvYXdzEXAMPLE//token+=' };
    const ours = signRequest({
      method: 'GET',
      host: '127.0.0.1:9000',
      path,
      headers: { 'x-amz-content-sha256': EMPTY_SHA256 },
      payloadHash: EMPTY_SHA256,
      service: 's3',
      region: 'eu-west-1',
      credentials: withToken,
      date,
    });
    const theirs = await smithySign({
      service: 's3',
      region: 'eu-west-1',
      method: 'GET',
      host: '127.0.0.1:9000',
      path,
      headers: { 'x-amz-content-sha256': EMPTY_SHA256 },
      credentials: withToken,
      date,
      uriEscapePath: false,
    });
    expect(ours.authorization).toBe(theirs.authorization);
    expect(ours['x-amz-security-token']).toBe(withToken.sessionToken);
    expect(ours['x-amz-date']).toBe('20240506T070809Z');
  });

  it('STS POST with a form body', async () => {
    const body = 'Action=AssumeRole&RoleArn=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Fr&Version=2011-06-15';
    // smithy always adds x-amz-content-sha256; sign the same header set on both sides.
    const headers = {
      'content-type': 'application/x-www-form-urlencoded; charset=utf-8',
      'x-amz-content-sha256': sha256Hex(body),
    };
    const ours = signRequest({
      method: 'POST',
      host: 'sts.us-east-1.amazonaws.com',
      path: '/',
      headers,
      payloadHash: sha256Hex(body),
      service: 'sts',
      region: 'us-east-1',
      credentials: creds,
      date,
    });
    const theirs = await smithySign({
      service: 'sts',
      region: 'us-east-1',
      method: 'POST',
      host: 'sts.us-east-1.amazonaws.com',
      path: '/',
      headers,
      body,
      credentials: creds,
      date,
      uriEscapePath: true,
    });
    expect(ours.authorization).toBe(theirs.authorization);
  });

  it('any S3 key, query and region (property)', async () => {
    const nameChar = fc.constantFrom(...'abcXYZ019+=,.@_- ~!*()'.split(''));
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.string({ unit: nameChar, minLength: 1, maxLength: 12 }), { minLength: 1, maxLength: 4 }),
        fc.dictionary(
          fc.string({ unit: nameChar, minLength: 1, maxLength: 6 }),
          fc.string({ maxLength: 8 }),
          {
            maxKeys: 3,
          },
        ),
        fc.constantFrom('us-east-1', 'eu-west-1', 'ap-southeast-2'),
        fc.date({ min: new Date('2000-01-01'), max: new Date('2099-12-31'), noInvalidDate: true }),
        async (segments, query, region, when) => {
          const path = `/b/${encodeKeyPath(segments.join('/'))}`;
          const d = new Date(Math.floor(when.getTime() / 1000) * 1000);
          const ours = signRequest({
            method: 'GET',
            host: 'b.s3.amazonaws.com',
            path,
            query,
            headers: { 'x-amz-content-sha256': EMPTY_SHA256 },
            payloadHash: EMPTY_SHA256,
            service: 's3',
            region,
            credentials: creds,
            date: d,
          });
          const theirs = await smithySign({
            service: 's3',
            region,
            method: 'GET',
            host: 'b.s3.amazonaws.com',
            path,
            query,
            headers: { 'x-amz-content-sha256': EMPTY_SHA256 },
            credentials: creds,
            date: d,
            uriEscapePath: false,
          });
          expect(ours.authorization).toBe(theirs.authorization);
        },
      ),
      { numRuns: 100 },
    );
  });
});

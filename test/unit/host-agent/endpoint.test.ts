import { describe, expect, it } from 'vitest';
import { imdsSession, stsEndpoint } from '../../../host-agent/credentials.js';
import {
  checkEndpoint,
  checkEnvEndpoints,
  ENDPOINT_VARIABLES,
  isLoopback,
  LOOPBACK,
} from '../../../host-agent/endpoint.js';
import { EndpointError } from '../../../host-agent/errors.js';
import { request } from '../../../host-agent/http-client.js';
import { objectUrl } from '../../../host-agent/s3-fetch.js';
import { serviceEndpoint } from '../../../host-agent/sigv4.js';
import { drawn, variants } from '../../helpers/strings.js';

const ACCEPTED: [string, 'aws' | 'imds', string][] = [
  ['https://s3.eu-west-1.amazonaws.com', 'aws', 'https://s3.eu-west-1.amazonaws.com'],
  [
    'https://vpce-1.s3.eu-west-1.vpce.amazonaws.com/base/',
    'aws',
    'https://vpce-1.s3.eu-west-1.vpce.amazonaws.com/base',
  ],
  ['http://127.0.0.1:9000/', 'aws', 'http://127.0.0.1:9000'],
  ['http://localhost:4566', 'aws', 'http://localhost:4566'],
  ['http://[::1]:1', 'aws', 'http://[::1]:1'],
  ['http://169.254.169.254', 'imds', 'http://169.254.169.254'],
  ['http://[fd00:ec2::254]/', 'imds', 'http://[fd00:ec2::254]'],
  ['http://127.0.0.1:8111', 'imds', 'http://127.0.0.1:8111'],
];

const REFUSED: [string, 'aws' | 'imds', RegExp][] = [
  ['http://s3.example.com', 'aws', /must be https:\/\/ \(plain http:\/\/ only to a loopback address\)/],
  ['http://169.254.169.254', 'aws', /must be https:\/\//],
  ['http://10.0.0.5:9000', 'aws', /must be https:\/\//],
  ['http://127.0.0.1.evil.example', 'aws', /must be https:\/\//],
  ['http://evil.example', 'imds', /plain http:\/\/ to a loopback address or to IMDS/],
  ['ftp://x', 'aws', /must be an http:\/\/ or https:\/\/ URL/],
  ['file:///etc/passwd', 'imds', /must be an http:\/\/ or https:\/\/ URL/],
  ['https://user:pw@s3.example.com', 'aws', /must not carry credentials/],
  ['https://s3.example.com/?x=1', 'aws', /a query or a fragment/],
  ['s3.example.com', 'aws', /is not a URL/],
];

describe('checkEndpoint: one rule for every endpoint', () => {
  it.each(ACCEPTED)('%s (%s) is used as %s', (text, kind, normal) => {
    expect(checkEndpoint(text, 'X', kind)).toBe(normal);
  });
  it.each(REFUSED)('%s (%s) is refused', (text, kind, message) => {
    expect(() => checkEndpoint(text, 'SOURCE', kind)).toThrow(EndpointError);
    expect(() => checkEndpoint(text, 'SOURCE', kind)).toThrow(message);
    expect(() => checkEndpoint(text, 'SOURCE', kind)).toThrow(/^SOURCE /);
  });
});

describe('every environment variable naming an endpoint obeys it', () => {
  const names = [...ENDPOINT_VARIABLES];
  it('covers S3, STS, SSM, the generic one and IMDS', () => {
    expect(names.sort()).toEqual([
      'AWS_EC2_METADATA_SERVICE_ENDPOINT',
      'AWS_ENDPOINT_URL',
      'AWS_ENDPOINT_URL_S3',
      'AWS_ENDPOINT_URL_SSM',
      'AWS_ENDPOINT_URL_STS',
    ]);
  });
  it.each(names)('%s=http://evil.example is refused at start, naming the variable', (name) => {
    expect(() => checkEnvEndpoints({ [name]: 'http://evil.example' })).toThrow(
      new RegExp(`^${name} must be https://`),
    );
  });
  it('loopback, https and unset are all fine', () => {
    expect(() =>
      checkEnvEndpoints({
        AWS_ENDPOINT_URL: 'http://127.0.0.1:1',
        AWS_ENDPOINT_URL_S3: 'https://s3.example.com',
        AWS_ENDPOINT_URL_STS: '',
      }),
    ).not.toThrow();
  });

  const config = { bucket: 'keys', region: 'eu-west-1' };
  it.each<[string, () => unknown, RegExp]>([
    [
      'S3 (AWS_ENDPOINT_URL_S3)',
      () => objectUrl(config, { AWS_ENDPOINT_URL_S3: 'http://s3.test:1' }, 'k'),
      /^AWS_ENDPOINT_URL_S3 /,
    ],
    [
      'S3 (AWS_ENDPOINT_URL)',
      () => objectUrl(config, { AWS_ENDPOINT_URL: 'http://all.test:2' }, 'k'),
      /^AWS_ENDPOINT_URL /,
    ],
    [
      'STS',
      () => stsEndpoint({ AWS_ENDPOINT_URL_STS: 'http://sts.test' }, 'eu-west-1'),
      /^AWS_ENDPOINT_URL_STS /,
    ],
    [
      'SSM',
      () => serviceEndpoint({ AWS_ENDPOINT_URL_SSM: 'http://ssm.test' }, 'ssm', 'eu-west-1'),
      /^AWS_ENDPOINT_URL_SSM /,
    ],
  ])('%s: refused where it is used', (_label, use, message) => {
    expect(use).toThrow(message);
  });
  it('IMDS: refused before any request', async () => {
    const never = () => Promise.reject(new Error('no request may be sent'));
    await expect(
      imdsSession({ http: never, env: { AWS_EC2_METADATA_SERVICE_ENDPOINT: 'http://imds.evil' } }, 1000),
    ).rejects.toThrow(/^AWS_EC2_METADATA_SERVICE_ENDPOINT must be https:\/\//);
    // The default needs no variable.
    await expect(imdsSession({ http: request, env: {} }, 1)).rejects.not.toThrow(EndpointError);
  });
});

describe('isLoopback (a login checks its endpoints without a regular expression)', () => {
  it('answers as LOOPBACK', () => {
    const hosts = variants(11, 4000, (r) =>
      r() < 0.3
        ? r() < 0.5
          ? 'localhost'
          : '[::1]'
        : `127.${drawn(r, '0123456789', 1 + Math.floor(r() * 4))}.0.${drawn(r, '0123456789', 1 + Math.floor(r() * 3))}`,
    );
    const edges = ['127.0.0.1', '127.1', '127.0.0.1.', '128.0.0.1', '127.0.0.1234', 'LOCALHOST', '[::1]:22'];
    const differ = [...hosts, ...edges].filter((h) => LOOPBACK.test(h) !== isLoopback(h));
    expect(differ).toEqual([]);
  });
});

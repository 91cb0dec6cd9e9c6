import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  cacheKey,
  isFresh,
  parseCacheFile,
  parseExpiration,
  pythonJson,
  renderCacheFile,
} from '../../../../cli/credentials/cache.js';

const sha1 = (s: string) => createHash('sha1').update(s, 'utf8').digest('hex');

describe('pythonJson (json.dumps(v, sort_keys=True))', () => {
  it.each([
    [{ b: 1, a: 'x' }, '{"a": "x", "b": 1}'],
    [{ a: [1, { d: null, c: true }] }, '{"a": [1, {"c": true, "d": null}]}'],
    [{ a: undefined, b: 2 }, '{"b": 2}'],
    ['é/"\\', '"\\u00e9/\\"\\\\"'],
  ])('%j', (v, want) => expect(pythonJson(v)).toBe(want));
});

describe('cacheKey', () => {
  it('AssumeRole: the AWS CLI key (hash checked against botocore 1.43 on this machine)', () => {
    const step = {
      kind: 'assume-role' as const,
      profile: 'admin',
      roleArn: 'arn:aws:iam::123456789012:role/admin',
      serialNumber: 'arn:aws:iam::123456789012:mfa/alice',
      durationSeconds: 1800,
    };
    expect(cacheKey(step)).toBe('b3372e73dc00c7f23b367e8f4f7b1e1693afd229');
  });
  it('RoleSessionName and ExternalId are part of the key only when the profile sets them', () => {
    const step = {
      kind: 'assume-role' as const,
      profile: 'p',
      roleArn: 'arn:r',
      externalId: 'e',
      roleSessionName: 's',
    };
    expect(cacheKey(step)).toBe(sha1('{"ExternalId": "e", "RoleArn": "arn:r", "RoleSessionName": "s"}'));
  });
  it('GetSessionToken keys depend on the long-term key and never equal an AssumeRole key', () => {
    const s = { kind: 'session-token' as const, profile: 'p', serialNumber: 'arn:m' };
    const a = cacheKey(s, { accessKeyId: 'A', secretAccessKey: 'x' });
    expect(a).toBe(
      sha1('{"AccessKeyId": "A", "Operation": "iam-ssh-keys:GetSessionToken", "SerialNumber": "arn:m"}'),
    );
    expect(cacheKey(s, { accessKeyId: 'B', secretAccessKey: 'x' })).not.toBe(a);
  });
});

describe('parseExpiration', () => {
  it.each([
    ['2026-11-30T02:33:30.685151Z', Date.UTC(2026, 10, 30, 2, 33, 30, 685)],
    ['2026-11-30T02:33:30+00:00', Date.UTC(2026, 10, 30, 2, 33, 30)],
    ['2026-11-30T02:33:30UTC', Date.UTC(2026, 10, 30, 2, 33, 30)],
    ['2026-11-30T02:33:30', Date.UTC(2026, 10, 30, 2, 33, 30)],
    ['2026-11-30T04:33:30+02:00', Date.UTC(2026, 10, 30, 2, 33, 30)],
  ])('%s', (s, ms) => expect(parseExpiration(s)?.getTime()).toBe(ms));
  it('refuses nonsense', () => expect(parseExpiration('soon')).toBeUndefined());
});

describe('cache files', () => {
  // The shape the AWS CLI (botocore 1.43) wrote for an AssumeRole against moto, values shortened.
  const CLI_FILE =
    '{"Credentials": {"AccessKeyId": "ASIAEXAMPLE", "SecretAccessKey": "s3cr3t", "SessionToken": "tok", "Expiration": "2026-11-30T02:33:30.685151Z", "AccountId": "123456789012"}, "AssumedRoleUser": {"AssumedRoleId": "AROA:botocore-session-1", "Arn": "arn:aws:sts::123456789012:assumed-role/admin/botocore-session-1"}, "ResponseMetadata": {"HTTPStatusCode": 200, "RetryAttempts": 0}}';
  it('reads what the AWS CLI writes', () => {
    expect(parseCacheFile(CLI_FILE)).toEqual({
      accessKeyId: 'ASIAEXAMPLE',
      secretAccessKey: 's3cr3t',
      sessionToken: 'tok',
      expiration: new Date(Date.UTC(2026, 10, 30, 2, 33, 30, 685)),
    });
  });
  it('round-trips what it writes', () => {
    const s = { accessKeyId: 'A', secretAccessKey: 'B', sessionToken: 'C', expiration: new Date(0) };
    expect(parseCacheFile(renderCacheFile(s))).toEqual(s);
  });
  it.each([
    ['not json', '{'],
    ['no Credentials', '{}'],
    [
      'no token',
      '{"Credentials": {"AccessKeyId": "A", "SecretAccessKey": "B", "Expiration": "2026-01-01T00:00:00Z"}}',
    ],
    [
      'bad expiry',
      '{"Credentials": {"AccessKeyId": "A", "SecretAccessKey": "B", "SessionToken": "C", "Expiration": "x"}}',
    ],
    ['null', 'null'],
  ])('ignores %s', (_n, text) => expect(parseCacheFile(text)).toBeUndefined());
  it.each([
    [10 * 60_000, true],
    [5 * 60_000, false],
    [-1, false],
  ])('a session with %i ms left is fresh: %s', (left, fresh) => {
    const now = new Date(1_000_000_000);
    const s = {
      accessKeyId: 'A',
      secretAccessKey: 'B',
      sessionToken: 'C',
      expiration: new Date(now.getTime() + left),
    };
    expect(isFresh(s, now)).toBe(fresh);
  });
});

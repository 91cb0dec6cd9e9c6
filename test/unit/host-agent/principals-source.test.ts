import { describe, expect, it } from 'vitest';
import {
  defaultParameterName,
  PrincipalsSourceError,
  parsePrincipalsValue,
  replaceUsers,
  ssmEndpoint,
} from '../../../host-agent/principals-source.js';

describe('parsePrincipalsValue', () => {
  it.each([
    [
      '{"ec2-user":["groups/Admins","users/alice"]}',
      undefined,
      { 'ec2-user': ['groups/Admins', 'users/alice'] },
    ],
    ['groups/Admins, users/alice', 'ec2-user', { 'ec2-user': ['groups/Admins', 'users/alice'] }],
    ['  groups/Admins\nusers/bob ', 'ubuntu', { ubuntu: ['groups/Admins', 'users/bob'] }],
  ])('%j (local user %s)', (value, local, expected) => {
    expect(parsePrincipalsValue(value, local)).toEqual(expected);
  });

  it.each([
    ['groups/Admins', undefined, /--local-user/],
    ['{"ec2-user":', undefined, /not valid JSON/],
    ['{"bad user":["groups/A"]}', undefined, /not a valid local user name/],
    ['{"ec2-user":[]}', undefined, /non-empty list/],
    ['{"ec2-user":["roles/x"]}', undefined, /invalid principal "roles\/x"/],
    ['{"ec2-user":[1]}', undefined, /must be strings/],
    ['{}', undefined, /maps no local user/],
    ['users/a b/c', 'ec2-user', /invalid principal "b\/c"/],
  ])('refuses %j', (value, local, reason) => {
    expect(() => parsePrincipalsValue(value, local)).toThrow(PrincipalsSourceError);
    expect(() => parsePrincipalsValue(value, local)).toThrow(reason);
  });
});

describe('replaceUsers', () => {
  const cfg =
    '{"bucket":"my-bucket","region":"eu-west-1","users":{"old":["users/x"]},"cache":{"ttlSeconds":5}}';
  it('replaces only "users" and validates the whole result', () => {
    const r = replaceUsers(cfg, { 'ec2-user': ['groups/Admins'] }, '/etc/c.json');
    expect(JSON.parse(r.text)).toEqual({
      bucket: 'my-bucket',
      region: 'eu-west-1',
      users: { 'ec2-user': ['groups/Admins'] },
      cache: { ttlSeconds: 5 },
    });
    expect(r.config.users).toEqual({ 'ec2-user': ['groups/Admins'] });
  });
  it('throws instead of producing a config that does not parse', () => {
    expect(() => replaceUsers('{"bucket":"x","region":"eu-west-1"}', { a: ['users/b'] }, '/c')).toThrow(
      /bucket "x" is not a valid name/,
    );
  });
});

it('default parameter name and endpoint', () => {
  expect(defaultParameterName('web-role')).toBe('/IAM/web-role/principals');
  expect(ssmEndpoint({}, 'eu-west-1').href).toBe('https://ssm.eu-west-1.amazonaws.com/');
  expect(ssmEndpoint({ AWS_ENDPOINT_URL: 'http://127.0.0.1:5000' }, 'eu-west-1').href).toBe(
    'http://127.0.0.1:5000/',
  );
  expect(ssmEndpoint({ AWS_ENDPOINT_URL_SSM: 'http://h:1', AWS_ENDPOINT_URL: 'http://x' }, 'r').href).toBe(
    'http://h:1/',
  );
});

import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import {
  describeExpiry,
  renderExports,
  renderProcessJson,
  shellQuote,
} from '../../../../cli/credentials/command.js';

const creds = {
  accessKeyId: 'ASIA1',
  secretAccessKey: "a/b+c'd",
  sessionToken: 'T$(x)`y`',
  expiration: new Date('2026-01-01T01:00:00.000Z'),
};

describe('credentials output', () => {
  it.each(['plain', "it's", '$(rm -rf /)', '`x`', 'a\nb', ''])('shellQuote(%j) survives sh', (s) => {
    const r = spawnSync('sh', ['-c', `printf '%s' ${shellQuote(s)}`], { encoding: 'utf8' });
    expect(r.stdout).toBe(s);
  });
  it('export lines', () => {
    expect(renderExports(creds)).toEqual([
      "export AWS_ACCESS_KEY_ID='ASIA1'",
      "export AWS_SECRET_ACCESS_KEY='a/b+c'\\''d'",
      "export AWS_SESSION_TOKEN='T$(x)`y`'",
      "export AWS_CREDENTIAL_EXPIRATION='2026-01-01T01:00:00.000Z'",
    ]);
  });
  it('credential_process JSON', () => {
    expect(JSON.parse(renderProcessJson(creds))).toEqual({
      Version: 1,
      AccessKeyId: 'ASIA1',
      SecretAccessKey: "a/b+c'd",
      SessionToken: 'T$(x)`y`',
      Expiration: '2026-01-01T01:00:00.000Z',
    });
  });
  it.each([
    [new Date('2026-01-01T00:15:00Z'), 'expire at 2026-01-01T01:00:00.000Z (in 45 min)'],
    [new Date('2025-12-31T21:30:00Z'), 'expire at 2026-01-01T01:00:00.000Z (in 3 h 30 min)'],
  ])('expiry at %s', (now, want) =>
    expect(describeExpiry(creds, now, 'profile p')).toBe(`credentials for profile p ${want}`),
  );
});

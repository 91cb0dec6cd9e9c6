import { describe, expect, it } from 'vitest';
import { InvalidConfigError } from '../../../lib/config.js';
import { mergeConditions } from '../../../lib/s3-access.js';

describe('mergeConditions', () => {
  it('merges per operator: the prefix condition never replaces a caller condition of the same operator', () => {
    expect(
      mergeConditions(
        { StringLike: { 'aws:PrincipalArn': ['arn:a'] } },
        { StringLike: { 's3:prefix': ['p/*'] } },
      ),
    ).toEqual({ StringLike: { 'aws:PrincipalArn': ['arn:a'], 's3:prefix': ['p/*'] } });
  });

  it('refuses a key set twice', () => {
    expect(() => mergeConditions({ StringLike: { k: 'a' } }, { StringLike: { k: 'b' } })).toThrow(
      InvalidConfigError,
    );
  });

  it.each(['__proto__', 'constructor', 'toString'])(
    'an operator or key named %s is kept, never read from Object.prototype',
    (n) => {
      const a = JSON.parse(`{"${n}": {"${n}": "a"}}`);
      const merged = mergeConditions(a, { StringLike: { k: 'b' } });
      expect(Object.keys(merged ?? {})).toEqual([n, 'StringLike']);
      expect(Object.keys(merged?.[n] ?? {})).toEqual([n]);
      expect(JSON.parse(JSON.stringify(merged))[n][n]).toBe('a');
    },
  );
});

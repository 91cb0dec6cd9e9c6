import { describe, expect, it } from 'vitest';
import { KeysError, tagKeyLines, tagKeyOf, uploadTagKey } from '../../../cli/keys.js';
import { IAM_TAG_KEY } from '../../../contract/index.js';
import { makeKey, makeSkKey } from '../../../dev/keys.js';

const ed = makeKey('ed25519');
const sk = makeSkKey('ed25519');

describe('tagKeyOf', () => {
  it.each([
    ['tag:ssh-key:laptop', 'ssh-key:laptop'],
    ['ssh-key:laptop', 'ssh-key:laptop'],
    ['tag:team', 'team'],
    ['APKAEXAMPLE', undefined],
  ])('%s -> %s', (arg, expected) => expect(tagKeyOf(arg, 'ssh-key:')).toBe(expected));
});

describe('uploadTagKey', () => {
  it.each([
    ['the label as given', 'yubi key', 'ignored', 'ssh-key:yubi key'],
    [
      'the comment, made into tag-key characters',
      undefined,
      'alice@laptop (home)',
      'ssh-key:alice@laptop-home',
    ],
    [
      'no comment: the key type and a piece of the fingerprint',
      undefined,
      '',
      `ssh-key:sk-ssh-ed25519-${sk.fingerprint.slice(7, 19)}`,
    ],
  ])('%s', (_n, label, comment, expected) => {
    const key = { ...sk, bits: 256 };
    expect(uploadTagKey('ssh-key:', label, comment, key)).toBe(
      expected.replace(/[^\p{L}\p{Z}\p{N}_.:/=+\-@]/gu, '-'),
    );
  });
  it('a long comment is cut to fit 128 characters with the prefix', () => {
    const t = uploadTagKey('ssh-key:', undefined, 'x'.repeat(300), { ...ed, bits: 256 });
    expect(t).toHaveLength(128);
    expect(IAM_TAG_KEY.test(t)).toBe(true);
  });
  it.each([
    ['a character IAM refuses', 'my#key'],
    ['too long', 'x'.repeat(121)],
    ['empty', ''],
  ])('refuses a label with %s', (_n, label) => {
    expect(() => uploadTagKey('ssh-key:', label, '', { ...ed, bits: 256 })).toThrow(KeysError);
  });
});

describe('tagKeyLines', () => {
  it('lists key tags only, in tag key order, valid or not', () => {
    expect(
      tagKeyLines(
        [
          { key: 'team', value: 'ops' },
          { key: 'ssh-key:b', value: 'nonsense' },
          { key: 'ssh-key:a', value: sk.openssh },
        ],
        'ssh-key:',
      ),
    ).toEqual([
      `tag:ssh-key:a\tTag\tsk-ssh-ed25519@openssh.com\t${sk.fingerprint}`,
      "tag:ssh-key:b\tInvalid\ttag value is not '<key type> <base64>'",
    ]);
  });
});

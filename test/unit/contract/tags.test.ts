import { describe, expect, it } from 'vitest';
import {
  DEFAULT_TAG_KEY_PREFIX,
  IAM_TAG_KEY,
  parseTagKeyPrefix,
  sanitizeTagLabel,
  tagBodyId,
  tagKeyId,
} from '../../../contract/tags.js';

describe('parseTagKeyPrefix', () => {
  it.each([
    [undefined, 'ssh-key:'],
    ['', 'ssh-key:'],
    ['ssh-key:', 'ssh-key:'],
    ['corp/ssh=key@/', 'corp/ssh=key@/'],
    ['clé ssh:', 'clé ssh:'],
  ])('accepts %j as %j', (value, expected) => {
    expect(parseTagKeyPrefix(value)).toBe(expected);
  });
  it.each([
    ['a wildcard (policies would widen)', 'ssh-*', /invalid tag key prefix/],
    ['a question mark', 'ssh?', /invalid tag key prefix/],
    ['a character IAM refuses', 'ssh#key:', /invalid tag key prefix/],
    ["IAM's reserved aws:", 'aws:ssh:', /IAM reserves aws:/],
    ['aws: in capitals', 'AWS:ssh:', /IAM reserves aws:/],
    ['no room left for a label', 'k'.repeat(128), /invalid tag key prefix/],
    ['no separator at the end (ssh would match ssh-access-level)', 'ssh', /end it with : or \//],
    ['a separator other than : or /', 'ssh-key@', /end it with : or \//],
  ])('refuses %s', (_n, value, reason) => {
    expect(() => parseTagKeyPrefix(value)).toThrow(reason);
  });
  it('the default is a valid prefix', () => {
    expect(parseTagKeyPrefix(DEFAULT_TAG_KEY_PREFIX)).toBe(DEFAULT_TAG_KEY_PREFIX);
  });
});

describe('sanitizeTagLabel', () => {
  it.each([
    ['alice@laptop', 100, 'alice@laptop'],
    ['alice@laptop (work)', 100, 'alice@laptop-work'],
    ['  spaced   out  ', 100, 'spaced-out'],
    ['a#b$c', 100, 'a-b-c'],
    ['tab\there', 100, 'tab-here'],
    ['ünïcödé', 100, 'ünïcödé'],
    ['###', 100, ''],
    ['', 100, ''],
    ['abcdef-ghi', 7, 'abcdef'],
    ['x'.repeat(200), 120, 'x'.repeat(120)],
  ])('%j (max %i) -> %j', (text, max, expected) => {
    const label = sanitizeTagLabel(text, max);
    expect(label).toBe(expected);
    if (label !== '') expect(IAM_TAG_KEY.test(`ssh-key:${label}`)).toBe(true);
  });
});

describe('ids', () => {
  it('index ids and keyBodies ids of tag keys', () => {
    expect(tagKeyId('ssh-key:laptop')).toBe('tag:ssh-key:laptop');
    expect(tagBodyId('AIDAX', 'ssh-key:laptop')).toBe('tag:AIDAX:ssh-key:laptop');
  });
});

import { describe, expect, it } from 'vitest';
import { isBucketName, isRegionName } from '../../../contract/aws-names.js';

describe('isRegionName', () => {
  it.each([
    'us-east-1',
    'us-west-2',
    'eu-central-2',
    'ap-southeast-3',
    'ap-southeast-7',
    'il-central-1',
    'mx-central-1',
    'me-south-1',
    'af-south-1',
    'ca-west-1',
    'sa-east-1',
    'us-gov-west-1',
    'us-gov-east-1',
    'cn-north-1',
    'cn-northwest-1',
    'us-iso-east-1',
    'us-isob-east-1',
    'us-isof-south-1',
    'eu-isoe-west-1',
    'eusc-de-east-1',
  ])('accepts %s', (r) => expect(isRegionName(r)).toBe(true));

  it.each([
    '',
    'us-east',
    'useast1',
    'US-EAST-1',
    'us-East-1',
    'xx-east-1',
    'eu-gov-west-1',
    'eusc-fr-east-1',
    'us-east-1a',
    'us-east-123',
    'us--east-1',
    '-us-east-1',
    'us-east-1 ',
    'us-east-1\n',
    'us-east-1\nus-west-2',
    "us-east-1'",
    'us-east-1"',
    'us-east-$(id)-1',
    'us-east-1;id',
    'us-east-`id`-1',
    'aws-global',
  ])('refuses %j', (r) => expect(isRegionName(r)).toBe(false));
});

describe('isBucketName', () => {
  it.each(['abc', 'my-keys', 'my.keys.example', 'a1b2', '0-keys-9', 'x'.repeat(63)])('accepts %s', (b) =>
    expect(isBucketName(b)).toBe(true),
  );

  it.each([
    '',
    'ab',
    'x'.repeat(64),
    'My-Keys',
    'keys_1',
    '-keys',
    'keys-',
    '.keys',
    'keys.',
    'my..keys',
    '192.168.1.1',
    'xn--keys',
    'sthree-keys',
    'amzn-s3-demo-keys',
    'keys-s3alias',
    'keys--ol-s3',
    'keys.mrap',
    'keys--x-s3',
    'keys--table-s3',
    "keys'",
    'keys"x',
    'keys$(id)',
    'keys\nother',
    'keys other',
    'keys/x',
  ])('refuses %j', (b) => expect(isBucketName(b)).toBe(false));
});

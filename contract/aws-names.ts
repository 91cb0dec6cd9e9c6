// AWS names the stack and the host agent both check: S3 bucket names and region names.
// Both end up in shell scripts, URLs and hostnames, so the patterns admit no quoting characters.
// The checks are loops over the patterns' rules (every login checks the config: contract/charset.ts).
import { allIn, CLASS } from './charset.js';

/**
 * An AWS region name of any partition, as the SDK's partitions list them: aws (us, eu, ap, sa,
 * ca, me, af, il, mx), aws-cn (cn-), aws-us-gov (us-gov-), aws-iso* (us-iso-, us-isob-,
 * us-isof-, eu-isoe-) and aws-eusc (eusc-de-). Lower case only.
 */
export const REGION_NAME =
  /^(?:(?:us|eu|ap|sa|ca|me|af|il|mx|cn)|us-(?:gov|iso|isob|isof)|eu-isoe|eusc-de)-[a-z]+-\d{1,2}$/;

/** REGION_NAME's partitions, each followed by `-`: a name may fit more than one (us, us-gov). */
const REGION_PARTITIONS = [
  'us',
  'eu',
  'ap',
  'sa',
  'ca',
  'me',
  'af',
  'il',
  'mx',
  'cn',
  'us-gov',
  'us-iso',
  'us-isob',
  'us-isof',
  'eu-isoe',
  'eusc-de',
];

/** REGION_NAME: a partition, `-`, then `[a-z]+-\d{1,2}`. */
export function isRegionName(s: string): boolean {
  for (const p of REGION_PARTITIONS) {
    if (s.startsWith(p) && s.charAt(p.length) === '-' && isRegionTail(s, p.length + 1)) return true;
  }
  return false;
}

/** `[a-z]+-\d{1,2}` from `from` to the end of s. */
function isRegionTail(s: string, from: number): boolean {
  const dash = s.indexOf('-', from);
  const digits = s.length - dash - 1;
  return (
    dash > from &&
    allIn(s, CLASS.lower, from, dash) &&
    digits >= 1 &&
    digits <= 2 &&
    allIn(s, CLASS.digit, dash + 1)
  );
}

/** S3 general purpose bucket names: 3-63 of a-z 0-9 . -, a letter or digit at both ends. */
export const BUCKET_CHARS = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
/** Prefixes and suffixes S3 reserves (access point aliases, directory and table buckets, ...). */
export const BUCKET_RESERVED =
  /^(?:xn--|sthree-|amzn-s3-demo-)|(?:-s3alias|--ol-s3|\.mrap|--x-s3|--table-s3)$/;
const RESERVED_PREFIXES = ['xn--', 'sthree-', 'amzn-s3-demo-'];
const RESERVED_SUFFIXES = ['-s3alias', '--ol-s3', '.mrap', '--x-s3', '--table-s3'];

/** An S3 general purpose bucket name: no '..', not an IP address, no reserved prefix or suffix. */
export function isBucketName(s: string): boolean {
  const n = s.length;
  const chars =
    n >= 3 &&
    n <= 63 &&
    allIn(s, CLASS.bucketEnd, 0, 1) &&
    allIn(s, CLASS.bucketMiddle, 1, n - 1) &&
    allIn(s, CLASS.bucketEnd, n - 1);
  return chars && !s.includes('..') && !isDottedNumbers(s) && !isReserved(s);
}

/** /^\d+\.\d+\.\d+\.\d+$/: four runs of digits joined by dots. */
function isDottedNumbers(s: string): boolean {
  const parts = s.split('.');
  if (parts.length !== 4) return false;
  for (const p of parts) if (p === '' || !allIn(p, CLASS.digit)) return false;
  return true;
}

function isReserved(s: string): boolean {
  for (const p of RESERVED_PREFIXES) if (s.startsWith(p)) return true;
  for (const x of RESERVED_SUFFIXES) if (s.endsWith(x)) return true;
  return false;
}

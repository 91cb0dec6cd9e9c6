// AWS names the stack and the host agent both check: S3 bucket names and region names.
// Both end up in shell scripts, URLs and hostnames, so the patterns admit no quoting characters.

/**
 * An AWS region name of any partition, as the SDK's partitions list them: aws (us, eu, ap, sa,
 * ca, me, af, il, mx), aws-cn (cn-), aws-us-gov (us-gov-), aws-iso* (us-iso-, us-isob-,
 * us-isof-, eu-isoe-) and aws-eusc (eusc-de-). Lower case only.
 */
export const REGION_NAME =
  /^(?:(?:us|eu|ap|sa|ca|me|af|il|mx|cn)|us-(?:gov|iso|isob|isof)|eu-isoe|eusc-de)-[a-z]+-\d{1,2}$/;

export function isRegionName(s: string): boolean {
  return REGION_NAME.test(s);
}

// S3 general purpose bucket names: 3-63 of a-z 0-9 . -, a letter or digit at both ends.
const BUCKET_CHARS = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
// Prefixes and suffixes S3 reserves (access point aliases, directory and table buckets, ...).
const BUCKET_RESERVED = /^(?:xn--|sthree-|amzn-s3-demo-)|(?:-s3alias|--ol-s3|\.mrap|--x-s3|--table-s3)$/;

/** An S3 general purpose bucket name: no '..', not an IP address, no reserved prefix or suffix. */
export function isBucketName(s: string): boolean {
  return (
    BUCKET_CHARS.test(s) && !s.includes('..') && !/^\d+\.\d+\.\d+\.\d+$/.test(s) && !BUCKET_RESERVED.test(s)
  );
}

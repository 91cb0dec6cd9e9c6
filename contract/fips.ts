// Where AWS runs FIPS 140 endpoints for the services the hosts use (botocore's
// endpoints.json, the "fips" variants of s3 and sts). The host agent and the
// instance user data refuse FIPS elsewhere instead of using a non-FIPS endpoint.

/** Regions with `s3-fips.<region>.amazonaws.com` (and `<bucket>.s3-fips...`, `s3-fips.dualstack...`). */
export const S3_FIPS_REGIONS: ReadonlySet<string> = new Set([
  'us-east-1',
  'us-east-2',
  'us-west-1',
  'us-west-2',
  'ca-central-1',
  'ca-west-1',
  'us-gov-east-1',
  'us-gov-west-1',
]);

/** STS's FIPS host per region: GovCloud's regular endpoints are its FIPS ones; Canada has none. */
export const STS_FIPS_HOSTS: ReadonlyMap<string, string> = new Map([
  ['us-east-1', 'sts-fips.us-east-1.amazonaws.com'],
  ['us-east-2', 'sts-fips.us-east-2.amazonaws.com'],
  ['us-west-1', 'sts-fips.us-west-1.amazonaws.com'],
  ['us-west-2', 'sts-fips.us-west-2.amazonaws.com'],
  ['us-gov-east-1', 'sts.us-gov-east-1.amazonaws.com'],
  ['us-gov-west-1', 'sts.us-gov-west-1.amazonaws.com'],
]);

export class InvalidFipsSettingError extends Error {
  override name = 'InvalidFipsSettingError';
}

/** AWS_USE_FIPS_ENDPOINT / use_fips_endpoint as the SDK reads them: "true" or "false"; unset or empty: undefined. */
export function parseFipsSetting(value: string | undefined, name: string): boolean | undefined {
  if (value === undefined || value === '') return undefined;
  if (value === 'true' || value === 'false') return value === 'true';
  throw new InvalidFipsSettingError(`${name} must be true or false, not ${JSON.stringify(value)}`);
}

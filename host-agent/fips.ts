// FIPS 140 endpoints (the config's useFipsEndpoint, else AWS_USE_FIPS_ENDPOINT as the
// SDK reads it). Only where AWS runs them (contract/fips.ts): elsewhere the agent
// refuses to start rather than silently using a non-FIPS endpoint. An explicit
// endpoint with FIPS is refused, as the AWS SDK for JavaScript refuses it.

import { errorMessage } from '../contract/errors.js';
import { parseFipsSetting, S3_FIPS_REGIONS, STS_FIPS_HOSTS } from '../contract/fips.js';
import { type AgentConfig, ConfigError } from './config.js';

type FipsConfig = Pick<AgentConfig, 'region' | 'useFipsEndpoint' | 'roleArn' | 'endpoint'>;

/** The config's useFipsEndpoint when set, else AWS_USE_FIPS_ENDPOINT ("true"/"false", as the SDK; other values are refused). */
export function fipsWanted(config: Pick<AgentConfig, 'useFipsEndpoint'>, env: NodeJS.ProcessEnv): boolean {
  if (config.useFipsEndpoint !== undefined) return config.useFipsEndpoint;
  try {
    return parseFipsSetting(env.AWS_USE_FIPS_ENDPOINT, 'AWS_USE_FIPS_ENDPOINT') ?? false;
  } catch (e) {
    throw new ConfigError(errorMessage(e), { cause: e });
  }
}

/** S3's regional domain: s3-fips.<region>.amazonaws.com when FIPS is wanted (ConfigError where there is none). */
export function s3Domain(
  config: Pick<AgentConfig, 'region' | 'useFipsEndpoint'>,
  env: NodeJS.ProcessEnv,
): string {
  const { region } = config;
  if (!fipsWanted(config, env)) return `s3.${region}.amazonaws.com${region.startsWith('cn-') ? '.cn' : ''}`;
  if (!S3_FIPS_REGIONS.has(region)) {
    throw new ConfigError(
      `useFipsEndpoint: S3 has no FIPS endpoint in ${region} (only in ${[...S3_FIPS_REGIONS].join(', ')})`,
    );
  }
  return `s3-fips.${region}.amazonaws.com`;
}

/**
 * STS's FIPS endpoint for AssumeRole (roleArn) when FIPS is wanted (ConfigError where
 * there is none, or with AWS_ENDPOINT_URL_STS / AWS_ENDPOINT_URL); undefined: the usual endpoint.
 */
export function fipsStsUrl(config: FipsConfig, env: NodeJS.ProcessEnv): URL | undefined {
  if (!config.roleArn || !fipsWanted(config, env)) return undefined;
  const custom = env.AWS_ENDPOINT_URL_STS
    ? 'AWS_ENDPOINT_URL_STS'
    : env.AWS_ENDPOINT_URL
      ? 'AWS_ENDPOINT_URL'
      : '';
  if (custom)
    throw new ConfigError(`${custom} cannot be combined with useFipsEndpoint/AWS_USE_FIPS_ENDPOINT`);
  const host = STS_FIPS_HOSTS.get(config.region);
  if (!host) {
    throw new ConfigError(
      `useFipsEndpoint: STS (for roleArn) has no FIPS endpoint in ${config.region} (only in ${[...STS_FIPS_HOSTS.keys()].join(', ')})`,
    );
  }
  return new URL(`https://${host}/`);
}

/** fipsStsUrl as CredentialDeps' stsUrl, for the callers of createCredentialProvider. */
export function fipsStsDeps(config: FipsConfig, env: NodeJS.ProcessEnv): { stsUrl?: URL } {
  const stsUrl = fipsStsUrl(config, env);
  return stsUrl ? { stsUrl } : {};
}

/**
 * Throws ConfigError when FIPS is wanted but an endpoint the config needs has none, or
 * with an explicit endpoint: checked before any request. Returns the config.
 */
export function checkFipsEndpoints<C extends FipsConfig>(config: C, env: NodeJS.ProcessEnv): C {
  if (fipsWanted(config, env)) {
    const custom = config.endpoint
      ? 'endpoint'
      : env.AWS_ENDPOINT_URL_S3
        ? 'AWS_ENDPOINT_URL_S3'
        : env.AWS_ENDPOINT_URL
          ? 'AWS_ENDPOINT_URL'
          : '';
    if (custom)
      throw new ConfigError(`${custom} cannot be combined with useFipsEndpoint/AWS_USE_FIPS_ENDPOINT`);
    s3Domain(config, env);
  }
  fipsStsUrl(config, env);
  return config;
}

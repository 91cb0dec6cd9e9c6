// The one rule for every endpoint the agent talks to, whatever its source: the
// config's `endpoint`, AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_S3 / _STS / _SSM and
// AWS_EC2_METADATA_SERVICE_ENDPOINT. S3, STS and SSM answers are authenticated
// only by TLS, and IMDS answers are credentials: plain http would let anyone on
// the path inject keys or credentials. So https, or plain http to a loopback
// address (a local test server, a proxy on the host); IMDS also at its own
// link-local addresses, where EC2 serves it over plain http only.
import { allIn, CLASS } from '../contract/charset.js';
import { EndpointError } from './errors.js';

/** Loopback host names; isLoopback checks them without the pattern (every login checks its endpoints: contract/charset.ts). */
export const LOOPBACK = /^(localhost|127(\.\d{1,3}){3}|\[::1\])$/;

export function isLoopback(host: string): boolean {
  if (host === 'localhost' || host === '[::1]') return true;
  const parts = host.split('.');
  if (parts.length !== 4 || parts[0] !== '127') return false;
  for (let i = 1; i < 4; i++) {
    const p = parts[i] as string;
    if (p.length < 1 || p.length > 3 || !allIn(p, CLASS.digit)) return false;
  }
  return true;
}

/** s without its trailing slashes. */
function trimSlashes(s: string): string {
  let end = s.length;
  while (end > 0 && s.charCodeAt(end - 1) === 47) end--;
  return s.slice(0, end);
}
/** EC2's instance metadata service: IPv4 and IPv6 link-local addresses. */
const IMDS_HOSTS = new Set(['169.254.169.254', '[fd00:ec2::254]']);

export const DEFAULT_IMDS_ENDPOINT = 'http://169.254.169.254';

/**
 * Checks an endpoint URL; returns it normalised as `scheme://host[:port][/path]`
 * (no trailing slash). Throws EndpointError naming `source` otherwise.
 */
export function checkEndpoint(text: string, source: string, kind: 'aws' | 'imds' = 'aws'): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new EndpointError(`${source} ${JSON.stringify(text)} is not a URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new EndpointError(`${source} must be an http:// or https:// URL`);
  }
  if (url.username || url.password || url.search || url.hash) {
    throw new EndpointError(`${source} must not carry credentials, a query or a fragment`);
  }
  if (url.protocol === 'http:' && !isLoopback(url.hostname)) {
    if (kind !== 'imds') {
      throw new EndpointError(`${source} must be https:// (plain http:// only to a loopback address)`);
    }
    if (!IMDS_HOSTS.has(url.hostname)) {
      throw new EndpointError(
        `${source} must be https://, or plain http:// to a loopback address or to IMDS (169.254.169.254, [fd00:ec2::254])`,
      );
    }
  }
  return `${url.protocol}//${url.host}${trimSlashes(url.pathname)}`;
}

/** An endpoint from the environment (undefined when unset or ''), checked by the same rule. */
export function envEndpoint(
  env: NodeJS.ProcessEnv,
  name:
    | 'AWS_ENDPOINT_URL'
    | 'AWS_ENDPOINT_URL_S3'
    | 'AWS_ENDPOINT_URL_STS'
    | 'AWS_ENDPOINT_URL_SSM'
    | 'AWS_EC2_METADATA_SERVICE_ENDPOINT',
): string | undefined {
  const v = env[name];
  if (v === undefined || v === '') return undefined;
  return checkEndpoint(v, name, name === 'AWS_EC2_METADATA_SERVICE_ENDPOINT' ? 'imds' : 'aws');
}

export type EndpointVariable = Parameters<typeof envEndpoint>[1];

/** Every environment variable naming an endpoint. */
export const ENDPOINT_VARIABLES: readonly EndpointVariable[] = [
  'AWS_ENDPOINT_URL',
  'AWS_ENDPOINT_URL_S3',
  'AWS_ENDPOINT_URL_STS',
  'AWS_ENDPOINT_URL_SSM',
  'AWS_EC2_METADATA_SERVICE_ENDPOINT',
];

/** Checks every endpoint variable set in `env`: the agent refuses to start on the first bad one. */
export function checkEnvEndpoints(env: NodeJS.ProcessEnv): void {
  for (const name of ENDPOINT_VARIABLES) envEndpoint(env, name);
}

// The standard AWS credential chain, small: environment, shared credentials /
// config files (static keys), IMDSv2; then an optional AssumeRole (the
// cross-account mode), whose credentials are cached in the cache dir (0600)
// until shortly before they expire.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_IMDS_ENDPOINT, envEndpoint } from './endpoint.js';
import { CredentialsError, EndpointError, errorMessage, FetchError } from './errors.js';
import type { HttpClient } from './http.js';
import { checkPrivateDir, readPrivateFile, writePrivateFile } from './private-file.js';
import { type Credentials, postSigned, serviceEndpoint } from './sigv4.js';

export interface CredentialDeps {
  readonly env: NodeJS.ProcessEnv;
  readonly http: HttpClient;
  readonly now: () => number;
  readonly readFile: (path: string) => string | undefined;
  readonly warn: (m: string) => void;
  readonly signal?: AbortSignal;
  /** AssumeRole's endpoint when the caller chose one (FIPS: host-agent/fips.ts); default stsEndpoint(). */
  readonly stsUrl?: URL;
}

/** Per IMDS request: on a non-EC2 host the link-local address just times out. */
const IMDS_TIMEOUT_MS = 1000;
/** Re-use cached or assumed credentials only while they have this much life left. */
const EXPIRY_MARGIN_MS = 5 * 60_000;
const ASSUME_ROLE_SECONDS = 3600;

export function readFileOrUndefined(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

/** Parses an INI file into section -> key -> value (keys lower-cased, comments dropped). */
export function parseIni(text: string): Record<string, Record<string, string>> {
  const out: Record<string, Record<string, string>> = {};
  let section: Record<string, string> | undefined;
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const sec = /^\[\s*([^\]]+?)\s*\]$/.exec(line);
    if (sec) {
      const name = sec[1] as string;
      out[name] ??= {};
      section = out[name];
      continue;
    }
    const eq = line.indexOf('=');
    if (section && eq > 0) section[line.slice(0, eq).trim().toLowerCase()] = line.slice(eq + 1).trim();
  }
  return out;
}

export function fromEnv(env: NodeJS.ProcessEnv): Credentials | undefined {
  const { AWS_ACCESS_KEY_ID: id, AWS_SECRET_ACCESS_KEY: secret, AWS_SESSION_TOKEN: token } = env;
  if (!id || !secret) return undefined;
  return { accessKeyId: id, secretAccessKey: secret, ...(token ? { sessionToken: token } : {}) };
}

/** Static keys of the profile (AWS_PROFILE or 'default') from the credentials file, then the config file. */
export function fromProfileFiles(env: NodeJS.ProcessEnv, readFile: (p: string) => string | undefined) {
  const profile = env.AWS_PROFILE || env.AWS_DEFAULT_PROFILE || 'default';
  const home = env.HOME ?? '';
  const credsPath = env.AWS_SHARED_CREDENTIALS_FILE || (home && join(home, '.aws', 'credentials'));
  const configPath = env.AWS_CONFIG_FILE || (home && join(home, '.aws', 'config'));
  const candidates: Array<Record<string, string> | undefined> = [];
  const creds = credsPath ? readFile(credsPath) : undefined;
  if (creds !== undefined) candidates.push(parseIni(creds)[profile]);
  const config = configPath ? readFile(configPath) : undefined;
  if (config !== undefined) {
    const ini = parseIni(config);
    candidates.push(
      profile === 'default' ? (ini.default ?? ini['profile default']) : ini[`profile ${profile}`],
    );
  }
  for (const s of candidates) {
    const id = s?.aws_access_key_id;
    const secret = s?.aws_secret_access_key;
    if (id && secret) {
      const token = s.aws_session_token;
      return { accessKeyId: id, secretAccessKey: secret, ...(token ? { sessionToken: token } : {}) };
    }
  }
  return undefined;
}

function withTimeout(signal: AbortSignal | undefined, ms: number): AbortSignal {
  const t = AbortSignal.timeout(ms);
  return signal ? AbortSignal.any([signal, t]) : t;
}

export interface ImdsDeps {
  readonly http: HttpClient;
  readonly env: NodeJS.ProcessEnv;
  readonly signal?: AbortSignal;
}

/** GETs one metadata path; undefined when IMDS answers 404 (no such path, tag or role). */
export type ImdsReader = (path: string) => Promise<string | undefined>;

/**
 * The one IMDSv2 client: PUTs for a session token (throws FetchError when
 * IMDS is unreachable or refuses), then returns a reader that GETs metadata
 * paths with it. Every request has its own `timeoutMs`.
 */
export async function imdsSession(deps: ImdsDeps, timeoutMs: number): Promise<ImdsReader> {
  const base = envEndpoint(deps.env, 'AWS_EC2_METADATA_SERVICE_ENDPOINT') ?? DEFAULT_IMDS_ENDPOINT;
  const send = (path: string, method: string, headers: Record<string, string>) =>
    deps.http({
      url: new URL(base + path),
      method,
      headers,
      maxBytes: 64 * 1024,
      signal: withTimeout(deps.signal, timeoutMs),
    });
  const t = await send('/latest/api/token', 'PUT', { 'x-aws-ec2-metadata-token-ttl-seconds': '300' });
  if (t.status !== 200) throw new FetchError(`IMDS token answered ${t.status}`, t.status);
  const token = t.body.toString('utf8');
  return async (path) => {
    const r = await send(path, 'GET', { 'x-aws-ec2-metadata-token': token });
    if (r.status === 404) return undefined;
    if (r.status !== 200) throw new FetchError(`IMDS ${path} answered ${r.status}`, r.status);
    return r.body.toString('utf8');
  };
}

const IMDS_ROLES = '/latest/meta-data/iam/security-credentials/';

/** IMDSv2: session token, role name, role credentials. undefined when not on EC2 (or IMDS is disabled). */
export async function fromImds(deps: CredentialDeps): Promise<Credentials | undefined> {
  if (deps.env.AWS_EC2_METADATA_DISABLED === 'true') return undefined;
  let imds: ImdsReader;
  try {
    imds = await imdsSession(deps, IMDS_TIMEOUT_MS);
  } catch (e) {
    if (e instanceof EndpointError) throw e; // a refused endpoint is an error, not "not on EC2"
    return undefined; // not on EC2, or IMDS unreachable
  }
  const role = (await imds(IMDS_ROLES))?.split('\n')[0]?.trim();
  if (!role) throw new CredentialsError('IMDS: this instance has no IAM role');
  const text = await imds(`${IMDS_ROLES}${encodeURIComponent(role)}`);
  if (text === undefined) throw new CredentialsError(`IMDS: role ${role} credentials unavailable (404)`);
  const doc = JSON.parse(text);
  if (doc.Code !== 'Success' || !doc.AccessKeyId || !doc.SecretAccessKey) {
    throw new CredentialsError(`IMDS: role ${role} credentials unavailable (${String(doc.Code)})`);
  }
  return {
    accessKeyId: doc.AccessKeyId,
    secretAccessKey: doc.SecretAccessKey,
    ...(doc.Token ? { sessionToken: doc.Token } : {}),
    ...(doc.Expiration ? { expiration: Date.parse(doc.Expiration) } : {}),
  };
}

/** environment -> profile files -> IMDSv2; throws CredentialsError when none answers. */
export async function baseCredentials(deps: CredentialDeps): Promise<Credentials> {
  const c = fromEnv(deps.env) ?? fromProfileFiles(deps.env, deps.readFile);
  if (c) return c;
  try {
    const imds = await fromImds(deps);
    if (imds) return imds;
  } catch (e) {
    throw new CredentialsError(`no AWS credentials: ${errorMessage(e)}`, { cause: e });
  }
  throw new CredentialsError('no AWS credentials (environment, shared files or instance role)');
}

export function stsEndpoint(env: NodeJS.ProcessEnv, region: string): URL {
  return serviceEndpoint(env, 'sts', region);
}

function xmlField(xml: string, name: string): string | undefined {
  const m = new RegExp(`<${name}>([^<]*)</${name}>`).exec(xml);
  return m?.[1]
    ?.replaceAll('&lt;', '<')
    .replaceAll('&gt;', '>')
    .replaceAll('&quot;', '"')
    .replaceAll('&apos;', "'")
    .replaceAll('&amp;', '&');
}

/** STS AssumeRole over the signed query API. */
export async function assumeRole(
  base: Credentials,
  roleArn: string,
  region: string,
  deps: CredentialDeps,
): Promise<Credentials> {
  const url = deps.stsUrl ?? stsEndpoint(deps.env, region);
  const body = new URLSearchParams({
    Action: 'AssumeRole',
    Version: '2011-06-15',
    RoleArn: roleArn,
    RoleSessionName: 'iam-authorized-keys',
    DurationSeconds: String(ASSUME_ROLE_SECONDS),
  }).toString();
  const res = await postSigned(deps.http, {
    url,
    body,
    headers: { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' },
    service: 'sts',
    region,
    credentials: base,
    date: new Date(deps.now()),
    maxBytes: 64 * 1024,
    ...(deps.signal ? { signal: deps.signal } : {}),
  });
  const xml = res.body.toString('utf8');
  if (res.status !== 200) {
    throw new CredentialsError(
      `AssumeRole ${roleArn} failed: ${res.status} ${xmlField(xml, 'Code') ?? ''} ${xmlField(xml, 'Message') ?? ''}`.trim(),
    );
  }
  const accessKeyId = xmlField(xml, 'AccessKeyId');
  const secretAccessKey = xmlField(xml, 'SecretAccessKey');
  const sessionToken = xmlField(xml, 'SessionToken');
  const expiration = Date.parse(xmlField(xml, 'Expiration') ?? '');
  if (!accessKeyId || !secretAccessKey || !sessionToken || Number.isNaN(expiration)) {
    throw new CredentialsError(`AssumeRole ${roleArn}: unexpected answer`);
  }
  return { accessKeyId, secretAccessKey, sessionToken, expiration };
}

export interface RoleCache {
  readonly dir: string;
  readonly uid: number;
}

/** Cache file per (role, base identity): another base identity must not reuse these credentials. */
export function roleCacheName(roleArn: string, baseAccessKeyId: string): string {
  return `sts-${createHash('sha256').update(`${roleArn}\n${baseAccessKeyId}`).digest('hex').slice(0, 32)}.json`;
}

function readCachedRole(cache: RoleCache, name: string, now: number): Credentials | undefined {
  const buf = readPrivateFile(join(cache.dir, name), cache.uid, 16 * 1024);
  if (!Buffer.isBuffer(buf)) return undefined;
  try {
    const c = JSON.parse(buf.toString('utf8'));
    if (
      typeof c.accessKeyId === 'string' &&
      typeof c.secretAccessKey === 'string' &&
      typeof c.sessionToken === 'string' &&
      typeof c.expiration === 'number' &&
      c.expiration - EXPIRY_MARGIN_MS > now
    ) {
      return c;
    }
  } catch {
    // corrupt: assume the role again
  }
  return undefined;
}

/**
 * Returns a memoised provider: base chain, then AssumeRole when roleArn is
 * set (with its on-disk cache when `roleCache` is given).
 */
export function createCredentialProvider(
  opts: { roleArn?: string; region: string; roleCache?: RoleCache },
  deps: CredentialDeps,
): () => Promise<Credentials> {
  let p: Promise<Credentials> | undefined;
  const resolve = async (): Promise<Credentials> => {
    const base = await baseCredentials(deps);
    if (!opts.roleArn) return base;
    const name = roleCacheName(opts.roleArn, base.accessKeyId);
    let cacheOk = false;
    if (opts.roleCache) {
      try {
        checkPrivateDir(opts.roleCache.dir, opts.roleCache.uid);
        cacheOk = true;
      } catch (e) {
        deps.warn(`not caching assumed-role credentials: ${errorMessage(e)}`);
      }
    }
    if (opts.roleCache && cacheOk) {
      const cached = readCachedRole(opts.roleCache, name, deps.now());
      if (cached) return cached;
    }
    const assumed = await assumeRole(base, opts.roleArn, opts.region, deps);
    if (opts.roleCache && cacheOk) {
      try {
        writePrivateFile(opts.roleCache.dir, name, Buffer.from(JSON.stringify(assumed)));
      } catch (e) {
        deps.warn(`cannot cache assumed-role credentials: ${errorMessage(e)}`);
      }
    }
    return assumed;
  };
  return () => {
    p ??= resolve();
    return p;
  };
}

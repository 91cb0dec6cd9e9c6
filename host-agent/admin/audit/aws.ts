// ship-audit's three AWS calls, on the agent's own HTTP client and signer:
// PutObject with If-None-Match: * (an object is never overwritten: 412 means
// "already there"), sts:GetCallerIdentity (the uploader id the bucket policy
// binds the key path to) and IMDS's instance identity document.
import { hostname } from 'node:os';
import type { AgentConfig } from '../../config.js';
import {
  type CredentialDeps,
  createCredentialProvider,
  imdsSession,
  stsEndpoint,
} from '../../credentials.js';
import { CredentialsError, FetchError } from '../../errors.js';
import { fipsStsDeps } from '../../fips.js';
import type { HttpClient } from '../../http.js';
import { objectUrl } from '../../s3-fetch.js';
import { postSigned, sha256Hex, signRequest } from '../../sigv4.js';
import type { HostFacts } from './join.js';

export interface AwsDeps {
  readonly http: HttpClient;
  readonly env: NodeJS.ProcessEnv;
  readonly now: () => number;
  readonly readFile: (path: string) => string | undefined;
  readonly warn: (m: string) => void;
}

/** Per request: a stuck endpoint fails this run; the spool keeps the batch for the next one. */
const TIMEOUT_MS = 15_000;

export interface AuditUploader {
  /** 'created', or 'exists' (412: an earlier run already stored this object). Throws FetchError otherwise. */
  put(key: string, body: string): Promise<'created' | 'exists'>;
  /** sts:GetCallerIdentity's UserId. */
  callerUserId(): Promise<string>;
}

/**
 * The instance's own credentials (environment, profile, instance role), never the
 * config's roleArn: the bucket policy binds each writer to its own aws:userid.
 */
export function auditUploader(
  config: Pick<AgentConfig, 'endpoint' | 'region' | 'useFipsEndpoint'>,
  target: { bucket: string; region?: string },
  deps: AwsDeps,
): AuditUploader {
  const audit = { bucket: target.bucket, region: target.region ?? config.region };
  const fips = fipsStsDeps({ ...config, region: audit.region }, deps.env);
  const credDeps: CredentialDeps = { ...deps, ...fips };
  const creds = createCredentialProvider({ region: audit.region }, credDeps);
  // A configured endpoint (a VPC endpoint) serves the keys bucket's region only.
  const s3 = {
    bucket: audit.bucket,
    region: audit.region,
    ...(config.endpoint && config.region === audit.region ? { endpoint: config.endpoint } : {}),
    ...(config.useFipsEndpoint !== undefined ? { useFipsEndpoint: config.useFipsEndpoint } : {}),
  };
  return {
    async put(key, body) {
      const url = objectUrl(s3, deps.env, key);
      const hash = sha256Hex(body);
      const headers = signRequest({
        method: 'PUT',
        host: url.host,
        path: url.pathname,
        headers: {
          'content-type': 'application/x-ndjson',
          'if-none-match': '*',
          'x-amz-content-sha256': hash,
        },
        payloadHash: hash,
        service: 's3',
        region: audit.region,
        credentials: await creds(),
        date: new Date(deps.now()),
      });
      const res = await deps.http({
        url,
        method: 'PUT',
        headers,
        body,
        maxBytes: 64 * 1024,
        signal: AbortSignal.timeout(TIMEOUT_MS),
      });
      if (res.status === 200) return 'created';
      if (res.status === 412) return 'exists';
      const code = /<Code>([^<]{1,100})<\/Code>/.exec(res.body.toString('utf8'))?.[1] ?? '';
      throw new FetchError(`S3 PUT ${key} answered ${res.status}${code ? ` ${code}` : ''}`, res.status);
    },
    async callerUserId() {
      const res = await postSigned(deps.http, {
        url: fips.stsUrl ?? stsEndpoint(deps.env, audit.region),
        body: 'Action=GetCallerIdentity&Version=2011-06-15',
        headers: { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' },
        service: 'sts',
        region: audit.region,
        credentials: await creds(),
        date: new Date(deps.now()),
        maxBytes: 64 * 1024,
        signal: AbortSignal.timeout(TIMEOUT_MS),
      });
      const id = /<UserId>([^<]{1,200})<\/UserId>/.exec(res.body.toString('utf8'))?.[1];
      if (res.status !== 200 || !id)
        throw new CredentialsError(`sts:GetCallerIdentity answered ${res.status}`);
      return id;
    },
  };
}

const str = (v: unknown) => (typeof v === 'string' && v !== '' ? v : null);

/** Host name and, on EC2, instance id, account and region from IMDS; nulls where IMDS does not answer. */
export async function hostFacts(
  deps: Pick<AwsDeps, 'http' | 'env'>,
): Promise<{ facts: HostFacts; fromImds: boolean }> {
  const none = { hostname: hostname(), instanceId: null, accountId: null, region: null };
  if (deps.env.AWS_EC2_METADATA_DISABLED === 'true') return { facts: none, fromImds: false };
  try {
    const imds = await imdsSession(deps, 1000);
    const doc = JSON.parse((await imds('/latest/dynamic/instance-identity/document')) ?? '{}') as Record<
      string,
      unknown
    >;
    return {
      facts: {
        ...none,
        instanceId: str(doc.instanceId),
        accountId: str(doc.accountId),
        region: str(doc.region),
      },
      fromImds: str(doc.instanceId) !== null,
    };
  } catch {
    return { facts: none, fromImds: false };
  }
}

// Wiring: --profile/--region/--mfa-code and the environment -> the credentials and region
// the CLI's clients use. Profiles that need STS (role_arn, mfa_serial) get our provider
// (MFA prompt, shared cache); every other case stays with the SDK's default chain.
import { homedir } from 'node:os';
import { STSClient } from '@aws-sdk/client-sts';
import { parseFipsSetting } from '../../contract/fips.js';
import type { GlobalOptions } from '../args.js';
import { cliCacheDir, fileCacheStore, openTerminal, readProfiles, readStdin } from './files.js';
import { MFA_CODE_ENV, mfaCodeSource } from './mfa.js';
import { type Base, type Plan, ProfileError, type Profiles, profileName, resolvePlan } from './profile.js';
import { type Credentials, type ProviderDeps, planProvider } from './provider.js';

type Env = Readonly<Record<string, string | undefined>>;

export interface CredentialSetup {
  /** Our provider, when the profile needs STS; undefined: the SDK's default chain. */
  readonly credentials?: () => Promise<Credentials>;
  /** For the SDK's chain: the profile it should read. */
  readonly profile?: string;
  readonly region?: string;
  /** The plan and dependencies, for `iam-ssh-keys credentials`. */
  readonly plan?: Plan;
  readonly deps: ProviderDeps;
  readonly profiles: Profiles;
  readonly profileName?: string;
  /** AWS_USE_FIPS_ENDPOINT, else the chosen profile's use_fips_endpoint; undefined: neither says (the SDK's lookup). */
  readonly useFipsEndpoint?: boolean;
}

function fromEnv(env: Env): Credentials {
  const { AWS_ACCESS_KEY_ID: accessKeyId, AWS_SECRET_ACCESS_KEY: secretAccessKey } = env;
  if (!accessKeyId || !secretAccessKey)
    throw new ProfileError(
      'credential_source Environment: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY are not set',
    );
  const exp = env.AWS_CREDENTIAL_EXPIRATION ? new Date(env.AWS_CREDENTIAL_EXPIRATION) : undefined;
  return {
    accessKeyId,
    secretAccessKey,
    ...(env.AWS_SESSION_TOKEN ? { sessionToken: env.AWS_SESSION_TOKEN } : {}),
    ...(exp && !Number.isNaN(exp.getTime()) ? { expiration: exp } : {}),
  };
}

/** Credentials from a base the SDK knows how to read. */
async function external(
  base: Exclude<Base, { kind: 'static' }>,
  env: Env,
  region: string,
): Promise<Credentials> {
  if (base.kind === 'environment') return fromEnv(env);
  if (base.kind === 'instance-metadata' || base.kind === 'container') {
    const imds = await import('@smithy/credential-provider-imds');
    return base.kind === 'container' ? imds.fromContainerMetadata()() : imds.fromInstanceMetadata()();
  }
  const client = new STSClient({ region, ...(base.kind === 'sdk-profile' ? { profile: base.profile } : {}) });
  try {
    return await client.config.credentials();
  } finally {
    client.destroy();
  }
}

export function credentialSetup(
  g: GlobalOptions,
  env: Env,
  opts: { readonly home?: string; readonly now?: () => Date } = {},
): CredentialSetup {
  const home = opts.home ?? env.HOME ?? homedir();
  const profiles = readProfiles(env, home);
  const chosen = profileName(g.profile, env);
  const p = chosen ? profiles.get(chosen.name) : undefined;
  if (chosen?.explicit && !p) {
    throw new ProfileError(
      `profile ${chosen.name} does not exist in ${env.AWS_CONFIG_FILE || '~/.aws/config'} or ${env.AWS_SHARED_CREDENTIALS_FILE || '~/.aws/credentials'}`,
    );
  }
  const region = g.region ?? env.AWS_REGION ?? env.AWS_DEFAULT_REGION ?? p?.region;
  const stsRegion = region ?? 'us-east-1';
  // Given to every client: a role profile's clients do not get the profile, so the SDK would not read it.
  const fips =
    parseFipsSetting(env.AWS_USE_FIPS_ENDPOINT, 'AWS_USE_FIPS_ENDPOINT') ??
    parseFipsSetting(p?.use_fips_endpoint, `use_fips_endpoint of profile ${chosen?.name}`);
  const given = g.mfaCode ?? env[MFA_CODE_ENV];
  const deps: ProviderDeps = {
    cache: fileCacheStore(cliCacheDir(home)),
    mfa: mfaCodeSource({ ...(given !== undefined ? { given } : {}), readStdin, openTerminal }),
    now: opts.now ?? (() => new Date()),
    sts: (credentials) =>
      new STSClient({
        region: stsRegion,
        credentials,
        ...(fips !== undefined ? { useFipsEndpoint: fips } : {}),
        maxAttempts: 3,
        requestHandler: { requestTimeout: 30_000, connectionTimeout: 5_000, throwOnRequestTimeout: true },
      }),
    external: (base) => external(base, env, stsRegion),
    warn: (line) => process.stderr.write(`iam-ssh-keys: ${line}\n`),
  };
  const base = {
    deps,
    profiles,
    ...(region ? { region } : {}),
    ...(fips !== undefined ? { useFipsEndpoint: fips } : {}),
  };
  if (!chosen || !p) return base;
  const plan = resolvePlan(profiles, chosen.name);
  const named = { ...base, profileName: chosen.name };
  if (plan.steps.length === 0) return { ...named, ...(g.profile ? { profile: g.profile } : {}) };
  return { ...named, plan, credentials: planProvider(plan, deps) };
}

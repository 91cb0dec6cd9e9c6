// Pure: the AWS config and credentials files -> how to obtain a profile's credentials.
// Follows the AWS CLI's rules (role_arn with source_profile or credential_source, chained
// roles, credentials file over config file), plus mfa_serial on a profile WITHOUT role_arn:
// GetSessionToken with MFA, as shell helpers such as aws-sts-helpers do.

export class ProfileError extends Error {
  override name = 'ProfileError';
}

export type Profiles = ReadonlyMap<string, Readonly<Record<string, string>>>;

export interface StaticCredentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken?: string;
}

/** Where the first credentials of a chain come from. */
export type Base =
  | { readonly kind: 'static'; readonly profile: string; readonly credentials: StaticCredentials }
  | { readonly kind: 'environment' }
  | { readonly kind: 'instance-metadata' }
  | { readonly kind: 'container' }
  /** A profile the SDK resolves itself (SSO, credential_process, web identity). */
  | { readonly kind: 'sdk-profile'; readonly profile: string }
  /** No profile: the SDK's default chain. */
  | { readonly kind: 'sdk-default' };

export type Step =
  | {
      readonly kind: 'assume-role';
      readonly profile: string;
      readonly roleArn: string;
      readonly serialNumber?: string;
      readonly externalId?: string;
      readonly durationSeconds?: number;
      readonly roleSessionName?: string;
    }
  | {
      readonly kind: 'session-token';
      readonly profile: string;
      readonly serialNumber?: string;
      readonly durationSeconds?: number;
    };

export interface Plan {
  readonly base: Base;
  /** STS calls made in order on top of the base credentials; empty: the base is the answer. */
  readonly steps: readonly Step[];
}

const SECTION = /^\[\s*([^\]]*?)\s*\]\s*$/;

/**
 * Parses one AWS ini file. In the config file profiles are `[profile NAME]` (and
 * `[default]`); in the credentials file `[NAME]`. Other sections (sso-session,
 * services) and indented sub-settings are skipped.
 */
export function parseIni(text: string, kind: 'config' | 'credentials'): Map<string, Record<string, string>> {
  const out = new Map<string, Record<string, string>>();
  let current: Record<string, string> | undefined;
  for (const raw of text.split(/\r?\n/)) {
    if (/^\s*([#;].*)?$/.test(raw)) continue;
    const section = SECTION.exec(raw.trim());
    if (section) {
      const title = section[1] ?? '';
      let name: string | undefined;
      if (kind === 'credentials') name = title;
      else if (title === 'default') name = 'default';
      else if (/^profile\s+/.test(title)) name = title.replace(/^profile\s+/, '');
      current = name ? (out.get(name) ?? {}) : undefined;
      if (name && current) out.set(name, current);
      continue;
    }
    if (!current || /^\s/.test(raw)) continue; // sub-setting of a nested key (e.g. s3 =)
    const eq = raw.indexOf('=');
    if (eq <= 0) continue;
    current[raw.slice(0, eq).trim()] = raw.slice(eq + 1).trim();
  }
  return out;
}

/** The credentials file wins over the config file for the same profile and key, as in the AWS CLI. */
export function mergeProfiles(configText: string, credentialsText: string): Profiles {
  const merged = new Map<string, Record<string, string>>();
  for (const [name, p] of parseIni(configText, 'config')) merged.set(name, { ...p });
  for (const [name, p] of parseIni(credentialsText, 'credentials'))
    merged.set(name, { ...merged.get(name), ...p });
  return merged;
}

function duration(profile: string, v: string | undefined): number | undefined {
  if (v === undefined || v === '') return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 900 || n > 43200)
    throw new ProfileError(
      `profile ${profile}: duration_seconds must be 900..43200, not ${JSON.stringify(v)}`,
    );
  return n;
}

function staticOf(p: Readonly<Record<string, string>>): StaticCredentials | undefined {
  const accessKeyId = p.aws_access_key_id;
  const secretAccessKey = p.aws_secret_access_key;
  if (!accessKeyId || !secretAccessKey) return undefined;
  return {
    accessKeyId,
    secretAccessKey,
    ...(p.aws_session_token ? { sessionToken: p.aws_session_token } : {}),
  };
}

function opt<K extends string>(key: K, v: string | undefined): { [k in K]?: string } {
  return (v ? { [key]: v } : {}) as { [k in K]?: string };
}

function sourceOf(name: string, p: Readonly<Record<string, string>>): Base {
  const cs = p.credential_source;
  if (cs === 'Environment') return { kind: 'environment' };
  if (cs === 'Ec2InstanceMetadata') return { kind: 'instance-metadata' };
  if (cs === 'EcsContainer') return { kind: 'container' };
  throw new ProfileError(
    `profile ${name}: credential_source ${JSON.stringify(cs)} is not one of Environment, Ec2InstanceMetadata, EcsContainer`,
  );
}

function resolveIn(profiles: Profiles, name: string, leaf: boolean, seen: readonly string[]): Plan {
  const p = profiles.get(name);
  if (!p) {
    throw new ProfileError(
      seen.length
        ? `profile ${seen[seen.length - 1]}: source_profile ${name} does not exist`
        : `profile ${name} does not exist in the AWS config or credentials file`,
    );
  }
  if (p.role_arn && !p.web_identity_token_file) {
    const step: Step = {
      kind: 'assume-role',
      profile: name,
      roleArn: p.role_arn,
      ...opt('serialNumber', p.mfa_serial),
      ...opt('externalId', p.external_id),
      ...opt('roleSessionName', p.role_session_name),
      ...(p.duration_seconds ? { durationSeconds: duration(name, p.duration_seconds) as number } : {}),
    };
    if (p.source_profile && p.credential_source)
      throw new ProfileError(`profile ${name} has both source_profile and credential_source: keep one`);
    if (p.credential_source) return { base: sourceOf(name, p), steps: [step] };
    const src = p.source_profile;
    if (!src)
      throw new ProfileError(`profile ${name} has role_arn but no source_profile or credential_source`);
    if (src === name) {
      // The AWS CLI's rule: a profile that is its own source uses its own keys.
      const credentials = staticOf(p);
      if (!credentials) throw new ProfileError(`profile ${name} is its own source_profile but has no keys`);
      return { base: { kind: 'static', profile: name, credentials }, steps: [step] };
    }
    if (seen.includes(src) || src === name)
      throw new ProfileError(`profiles ${[...seen, name, src].join(' -> ')} form a source_profile loop`);
    const inner = resolveIn(profiles, src, false, [...seen, name]);
    return { base: inner.base, steps: [...inner.steps, step] };
  }
  const credentials = staticOf(p);
  if (credentials) {
    // mfa_serial on a source profile is for the roles it assumes (AWS CLI), so only the
    // profile asked for turns its long-term keys into an MFA session.
    if (leaf && p.mfa_serial && !credentials.sessionToken) {
      const step: Step = {
        kind: 'session-token',
        profile: name,
        serialNumber: p.mfa_serial,
        ...(p.duration_seconds ? { durationSeconds: duration(name, p.duration_seconds) as number } : {}),
      };
      return { base: { kind: 'static', profile: name, credentials }, steps: [step] };
    }
    return { base: { kind: 'static', profile: name, credentials }, steps: [] };
  }
  if (leaf && p.mfa_serial && !p.role_arn)
    throw new ProfileError(
      `profile ${name} has mfa_serial but neither role_arn nor keys to start a session with`,
    );
  return { base: { kind: 'sdk-profile', profile: name }, steps: [] };
}

export interface ResolveOptions {
  /** `credentials --role-arn`: assume this role on top of the profile. */
  readonly roleArn?: string;
  /** `credentials --duration`: DurationSeconds of the last STS call. */
  readonly durationSeconds?: number;
}

/** How to obtain the named profile's credentials. */
export function resolvePlan(profiles: Profiles, name: string, o: ResolveOptions = {}): Plan {
  let plan: Plan;
  if (o.roleArn) {
    // As if the profile had a role profile on top of it, the MFA device moving to the role
    // (one STS call, like a role profile whose source_profile is this one).
    const p = profiles.get(name);
    const serial = p && !p.role_arn ? p.mfa_serial : undefined;
    const virtual = `${name} --role-arn`;
    const withRole = new Map(profiles);
    withRole.set(virtual, {
      role_arn: o.roleArn,
      source_profile: name,
      ...(serial ? { mfa_serial: serial } : {}),
    });
    plan = resolveIn(withRole, virtual, true, []);
  } else plan = resolveIn(profiles, name, true, []);
  return finish(plan, o);
}

/** Sets the duration of the plan's last STS call. */
export function finish(plan: Plan, o: ResolveOptions): Plan {
  const steps = [...plan.steps];
  const last = steps[steps.length - 1];
  if (last && o.durationSeconds !== undefined)
    steps[steps.length - 1] = { ...last, durationSeconds: o.durationSeconds };
  return { base: plan.base, steps };
}

/** The profile the tool uses: --profile, else AWS_PROFILE, else `default` unless environment keys are set. */
export function profileName(
  explicit: string | undefined,
  env: Readonly<Record<string, string | undefined>>,
): { readonly name: string; readonly explicit: boolean } | undefined {
  if (explicit) return { name: explicit, explicit: true };
  if (env.AWS_PROFILE) return { name: env.AWS_PROFILE, explicit: true };
  if (env.AWS_ACCESS_KEY_ID && env.AWS_SECRET_ACCESS_KEY) return undefined;
  return { name: 'default', explicit: false };
}

// Carries out a credential plan: base credentials, then each STS step (AssumeRole,
// GetSessionToken), reusing cached sessions and asking for an MFA code only when a step
// that needs one has no fresh session in the cache.
import { AssumeRoleCommand, GetSessionTokenCommand, type STSClient } from '@aws-sdk/client-sts';
import { CredentialsError, errorMessage } from '../../contract/errors.js';
import {
  type CacheStore,
  cacheKey,
  isFresh,
  parseCacheFile,
  renderCacheFile,
  type Session,
} from './cache.js';
import type { MfaCodeSource } from './mfa.js';
import type { Base, Plan, Step } from './profile.js';

export { CredentialsError };

export interface Credentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken?: string;
  readonly expiration?: Date;
}

export interface ProviderDeps {
  readonly cache: CacheStore;
  readonly mfa: MfaCodeSource;
  readonly now: () => Date;
  /** An STS client that signs with these credentials. */
  readonly sts: (credentials: Credentials) => STSClient;
  /** Credentials of a base the SDK resolves itself (SSO, process, IMDS, the default chain). */
  readonly external: (base: Exclude<Base, { kind: 'static' }>) => Promise<Credentials>;
  /** A line for stderr: a session that could not be cached still serves this command. */
  readonly warn: (line: string) => void;
}

function stepLabel(s: Step): string {
  return s.kind === 'assume-role'
    ? `AssumeRole ${s.roleArn} (profile ${s.profile})`
    : `GetSessionToken (profile ${s.profile})`;
}

async function call(step: Step, source: Credentials, deps: ProviderDeps): Promise<Session> {
  const code = step.serialNumber ? deps.mfa(step.profile, step.serialNumber) : undefined;
  const sts = deps.sts(source);
  const mfa = step.serialNumber && code ? { SerialNumber: step.serialNumber, TokenCode: code } : {};
  const duration = step.durationSeconds !== undefined ? { DurationSeconds: step.durationSeconds } : {};
  try {
    const res =
      step.kind === 'assume-role'
        ? await sts.send(
            new AssumeRoleCommand({
              RoleArn: step.roleArn,
              RoleSessionName:
                step.roleSessionName ?? `iam-ssh-keys-${Math.floor(deps.now().getTime() / 1000)}`,
              ...(step.externalId ? { ExternalId: step.externalId } : {}),
              ...mfa,
              ...duration,
            }),
          )
        : await sts.send(new GetSessionTokenCommand({ ...mfa, ...duration }));
    const c = res.Credentials;
    if (!c?.AccessKeyId || !c.SecretAccessKey || !c.SessionToken || !c.Expiration)
      throw new CredentialsError(`${stepLabel(step)} returned no credentials`);
    return {
      accessKeyId: c.AccessKeyId,
      secretAccessKey: c.SecretAccessKey,
      sessionToken: c.SessionToken,
      expiration: c.Expiration,
    };
  } catch (e) {
    if (e instanceof CredentialsError) throw e;
    const err = e as { name?: string; message?: string };
    throw new CredentialsError(`${stepLabel(step)} failed: ${err.message || err.name || String(e)}`, {
      cause: e,
    });
  } finally {
    sts.destroy();
  }
}

/** Obtains the plan's credentials, starting from the last step that has a fresh cached session. */
export async function obtain(plan: Plan, deps: ProviderDeps): Promise<Credentials> {
  const source = plan.base.kind === 'static' ? plan.base.credentials : undefined;
  const keys = plan.steps.map((s) => cacheKey(s, source));
  let creds: Credentials | undefined;
  let start = 0;
  for (let i = plan.steps.length - 1; i >= 0; i--) {
    const text = deps.cache.read(keys[i] as string);
    const cached = text === undefined ? undefined : parseCacheFile(text);
    if (cached && isFresh(cached, deps.now())) {
      creds = cached;
      start = i + 1;
      break;
    }
  }
  if (!creds) creds = plan.base.kind === 'static' ? plan.base.credentials : await deps.external(plan.base);
  for (let i = start; i < plan.steps.length; i++) {
    const session = await call(plan.steps[i] as Step, creds, deps);
    try {
      deps.cache.write(keys[i] as string, renderCacheFile(session));
    } catch (e) {
      deps.warn(`could not cache the session of ${stepLabel(plan.steps[i] as Step)}: ${errorMessage(e)}`);
    }
    creds = session;
  }
  return creds;
}

/**
 * An SDK credential provider over `obtain`: one result shared by every client of the
 * process (one prompt, not one per client), renewed when it is about to expire.
 */
export function planProvider(plan: Plan, deps: ProviderDeps): () => Promise<Credentials> {
  let current: Promise<Credentials> | undefined;
  return async () => {
    if (current) {
      const c = await current.catch(() => undefined);
      if (c && (!c.expiration || isFresh(c as Session, deps.now()))) return c;
    }
    current = obtain(plan, deps);
    return current;
  };
}

// `iam-ssh-keys credentials`: a temporary session for other tools, as `export` lines for a
// shell or as credential_process JSON. Secrets go to stdout only; the expiry to stderr.

import { type Base, finish, type Plan, resolvePlan } from './profile.js';
import { type Credentials, obtain } from './provider.js';
import type { CredentialSetup } from './setup.js';

export interface CredentialsOptions {
  readonly roleArn?: string;
  readonly durationSeconds?: number;
  readonly json: boolean;
}

/** POSIX shell single quotes: safe for any value in `eval "$(...)"`. */
export function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

export function renderExports(c: Credentials): string[] {
  return [
    `export AWS_ACCESS_KEY_ID=${shellQuote(c.accessKeyId)}`,
    `export AWS_SECRET_ACCESS_KEY=${shellQuote(c.secretAccessKey)}`,
    ...(c.sessionToken ? [`export AWS_SESSION_TOKEN=${shellQuote(c.sessionToken)}`] : []),
    ...(c.expiration ? [`export AWS_CREDENTIAL_EXPIRATION=${shellQuote(c.expiration.toISOString())}`] : []),
  ];
}

/** The credential_process format (Version 1). */
export function renderProcessJson(c: Credentials): string {
  return JSON.stringify({
    Version: 1,
    AccessKeyId: c.accessKeyId,
    SecretAccessKey: c.secretAccessKey,
    ...(c.sessionToken ? { SessionToken: c.sessionToken } : {}),
    ...(c.expiration ? { Expiration: c.expiration.toISOString() } : {}),
  });
}

export function describeExpiry(c: Credentials, now: Date, who: string): string {
  if (!c.expiration) return `credentials for ${who} have no expiry`;
  const min = Math.round((c.expiration.getTime() - now.getTime()) / 60_000);
  const left = min >= 120 ? `${Math.floor(min / 60)} h ${min % 60} min` : `${min} min`;
  return `credentials for ${who} expire at ${c.expiration.toISOString()} (in ${left})`;
}

function planFor(
  o: CredentialsOptions,
  setup: CredentialSetup,
  env: Readonly<Record<string, string | undefined>>,
): Plan {
  const opts = {
    ...(o.roleArn ? { roleArn: o.roleArn } : {}),
    ...(o.durationSeconds !== undefined ? { durationSeconds: o.durationSeconds } : {}),
  };
  if (setup.profileName) return resolvePlan(setup.profiles, setup.profileName, opts);
  const base: Base =
    env.AWS_ACCESS_KEY_ID && env.AWS_SECRET_ACCESS_KEY ? { kind: 'environment' } : { kind: 'sdk-default' };
  const steps = o.roleArn
    ? [{ kind: 'assume-role' as const, profile: '(no profile)', roleArn: o.roleArn }]
    : [];
  return finish({ base, steps }, opts);
}

export async function runCredentials(
  o: CredentialsOptions,
  setup: CredentialSetup,
  env: Readonly<Record<string, string | undefined>>,
  out: (line: string) => void,
  err: (line: string) => void,
): Promise<number> {
  const plan = planFor(o, setup, env);
  const who = `profile ${setup.profileName ?? '(environment)'}${o.roleArn ? ` role ${o.roleArn}` : ''}`;
  let creds = await obtain(plan, setup.deps);
  if (!creds.sessionToken) {
    // Long-term keys are never handed out: a session of them instead.
    const profile = setup.profileName ?? '(environment)';
    creds = await obtain(
      {
        base: { kind: 'static', profile, credentials: creds },
        steps: [
          {
            kind: 'session-token',
            profile,
            ...(o.durationSeconds !== undefined ? { durationSeconds: o.durationSeconds } : {}),
          },
        ],
      },
      setup.deps,
    );
  }
  if (o.json) out(renderProcessJson(creds));
  else for (const l of renderExports(creds)) out(l);
  err(describeExpiry(creds, setup.deps.now(), who));
  return 0;
}

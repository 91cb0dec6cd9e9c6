// Operator CLI: argv -> command; wires SDK clients, clock and output into the shared core.
import { STSClient } from '@aws-sdk/client-sts';
import { errorMessage } from '../contract/errors.js';
import { normalizePrefix, parseGrantTagPrefix, parseTagKeyPrefix } from '../contract/index.js';
import { DEFAULT_GRANT_TAG_PREFIX } from '../contract/publisher-settings.js';
import { createClients } from '../lambda/clients.js';
import { parseArgs, splitGlobalOptions, USAGE, UsageError } from './args.js';
import { runCredentials } from './credentials/command.js';
import { type CredentialSetup, credentialSetup } from './credentials/setup.js';
import { runGrant, runGrants } from './grant.js';
import { runKeys } from './keys.js';
import { runLogins } from './logins.js';
import { runPublish } from './publish.js';
import { runStatus } from './status.js';

type Out = (line: string) => void;

/** Turns SDK errors into one line a person can act on. */
export function describeError(e: unknown): string {
  const err = e as { name?: string; message?: string };
  const name = err?.name ?? '';
  if (name === 'CredentialsProviderError' || /Could not load credentials/i.test(err?.message ?? '')) {
    return 'no AWS credentials found: pass --profile NAME or set AWS_PROFILE, or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or run on a host with a role';
  }
  if (/^(AccessDenied|AccessDeniedException|Forbidden|UnauthorizedOperation)$/.test(name)) {
    return `access denied: ${err.message ?? name}`;
  }
  const cause = (e as { cause?: { name?: string } }).cause;
  if (cause?.name === 'CredentialsProviderError') return describeError(cause);
  return err?.message || String(e);
}

/** --tag-key-prefix, else $TAG_KEY_PREFIX (as the Lambda), else ssh-key:. */
function tagKeyPrefixOf(option: string | undefined, env: Record<string, string | undefined>): string {
  try {
    return parseTagKeyPrefix(option ?? env.TAG_KEY_PREFIX);
  } catch (e) {
    throw new UsageError(errorMessage(e), { cause: e });
  }
}

/** --grant-tag-prefix, else $GRANT_TAG_PREFIX (as the Lambda), else ssh-grant:; apart from the tag key prefix. */
function grantTagPrefixOf(
  option: string | undefined,
  tagKeyPrefix: string,
  env: Record<string, string | undefined>,
): string {
  try {
    return parseGrantTagPrefix(option ?? env.GRANT_TAG_PREFIX, tagKeyPrefix, DEFAULT_GRANT_TAG_PREFIX);
  } catch (e) {
    throw new UsageError(errorMessage(e), { cause: e });
  }
}

/** --prefix as the bucket layout allows it (a usage error otherwise). */
function prefixOf(option: string | undefined): string {
  try {
    return normalizePrefix(option);
  } catch (e) {
    throw new UsageError(errorMessage(e), { cause: e });
  }
}

/** What the credential setup decides for every SDK client: credentials, profile, FIPS. */
export function sdkOptions(auth: CredentialSetup) {
  return {
    ...(auth.credentials ? { credentials: auth.credentials } : {}),
    ...(auth.profile ? { profile: auth.profile } : {}),
    ...(auth.useFipsEndpoint !== undefined ? { useFipsEndpoint: auth.useFipsEndpoint } : {}),
  };
}

export async function run(
  argv: readonly string[],
  out: Out,
  env = process.env,
  err: Out = (l) => process.stderr.write(`${l}\n`),
): Promise<number> {
  const { global, rest } = splitGlobalOptions(argv);
  const c = parseArgs(rest);
  if (c.cmd === 'help') {
    out(USAGE);
    return 0;
  }
  const auth = credentialSetup(global, env);
  if (c.cmd === 'credentials') return runCredentials(c, auth, env, out, err);
  const clients = createClients({
    env,
    ...(auth.region ? { region: auth.region } : {}),
    ...sdkOptions(auth),
  });
  if (c.cmd === 'keys') {
    const sts = new STSClient({ region: clients.iam.config.region, ...sdkOptions(auth) });
    return runKeys(c, { iam: clients.iam, sts, tagKeyPrefix: tagKeyPrefixOf(c.tagKeyPrefix, env) }, out);
  }
  if (c.cmd === 'grant') {
    const grantTagPrefix = grantTagPrefixOf(c.grantTagPrefix, tagKeyPrefixOf(undefined, env), env);
    return runGrant(c, { iam: clients.iam, grantTagPrefix, now: () => new Date() }, out);
  }
  if (c.cmd === 'logins') {
    const keysPrefix = c.keysBucket ? prefixOf(c.keysPrefix) : undefined;
    return runLogins({ ...c, ...(keysPrefix === undefined ? {} : { keysPrefix }) }, clients.s3, out, err);
  }
  const prefix = prefixOf(c.prefix);
  if (c.cmd === 'status') return runStatus(c, clients.s3, prefix, out);
  if (c.cmd === 'grants') return runGrants(c, clients.s3, prefix, out);
  const tagKeyPrefix = tagKeyPrefixOf(c.tagKeyPrefix, env);
  const grantTagPrefix = grantTagPrefixOf(c.grantTagPrefix, tagKeyPrefix, env);
  return runPublish(c, clients, { prefix, tagKeyPrefix, grantTagPrefix }, out, err);
}

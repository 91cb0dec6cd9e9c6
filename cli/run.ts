// Operator CLI: argv -> command; wires SDK clients, clock and output into the shared core.
import { readFileSync } from 'node:fs';
import { STSClient } from '@aws-sdk/client-sts';
import { normalizePrefix, parseTagKeyPrefix } from '../contract/index.js';
import { countCalls } from '../lambda/call-counter.js';
import { createClients } from '../lambda/clients.js';
import { targetsOf } from '../lambda/event-targets.js';
import {
  DEFAULT_PUBLISH_CONFIG,
  PublishIncompleteError,
  type PublishResult,
  publish,
} from '../lambda/publish.js';
import { publishForEvents } from '../lambda/publish-targeted.js';
import { parseArgs, splitGlobalOptions, USAGE, UsageError } from './args.js';
import { runCredentials } from './credentials/command.js';
import { type CredentialSetup, credentialSetup } from './credentials/setup.js';
import { runKeys } from './keys.js';
import { runStatus } from './status-run.js';

/** `publish --time-budget` ran out of time: progress saved, run again to continue. */
export const EXIT_INCOMPLETE = 3;

export class CliError extends Error {
  override name = 'CliError';
}

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
    throw new UsageError((e as Error).message);
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
  let prefix: string;
  try {
    prefix = normalizePrefix(c.prefix);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  if (c.cmd === 'status') return runStatus(c, clients.s3, prefix, out);
  const counts = countCalls(clients.iam);
  const now = () => new Date();
  const deadline = c.timeBudget !== undefined ? { deadline: now().getTime() + c.timeBudget * 1000 } : {};
  const config = {
    ...deadline,
    ...DEFAULT_PUBLISH_CONFIG,
    bucket: c.bucket,
    prefix,
    dryRun: c.dryRun,
    allowMassDelete: c.allowMassDelete,
    allowIndexReset: c.allowIndexReset,
    ...(c.maxDeleteShare !== undefined ? { maxDeleteShare: c.maxDeleteShare } : {}),
    ...(c.uidBase !== undefined ? { uidBase: c.uidBase } : {}),
    tagKeyPrefix: tagKeyPrefixOf(c.tagKeyPrefix, env),
  };
  const deps = { ...clients, now };
  let result: PublishResult | PublishIncompleteError;
  const incomplete = (e: unknown) => {
    if (!(e instanceof PublishIncompleteError)) throw e;
    return e;
  };
  if (c.event !== undefined) {
    let event: unknown;
    try {
      event = JSON.parse(readFileSync(c.event, 'utf8'));
    } catch (e) {
      throw new CliError(`${c.event}: not a JSON event (${(e as Error).message})`);
    }
    const outcome = await publishForEvents(config, deps, targetsOf(event)).catch(incomplete);
    if (outcome instanceof PublishIncompleteError) result = outcome;
    else if (outcome.mode === 'none') {
      out(
        c.json
          ? JSON.stringify({ mode: 'none', reason: outcome.reason })
          : `nothing to do: ${outcome.reason}`,
      );
      return 0;
    } else {
      if (!c.json)
        out(
          outcome.mode === 'targeted'
            ? `targeted run: re-read IAM users [${outcome.targets.users.join(', ')}] groups [${outcome.targets.groups.join(', ')}]`
            : `full run: ${outcome.reason}`,
        );
      if (!c.json && outcome.mode === 'targeted')
        for (const u of outcome.unconfirmed) out(`not confirmed by IAM yet: ${u}`);
      result = outcome.result;
    }
  } else result = await publish(config, deps).catch(incomplete);
  if (result instanceof PublishIncompleteError) {
    if (c.json)
      out(JSON.stringify({ complete: false, progress: result.progress, iamCalls: counts.calls }, null, 2));
    else {
      for (const w of result.warnings) out(`warning: ${w}`);
      out(`${c.dryRun ? 'dry run, progress not saved: ' : ''}${result.message}`);
    }
    return EXIT_INCOMPLETE;
  }
  if (!c.json) for (const w of result.warnings ?? []) out(`warning: ${w}`);
  if (c.json) {
    out(
      JSON.stringify(
        { summary: result.summary, plan: result.plan, problems: result.problems, iamCalls: counts.calls },
        null,
        2,
      ),
    );
    return 0;
  }
  const verb = c.dryRun ? 'would ' : '';
  for (const p of result.plan.puts) out(`${verb}${p.change === 'add' ? 'add   ' : 'change'} ${p.key}`);
  for (const k of result.plan.deletes) out(`${verb}delete ${k}`);
  for (const p of result.problems)
    out(`not published: ${p.user}${p.keyId ? ` key ${p.keyId}` : ''}: ${p.reason}`);
  const s = result.summary;
  const calls = Object.entries(counts.calls)
    .map(([k, v]) => `${k}=${v}`)
    .join(' ');
  out(
    `${c.dryRun ? 'dry run: nothing written. ' : ''}users ${s.users}, groups ${s.groups}, keys ${s.keys}, rejected ${s.rejectedKeys}; ` +
      `added ${s.added}, changed ${s.changed}, deleted ${s.deleted}, unchanged ${s.unchanged}${c.dryRun ? '' : ', index.json written'}; ` +
      `IAM calls: ${calls || 'none'}; ${s.durationMs} ms`,
  );
  return 0;
}

// Operator CLI: argv -> command; wires SDK clients, clock and output into the shared core.
import { readFileSync } from 'node:fs';
import {
  DeleteSSHPublicKeyCommand,
  type IAMClient,
  ListSSHPublicKeysCommand,
  UpdateSSHPublicKeyCommand,
  UploadSSHPublicKeyCommand,
} from '@aws-sdk/client-iam';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { normalizePrefix, parseIndex, parsePublicKeyText } from '../contract/index.js';
import { readIndexText } from '../lambda/bucket.js';
import { countCalls } from '../lambda/call-counter.js';
import { createClients } from '../lambda/clients.js';
import { DEFAULT_PUBLISH_CONFIG, PublishIncompleteError, publish } from '../lambda/publish.js';
import { type Command, parseArgs, USAGE, UsageError } from './args.js';
import { statusReport } from './status.js';

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
    return 'no AWS credentials found: set AWS_PROFILE, or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or run on a host with a role';
  }
  if (/^(AccessDenied|AccessDeniedException|Forbidden|UnauthorizedOperation)$/.test(name)) {
    return `access denied: ${err.message ?? name}`;
  }
  const cause = (e as { cause?: { name?: string } }).cause;
  if (cause?.name === 'CredentialsProviderError') return describeError(cause);
  return err?.message || String(e);
}

async function currentUser(sts: STSClient): Promise<string> {
  const id = await sts.send(new GetCallerIdentityCommand({}));
  const m = /:user\/(?:.*\/)?([^/]+)$/.exec(id.Arn ?? '');
  if (!m?.[1]) throw new CliError(`the caller ${id.Arn ?? '?'} is not an IAM user: pass --user NAME`);
  return m[1];
}

async function runKeys(
  c: Extract<Command, { cmd: 'keys' }>,
  iam: IAMClient,
  sts: STSClient,
  out: Out,
): Promise<number> {
  const user = c.user ?? (await currentUser(sts));
  if (c.action === 'list') {
    const res = await iam.send(new ListSSHPublicKeysCommand({ UserName: user }));
    let marker = res.IsTruncated ? res.Marker : undefined;
    const keys = [...(res.SSHPublicKeys ?? [])];
    while (marker) {
      const page = await iam.send(new ListSSHPublicKeysCommand({ UserName: user, Marker: marker }));
      keys.push(...(page.SSHPublicKeys ?? []));
      marker = page.IsTruncated ? page.Marker : undefined;
    }
    if (keys.length === 0) out(`${user} has no SSH public keys`);
    for (const k of keys) out(`${k.SSHPublicKeyId}\t${k.Status}\t${k.UploadDate?.toISOString() ?? ''}`);
    return 0;
  }
  if (c.action === 'upload') {
    const text = readFileSync(c.file, 'utf8');
    // Validate first: IAM would accept keys that our hosts will refuse to serve.
    const parsed = parsePublicKeyText(text);
    if (!parsed.ok) throw new CliError(`${c.file}: ${parsed.reason}`);
    const res = await iam.send(
      new UploadSSHPublicKeyCommand({
        UserName: user,
        SSHPublicKeyBody: `${parsed.key.type} ${parsed.key.blob}`,
      }),
    );
    out(`uploaded ${res.SSHPublicKey?.SSHPublicKeyId ?? '?'} (${parsed.key.fingerprint}) for ${user}`);
    return 0;
  }
  if (c.action === 'delete') {
    await iam.send(new DeleteSSHPublicKeyCommand({ UserName: user, SSHPublicKeyId: c.keyId }));
    out(`deleted ${c.keyId} of ${user}`);
    return 0;
  }
  const Status = c.action === 'activate' ? 'Active' : 'Inactive';
  await iam.send(new UpdateSSHPublicKeyCommand({ UserName: user, SSHPublicKeyId: c.keyId, Status }));
  out(`${c.keyId} of ${user} is now ${Status}`);
  return 0;
}

export async function run(argv: readonly string[], out: Out, env = process.env): Promise<number> {
  const c = parseArgs(argv);
  if (c.cmd === 'help') {
    out(USAGE);
    return 0;
  }
  const clients = createClients({ env });
  if (c.cmd === 'keys')
    return runKeys(c, clients.iam, new STSClient({ region: clients.iam.config.region }), out);
  let prefix: string;
  try {
    prefix = normalizePrefix(c.prefix);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  if (c.cmd === 'status') {
    const text = await readIndexText(clients.s3, c.bucket, prefix);
    if (text === undefined)
      throw new CliError(`s3://${c.bucket}/${prefix}index.json does not exist: nothing was published yet`);
    const report = statusReport(parseIndex(text), new Date(), c.maxAge);
    if (c.json) out(JSON.stringify(report.data, null, 2));
    else for (const l of report.lines) out(l);
    return report.ok ? 0 : 1;
  }
  const counts = countCalls(clients.iam);
  const now = () => new Date();
  const deadline = c.timeBudget !== undefined ? { deadline: now().getTime() + c.timeBudget * 1000 } : {};
  const result = await publish(
    {
      ...deadline,
      ...DEFAULT_PUBLISH_CONFIG,
      bucket: c.bucket,
      prefix,
      dryRun: c.dryRun,
      allowMassDelete: c.allowMassDelete,
      allowIndexReset: c.allowIndexReset,
      ...(c.maxDeleteShare !== undefined ? { maxDeleteShare: c.maxDeleteShare } : {}),
      ...(c.uidBase !== undefined ? { uidBase: c.uidBase } : {}),
    },
    { ...clients, now },
  ).catch((e: unknown) => {
    if (!(e instanceof PublishIncompleteError)) throw e;
    return e;
  });
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

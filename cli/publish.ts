// `iam-ssh-keys publish`: runs the publisher's own code (lambda/) from an operator's machine,
// prints what it did or would do, and returns the exit code (docs/cli.md).
import { readFileSync } from 'node:fs';
import { errorMessage } from '../contract/errors.js';
import { countCalls } from '../lambda/call-counter.js';
import type { createClients } from '../lambda/clients.js';
import { targetsOf } from '../lambda/event-targets.js';
import { publish } from '../lambda/publish.js';
import { DEFAULT_PUBLISH_CONFIG } from '../lambda/publish-config.js';
import { PublishIncomplete, type PublishResult, type RunOutcome } from '../lambda/publish-result.js';
import { publishForEvents } from '../lambda/publish-targeted.js';
import type { Command } from './args.js';

/** `publish --time-budget` ran out of time: progress saved, run again to continue. */
export const EXIT_INCOMPLETE = 3;
/** `publish --time-budget` was too small for any progress (the line says by how much): a larger budget is needed. */
export const EXIT_BUDGET_TOO_SMALL = 4;

export class CliError extends Error {
  override name = 'CliError';
}

type Out = (line: string) => void;
type PublishCommand = Extract<Command, { cmd: 'publish' }>;
type Clients = ReturnType<typeof createClients>;

/** `--event FILE`: the targeted run; undefined when the event asks for nothing (already printed). */
async function publishEvent(
  c: PublishCommand & { event: string },
  config: Parameters<typeof publish>[0],
  deps: Parameters<typeof publish>[1],
  out: Out,
): Promise<RunOutcome | undefined> {
  let event: unknown;
  try {
    event = JSON.parse(readFileSync(c.event, 'utf8'));
  } catch (e) {
    throw new CliError(`${c.event}: not a JSON event (${errorMessage(e)})`, { cause: e });
  }
  const outcome = await publishForEvents(config, deps, targetsOf(event));
  if (outcome.mode === 'stopped') return outcome.stopped;
  if (outcome.mode === 'none') {
    out(
      c.json ? JSON.stringify({ mode: 'none', reason: outcome.reason }) : `nothing to do: ${outcome.reason}`,
    );
    return undefined;
  }
  if (!c.json)
    out(
      outcome.mode === 'targeted'
        ? `targeted run: re-read IAM users [${outcome.targets.users.join(', ')}] groups [${outcome.targets.groups.join(', ')}]`
        : `full run: ${outcome.reason}`,
    );
  if (!c.json && outcome.mode === 'targeted')
    for (const u of outcome.unconfirmed) out(`not confirmed by IAM yet: ${u}`);
  return outcome.result;
}

/** A run that stopped in time: its line (or JSON), exit 3; a budget too small for any progress: stderr, exit 4. */
function reportIncomplete(
  c: PublishCommand,
  e: PublishIncomplete,
  calls: Record<string, number>,
  out: Out,
  err: Out,
): number {
  const stop = e.stop;
  if (c.json)
    out(
      JSON.stringify(
        { complete: false, progress: e.progress, iamCalls: calls, ...(stop ? { stop } : {}) },
        null,
        2,
      ),
    );
  else {
    for (const w of e.warnings) out(`warning: ${w}`);
    const unsaved = c.dryRun
      ? 'dry run, progress not saved: '
      : stop?.saved === false
        ? 'progress NOT saved (no time left): '
        : '';
    (stop?.budgetTooSmall ? err : out)(`${unsaved}${e.message}`);
  }
  return stop?.budgetTooSmall ? EXIT_BUDGET_TOO_SMALL : EXIT_INCOMPLETE;
}

function reportResult(
  c: PublishCommand,
  result: PublishResult,
  calls: Record<string, number>,
  out: Out,
): number {
  if (c.json) {
    out(
      JSON.stringify(
        { summary: result.summary, plan: result.plan, problems: result.problems, iamCalls: calls },
        null,
        2,
      ),
    );
    return 0;
  }
  for (const w of result.warnings ?? []) out(`warning: ${w}`);
  const verb = c.dryRun ? 'would ' : '';
  for (const p of result.plan.puts) out(`${verb}${p.change === 'add' ? 'add   ' : 'change'} ${p.key}`);
  for (const k of result.plan.deletes) out(`${verb}delete ${k}`);
  for (const p of result.problems)
    out(`not published: ${p.user}${p.keyId ? ` key ${p.keyId}` : ''}: ${p.reason}`);
  const s = result.summary;
  const callList = Object.entries(calls)
    .map(([k, v]) => `${k}=${v}`)
    .join(' ');
  out(
    `${c.dryRun ? 'dry run: nothing written. ' : ''}users ${s.users}, groups ${s.groups}, keys ${s.keys}, rejected ${s.rejectedKeys}; ` +
      `added ${s.added}, changed ${s.changed}, deleted ${s.deleted}, unchanged ${s.unchanged}${c.dryRun ? '' : `, ${s.directoryWritten ? 'directory.json, ' : ''}index.json and heartbeat.json written`}; ` +
      `IAM calls: ${callList || 'none'}; ${s.durationMs} ms`,
  );
  return 0;
}

export async function runPublish(
  c: PublishCommand,
  clients: Clients,
  settings: { readonly prefix: string; readonly tagKeyPrefix: string; readonly grantTagPrefix: string },
  out: Out,
  err: Out,
  now: () => Date = () => new Date(),
): Promise<number> {
  const counts = countCalls(clients.iam);
  const deadline = c.timeBudget !== undefined ? { deadline: now().getTime() + c.timeBudget * 1000 } : {};
  const config = {
    ...deadline,
    ...DEFAULT_PUBLISH_CONFIG,
    bucket: c.bucket,
    prefix: settings.prefix,
    dryRun: c.dryRun,
    allowMassDelete: c.allowMassDelete,
    allowIndexReset: c.allowIndexReset,
    ...(c.maxDeleteShare !== undefined ? { maxDeleteShare: c.maxDeleteShare } : {}),
    ...(c.uidBase !== undefined ? { uidBase: c.uidBase } : {}),
    tagKeyPrefix: settings.tagKeyPrefix,
    grantTagPrefix: settings.grantTagPrefix,
    ...(c.maxKeyAgeDays !== undefined ? { maxKeyAgeDays: c.maxKeyAgeDays } : {}),
    ...(c.maxGrantHours !== undefined ? { maxGrantHours: c.maxGrantHours } : {}),
    ...(c.verifyRequiredGroups !== undefined ? { verifyRequiredGroups: c.verifyRequiredGroups } : {}),
  };
  const deps = { ...clients, now };
  const result =
    c.event !== undefined
      ? await publishEvent({ ...c, event: c.event }, config, deps, out)
      : await publish(config, deps);
  if (result === undefined) return 0;
  if (result instanceof PublishIncomplete) return reportIncomplete(c, result, counts.calls, out, err);
  return reportResult(c, result, counts.calls, out);
}

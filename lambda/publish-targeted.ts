// A run for an IAM change event (or a batch of them): re-read only what the
// events name, then the same render, plan, guards and write order as a full run
// (index.json last). Falls back to a full run whenever it cannot be sure the
// result equals what a full run would publish.
import { putText, readText } from './bucket.js';
import { listed, readBucketState } from './bucket-state.js';
import type { UndecidedCopy } from './copied-key-clash.js';
import type { EventPlan, Targets } from './event-targets.js';
import {
  DEFAULT_EVENT_FULL_RUN_INTERVAL_MS,
  FULL_RUN_BUDGET_KIND,
  FULL_RUN_BUDGET_VERSION,
  fullRunBudgetKey,
  lastEventFullRun,
  mayStartFullRun,
  serializeEventFullRun,
} from './full-run-budget.js';
import {
  type ImportProgress,
  ProgressFormatError,
  parseProgress,
  progressKey,
  serializeProgress,
  withoutKeyLists,
} from './progress.js';
import { type PublishConfig, type PublishDeps, publish } from './publish.js';
import { PublishIncomplete, type PublishResult } from './publish-result.js';
import { knownKeyBodies } from './render.js';
import { renderAndWrite } from './render-and-write.js';
import { type TargetedReadOptions, targetedSnapshot } from './targeted-read.js';

export type TargetedOutcome =
  /** Only the targets were re-read from IAM. */
  | {
      readonly mode: 'targeted';
      readonly targets: Targets;
      readonly result: PublishResult;
      /** What the events did that IAM still did not show after the retries (published as IAM said). */
      readonly unconfirmed: readonly string[];
      /**
       * Users in a copied-key clash index.json has not decided, while the event path's full-run
       * budget was spent: only their removals were applied, the schedule's full run does the rest.
       */
      readonly deferred: readonly UndecidedCopy[];
    }
  /** A full run, and why; `causedBy`: the users whose copied keys asked for it. */
  | {
      readonly mode: 'full';
      readonly reason: string;
      readonly result: PublishResult;
      readonly causedBy?: readonly UndecidedCopy[];
    }
  /** A full run (and why) that stopped in time: its progress is saved, the next run continues it. */
  | { readonly mode: 'stopped'; readonly reason: string; readonly stopped: PublishIncomplete }
  /** Nothing changed in IAM (every event was a failed call): nothing read or written. */
  | { readonly mode: 'none'; readonly reason: string };

/** Drops the saved key lists of `users` from progress.json (a malformed one is left to the full run). */
async function forgetKeyLists(
  s3: PublishDeps['s3'],
  bucket: string,
  prefix: string,
  users: readonly string[],
): Promise<void> {
  const text = await readText(s3, bucket, progressKey(prefix));
  if (text === undefined || users.length === 0) return;
  let saved: ImportProgress;
  try {
    saved = parseProgress(text);
  } catch (e) {
    if (e instanceof ProgressFormatError) return;
    throw e;
  }
  if (!users.some((u) => Object.hasOwn(saved.keyLists, u))) return;
  await putText(s3, bucket, progressKey(prefix), serializeProgress(withoutKeyLists(saved, users)));
}

export async function publishForEvents(
  config: PublishConfig,
  deps: PublishDeps,
  eventPlan: EventPlan,
  readOptions: Omit<TargetedReadOptions, 'concurrency'> = {},
): Promise<TargetedOutcome> {
  if (eventPlan.kind === 'none') return { mode: 'none', reason: eventPlan.reason };
  const fullRun = async (reason: string, causedBy?: readonly UndecidedCopy[]): Promise<TargetedOutcome> => {
    const outcome = await publish(config, deps);
    if (outcome instanceof PublishIncomplete) return { mode: 'stopped', reason, stopped: outcome };
    return { mode: 'full', reason, result: outcome, ...(causedBy ? { causedBy } : {}) };
  };
  if (eventPlan.kind === 'full') return fullRun(eventPlan.reason);

  const started = deps.now();
  const { bucket, prefix } = config;
  const state = await readBucketState(deps.s3, bucket, prefix, config.pageSize);
  // A run in progress (first import, or a run cut short) saved key lists the events may have made
  // stale: those of the users they name are dropped, so the full run that continues the series reads
  // them again instead of publishing a list from before the change (a revoked key, say).
  if (listed(state, progressKey(prefix))) {
    if (!config.dryRun) await forgetKeyLists(deps.s3, bucket, prefix, eventPlan.targets.users);
    return fullRun('a publisher run saved its progress (publisher/progress.json): the full run continues it');
  }
  // The full run decides whether it may publish without a readable index.
  const previous = state.previous;
  if (previous === undefined) return fullRun(state.indexProblem ?? 'index.json is missing');

  const known = knownKeyBodies(previous);
  const composed = await targetedSnapshot(deps.iam, previous, eventPlan.targets, known, {
    ...readOptions,
    concurrency: config.concurrency,
    ...(config.tagKeyPrefix !== undefined ? { tagKeyPrefix: config.tagKeyPrefix } : {}),
  });
  if (composed.kind === 'full') return fullRun(composed.reason);
  const { undecided } = composed;
  if (undecided.length > 0 && (await takeFullRunBudget(config, deps, state.existing, started, undecided)))
    return fullRun(undecided.map((u) => u.reason).join('; '), undecided);

  // From here on exactly the steps of a full run (publish.ts), on the composed snapshot.
  return {
    mode: 'targeted',
    targets: eventPlan.targets,
    unconfirmed: composed.unconfirmed,
    deferred: undecided,
    result: await renderAndWrite({
      snapshot: composed.snapshot,
      state,
      config,
      deps,
      started,
      ...(eventPlan.targets.revoked ? { revoked: eventPlan.targets.revoked } : {}),
    }),
  };
}

/**
 * True (and recorded, unless a dry run) when the event path may start a full run
 * for users' copied keys now: at most one per interval, whoever asks.
 */
async function takeFullRunBudget(
  config: PublishConfig,
  deps: PublishDeps,
  existing: readonly { key: string }[],
  started: Date,
  undecided: readonly UndecidedCopy[],
): Promise<boolean> {
  const key = fullRunBudgetKey(config.prefix);
  const text = existing.some((o) => o.key === key) ? await readText(deps.s3, config.bucket, key) : undefined;
  const interval = config.eventFullRunIntervalMs ?? DEFAULT_EVENT_FULL_RUN_INTERVAL_MS;
  if (!mayStartFullRun(lastEventFullRun(text), started.getTime(), interval)) return false;
  // Recorded before the run: a run that fails or times out spends the budget too.
  if (!config.dryRun) {
    const record = {
      kind: FULL_RUN_BUDGET_KIND,
      version: FULL_RUN_BUDGET_VERSION,
      startedAt: started.toISOString(),
      users: [...new Set(undecided.map((u) => u.user))],
    } as const;
    await putText(deps.s3, config.bucket, key, serializeEventFullRun(record));
  }
  return true;
}

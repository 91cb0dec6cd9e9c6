// A run for an IAM change event (or a batch of them): re-read only what the
// events name, then the same render, plan, guards and write order as a full run
// (index.json last). Falls back to a full run whenever it cannot be sure the
// result equals what a full run would publish.
import { IndexFormatError, indexKey, type PublishedIndex, parseIndex } from '../contract/index.js';
import { listExisting, putText, readIndexText, readText } from './bucket.js';
import type { EventPlan, Targets } from './event-targets.js';
import {
  type ImportProgress,
  ProgressFormatError,
  parseProgress,
  progressKey,
  serializeProgress,
  withoutKeyLists,
} from './progress.js';
import {
  type PublishConfig,
  type PublishDeps,
  type PublishResult,
  publish,
  renderAndWrite,
} from './publish.js';
import { knownKeyBodies } from './render.js';
import { type TargetedReadOptions, targetedSnapshot } from './targeted-read.js';

export type TargetedOutcome =
  /** Only the targets were re-read from IAM. */
  | {
      readonly mode: 'targeted';
      readonly targets: Targets;
      readonly result: PublishResult;
      /** What the events did that IAM still did not show after the retries (published as IAM said). */
      readonly unconfirmed: readonly string[];
    }
  /** A full run, and why. */
  | { readonly mode: 'full'; readonly reason: string; readonly result: PublishResult }
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
  const fullRun = async (reason: string): Promise<TargetedOutcome> => ({
    mode: 'full',
    reason,
    result: await publish(config, deps),
  });
  if (eventPlan.kind === 'full') return fullRun(eventPlan.reason);

  const started = deps.now();
  const { bucket, prefix } = config;
  const existing = await listExisting(deps.s3, bucket, prefix, config.pageSize);
  // A run in progress (first import, or a run cut short) saved key lists the events may have made
  // stale: those of the users they name are dropped, so the full run that continues the series reads
  // them again instead of publishing a list from before the change (a revoked key, say).
  if (existing.some((o) => o.key === progressKey(prefix))) {
    if (!config.dryRun) await forgetKeyLists(deps.s3, bucket, prefix, eventPlan.targets.users);
    return fullRun('a publisher run saved its progress (publisher/progress.json): the full run continues it');
  }
  if (!existing.some((o) => o.key === indexKey(prefix))) return fullRun('index.json is missing');
  const text = await readIndexText(deps.s3, bucket, prefix);
  if (text === undefined) return fullRun('index.json is missing');
  let previous: PublishedIndex;
  try {
    previous = parseIndex(text);
  } catch (e) {
    if (!(e instanceof IndexFormatError)) throw e;
    // The full run decides whether it may publish without a readable index.
    return fullRun(`index.json is unreadable (${e.message})`);
  }

  const known = knownKeyBodies(previous);
  const composed = await targetedSnapshot(deps.iam, previous, eventPlan.targets, known, {
    ...readOptions,
    concurrency: config.concurrency,
  });
  if (composed.kind === 'full') return fullRun(composed.reason);

  // From here on exactly the steps of a full run (publish.ts), on the composed snapshot.
  return {
    mode: 'targeted',
    targets: eventPlan.targets,
    unconfirmed: composed.unconfirmed,
    result: await renderAndWrite(composed.snapshot, previous, existing, config, deps, started),
  };
}

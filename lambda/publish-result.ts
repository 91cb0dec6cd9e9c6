// What one publisher run returns (published, or stopped in time), or throws when it
// refuses or fails its hosts' limits: shared by the Lambda handler, the CLI and tests.
import { MAX_HOST_OBJECT_BYTES, type PublishedIndex } from '../contract/index.js';
import { describeShortfall, type Shortfall } from './deadline.js';
import type { Plan } from './plan.js';
import type { ProgressCounts } from './progress.js';
import type { Problem } from './render.js';

export interface PublishSummary {
  readonly users: number;
  readonly groups: number;
  readonly keys: number;
  readonly rejectedKeys: number;
  /** Of rejectedKeys: copies of a key another IAM user holds (see render's firstHolder). */
  readonly copiedKeysRefused: number;
  readonly added: number;
  readonly changed: number;
  readonly deleted: number;
  readonly unchanged: number;
  /** directory.json changed (written unless a dry run); otherwise only index.json and heartbeat.json were. */
  readonly directoryWritten: boolean;
  readonly dryRun: boolean;
  readonly durationMs: number;
}

export interface PublishResult {
  readonly plan: Plan;
  readonly index: PublishedIndex;
  readonly problems: readonly Problem[];
  readonly summary: PublishSummary;
  /** About saved progress this run ignored or partly discarded. */
  readonly warnings?: readonly string[];
}

export class PublishRefusedError extends Error {
  override name = 'PublishRefusedError';
}

/** How a run that stopped in time stopped: what the logs, the CLI and tests show. */
export interface StopReport {
  /** Where the read stood: the bucket reads, GetAccountAuthorizationDetails pages, key lists, key bodies. */
  readonly phase: 'bucket' | 'account-details' | 'key-lists' | 'key-bodies';
  /** IAM calls in flight at the hard stop, aborted (they count as not done). */
  readonly abortedCalls: number;
  /** Retry and rate-limiter waits the deadline ended (the SDK would have slept on). */
  readonly cutWaits: number;
  /** Whether publisher/progress.json was saved (false: a dry run, or the save did not fit before the deadline). */
  readonly saved: boolean;
  /** Set when the run read nothing new: the budget was too small for any progress, and by how much. */
  readonly budgetTooSmall?: Shortfall;
}

/** An object hosts read that the run did not write: over MAX_HOST_OBJECT_BYTES, hosts could not read it. */
export interface TooLargeObject {
  readonly key: string;
  readonly bytes: number;
}

/**
 * The run wrote everything else (and index.json, its state) but refused objects
 * hosts could not read, deleting their previous versions so that they cannot go
 * on granting what this run removed; heartbeat.json was not written, so hosts
 * see the publisher as stale. A failed run: Lambda error, metric, alarm.
 */
export class ObjectsTooLargeError extends PublishRefusedError {
  override name = 'ObjectsTooLargeError';
  constructor(
    readonly objects: readonly TooLargeObject[],
    readonly result: PublishResult,
  ) {
    super(
      `refused to write ${objects.length} object(s) over the hosts' ${MAX_HOST_OBJECT_BYTES}-byte limit (${objects
        .map((o) => `${o.key}: ${o.bytes} bytes`)
        .join(
          ', ',
        )}); their previous versions were deleted, everything else was published, heartbeat.json was not`,
    );
  }
}

/**
 * The run stopped in time (its deadline) before IAM was read completely: it
 * wrote no principal object, deleted nothing, left index.json alone and saved
 * its progress (unless a dry run) for the next run. Not a failure of the
 * publisher, so a value the run returns, not an exception: a series of such
 * runs ends in the bucket a single run produces.
 */
export class PublishIncomplete {
  readonly complete = false;
  /** One line for the logs and the CLI: the progress, or by how much the budget fell short. */
  readonly message: string;
  constructor(
    /** The saved progress' counters. */
    readonly progress: ProgressCounts,
    /** True when this run read more than the series had before it (a stuck series reads nothing new). */
    readonly advanced: boolean,
    readonly warnings: readonly string[],
    readonly stop?: StopReport,
  ) {
    const found = progress.usersTotal ? '' : `, ${progress.usersFound} found so far`;
    this.message = stop?.budgetTooSmall
      ? describeShortfall(stop.budgetTooSmall)
      : `${progress.firstImport ? 'first import' : 'publish'} in progress: ${progress.usersRead} of ${progress.usersTotal || '?'} users read${found}, ${progress.keyBodiesFetched} key bodies fetched${progress.keyBodiesMissing ? `, ${progress.keyBodiesMissing} to go` : ''}; run again to continue`;
  }
}

/** What a full run comes to: published, or stopped in time (progress saved). */
export type RunOutcome = PublishResult | PublishIncomplete;

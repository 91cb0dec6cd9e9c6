// One full publisher run, shared by the Lambda handler and `iam-ssh-keys publish`:
// read the bucket, read IAM completely, render, plan, guard, then write.
// Nothing is written or deleted unless every read succeeded and every guard passed.
// A run given a deadline that cannot read IAM completely in time saves its
// progress (publisher/progress.json) and returns PublishIncomplete: the next
// run continues the series instead of starting over.
import { setMaxListeners } from 'node:events';
import { type PublishedIndex, parseLayoutKey } from '../contract/index.js';
import { deleteKey, putText, readText } from './bucket.js';
import { listed, readBucketState } from './bucket-state.js';
import { DEFAULT_PROGRESS_MAX_AGE_MS, type StopTimes, shortfall, stopTimes } from './deadline.js';
import {
  type AccountDetails,
  IamReadIncompleteError,
  type IamSnapshot,
  type PartialRead,
  readIam,
} from './iam-source.js';
import {
  nextProgress,
  progressCounts,
  progressKey,
  type Resumed,
  resume,
  serializeProgress,
} from './progress.js';
import type { PublishConfig, PublishDeps } from './publish-config.js';
import {
  PublishIncomplete,
  PublishRefusedError,
  type RunOutcome,
  type StopReport,
} from './publish-result.js';
import { knownKeyBodies } from './render.js';
import { renderAndWrite } from './render-and-write.js';

export { DEFAULT_PUBLISH_CONFIG, type PublishConfig, type PublishDeps } from './publish-config.js';
export {
  ObjectsTooLargeError,
  PublishIncomplete,
  PublishRefusedError,
  type PublishResult,
  type PublishSummary,
  type RunOutcome,
  type StopReport,
  type TooLargeObject,
} from './publish-result.js';

export async function publish(config: PublishConfig, deps: PublishDeps): Promise<RunOutcome> {
  const started = deps.now();
  const { bucket, prefix } = config;
  const state = await readBucketState(deps.s3, bucket, prefix, config.pageSize);
  const { indexProblem } = state;
  const principalObjects = state.existing.filter((o) => parseLayoutKey(prefix, o.key)?.type === 'principal');
  if (indexProblem && principalObjects.length > 0 && !config.allowIndexReset) {
    throw new PublishRefusedError(
      `refusing to publish: ${indexProblem} while ${principalObjects.length} principal objects exist, so uids could be reallocated; restore index.json (bucket versioning) or allow a reset (--allow-index-reset / ALLOW_INDEX_RESET=true)`,
    );
  }

  const pKey = progressKey(prefix);
  const progressText = listed(state, pKey) ? await readText(deps.s3, bucket, pKey) : undefined;
  const resumed = resume(
    progressText,
    started.getTime(),
    config.progressMaxAgeMs ?? DEFAULT_PROGRESS_MAX_AGE_MS,
  );
  const read = await readIamInTime(config, deps, started, state.previous, resumed);
  if (read instanceof PublishIncomplete) return read;
  const result = await renderAndWrite({
    snapshot: read.snapshot,
    state,
    config,
    deps,
    started,
    // The very first run into an empty bucket writes index.json first too: if it is cut short, the
    // next run finds index.json (with the uids it allocated) and completes it, instead of refusing
    // as for a lost index. Hosts had nothing before, and a principal whose object is not there yet
    // is unknown to them (no keys), so the early index grants nothing.
    indexFirst: indexProblem !== undefined && principalObjects.length === 0,
  });
  // The series is done: the next run reads every key list afresh.
  if (!config.dryRun && progressText !== undefined) await deleteKey(deps.s3, bucket, pKey);
  return read.warnings.length ? { ...result, warnings: read.warnings } : result;
}

/**
 * IAM read completely (reusing what the previous index and the saved progress
 * know), or, out of time, the progress saved and how the run stopped.
 */
async function readIamInTime(
  config: PublishConfig,
  deps: PublishDeps,
  started: Date,
  previous: PublishedIndex | undefined,
  resumed: Resumed,
): Promise<PublishIncomplete | { snapshot: IamSnapshot; warnings: readonly string[] }> {
  const known = knownKeyBodies(previous);
  const knownBodies = new Map([...known.bodies, ...resumed.keyBodies]);
  const warnings = [...resumed.warnings];
  const stops = config.deadline !== undefined ? stopTimes(started.getTime(), config.deadline) : undefined;
  const { abort, timer } = hardStop(stops, started, deps);
  const iamStart = deps.now().getTime();
  let abortedCalls = 0;
  try {
    const snapshot = await readIam(deps.iam, {
      knownBodies,
      knownRejected: known.rejectedIds,
      knownKeyLists: resumed.keyLists,
      ...(resumed.accountDetails ? { knownAccountDetails: resumed.accountDetails } : {}),
      onWarning: (w) => warnings.push(w),
      onAborted: () => abortedCalls++,
      concurrency: config.concurrency,
      ...(config.pageSize ? { pageSize: config.pageSize } : {}),
      ...(stops ? { shouldStop: () => deps.now().getTime() >= stops.softStopAt, signal: abort.signal } : {}),
    });
    return { snapshot, warnings };
  } catch (e) {
    if (!(e instanceof IamReadIncompleteError)) throw e;
    const facts = {
      iamStart,
      abortedCalls,
      stops,
      noIndex: previous === undefined,
      known,
      resumed,
      warnings,
    };
    return await stoppedInTime(e, config, deps, started, facts);
  } finally {
    clearTimeout(timer);
    deps.budget?.clear();
  }
}

/**
 * The hard stop runs on a real timer: it must fire even while every call hangs.
 * Not unref'd: a wait past the stop holds no timer of its own, so this one must
 * keep the process alive until it fires (unref'd, a CLI whose calls all waited
 * exited 0 mid-run, silently). No retry backoff or rate-limiter wait outlasts it.
 */
function hardStop(stops: StopTimes | undefined, started: Date, deps: PublishDeps) {
  const abort = new AbortController();
  // Every call in flight (and its retries) listens on it: more than Node's default 10 is expected.
  setMaxListeners(1000, abort.signal);
  const timer = stops
    ? setTimeout(() => abort.abort(), Math.max(0, stops.hardStopAt - started.getTime()))
    : undefined;
  if (stops) deps.budget?.limit(stops.hardStopAt, abort.signal);
  return { abort, timer };
}

interface StopFacts {
  readonly iamStart: number;
  readonly abortedCalls: number;
  readonly stops: StopTimes | undefined;
  readonly noIndex: boolean;
  readonly known: ReturnType<typeof knownKeyBodies>;
  readonly resumed: Resumed;
  readonly warnings: readonly string[];
}

/** Pure: did this run read anything the series did not have (a page, a key list, a key body)? */
function readAnythingNew(p: PartialRead, resumed: Resumed): boolean {
  const size = (d: AccountDetails | undefined) => (d?.users.size ?? 0) + (d?.groups.length ?? 0);
  return (
    p.fetched.size > 0 ||
    [...p.keyLists].some(([n, l]) => resumed.keyLists.get(n) !== l) ||
    size(p.accountDetails) > size(resumed.accountDetails) ||
    (p.accountDetails?.complete === true && resumed.accountDetails?.complete !== true)
  );
}

/**
 * A read cut short by the deadline: save what it got (progress.json, one PUT
 * before the deadline) and say how it stopped; when it read nothing new, by
 * how much its budget fell short.
 */
async function stoppedInTime(
  e: IamReadIncompleteError,
  config: PublishConfig,
  deps: PublishDeps,
  started: Date,
  f: StopFacts,
): Promise<PublishIncomplete> {
  const next = nextProgress({
    resumed: f.resumed,
    partial: e.partial,
    knownBodies: f.known.bodies,
    knownRejected: f.known.rejectedIds,
    noIndex: f.noIndex,
    started,
    now: deps.now(),
  });
  // Read before the save resets the budget for its own waits.
  const cutWaits = deps.budget?.cutWaits ?? 0;
  const pastStopMs = deps.budget?.pastStopMs;
  const key = progressKey(config.prefix);
  const saved = config.dryRun
    ? false
    : await saveProgress(deps, config.bucket, key, serializeProgress(next), config.deadline);
  const readSomething = readAnythingNew(e.partial, f.resumed);
  const tooSmall =
    !readSomething && f.stops && config.deadline !== undefined
      ? shortfall({
          startMs: started.getTime(),
          deadlineMs: config.deadline,
          iamStartMs: f.iamStart,
          pastStopMs,
        })
      : undefined;
  return new PublishIncomplete(progressCounts(next), readSomething && saved, f.warnings, {
    phase: stopPhase(e, f.iamStart, f.stops),
    abortedCalls: f.abortedCalls,
    cutWaits,
    saved,
    ...(tooSmall ? { budgetTooSmall: tooSmall } : {}),
  });
}

function stopPhase(
  e: IamReadIncompleteError,
  iamStart: number,
  stops: StopTimes | undefined,
): StopReport['phase'] {
  // The bucket reads used the time before the soft stop: no IAM call started.
  if (stops && iamStart >= stops.softStopAt) return 'bucket';
  if (!e.partial.accountDetails?.complete) return 'account-details';
  return e.partial.usersTotal !== undefined && e.partial.keyLists.size >= e.partial.usersTotal
    ? 'key-bodies'
    : 'key-lists';
}

/** The least time the progress PUT gets, even when the deadline leaves less (the "save margin"). */
export const SAVE_MARGIN_MS = 1000;

/**
 * The one write of a run out of time, which must land before the deadline: its
 * retries wait no longer (the budget) and the deadline aborts it. False when it
 * did not fit: the series then continues from the previous save.
 */
async function saveProgress(
  deps: PublishDeps,
  bucket: string,
  key: string,
  text: string,
  deadline: number | undefined,
): Promise<boolean> {
  const end = new AbortController();
  // A short budget's half-reserve can be less than one PUT takes: the save may run SAVE_MARGIN_MS past it.
  const ms = deadline !== undefined ? Math.max(SAVE_MARGIN_MS, deadline - deps.now().getTime()) : undefined;
  const timer = ms !== undefined ? setTimeout(() => end.abort(), ms) : undefined;
  if (ms !== undefined) deps.budget?.limit(deps.now().getTime() + ms, end.signal);
  try {
    await putText(deps.s3, bucket, key, text, end.signal);
    return true;
  } catch (e) {
    if (end.signal.aborted) return false;
    throw e;
  } finally {
    clearTimeout(timer);
    deps.budget?.clear();
  }
}

// One publisher run, shared by the Lambda handler and `iam-ssh-keys publish`:
// read the bucket, read IAM completely, render, plan, guard, then write.
// Nothing is written or deleted unless every read succeeded and every guard passed.
// A run given a deadline that cannot read IAM completely in time saves its
// progress (publisher/progress.json) and throws PublishIncompleteError: the
// next run continues the series instead of starting over.
import { setMaxListeners } from 'node:events';
import type { IAMClient } from '@aws-sdk/client-iam';
import type { S3Client } from '@aws-sdk/client-s3';
import {
  directoryKey,
  heartbeatKey,
  IndexFormatError,
  indexKey,
  type PublishedIndex,
  parseIndex,
  parseLayoutKey,
  serializeHeartbeat,
  serializeIndex,
  tooLargeForHosts,
} from '../contract/index.js';
import {
  DEFAULT_GRANT_TAG_PREFIX,
  DEFAULT_MAX_DELETE_SHARE,
  DEFAULT_MAX_GRANT_HOURS,
  DEFAULT_UID_BASE,
} from '../contract/publisher-settings.js';
import { deleteKey, listExisting, putText, readIndexText, readText } from './bucket.js';
import { DEFAULT_PROGRESS_MAX_AGE_MS, type StopTimes, shortfall, stopTimes } from './deadline.js';
import {
  type AccountDetails,
  IamReadIncompleteError,
  type IamSnapshot,
  mapLimit,
  type PartialRead,
  readIam,
} from './iam-source.js';
import { type ExistingObject, keyLossRefusal, md5Etag, type Plan, plan, type Revocations } from './plan.js';
import {
  nextProgress,
  progressCounts,
  progressKey,
  type Resumed,
  resume,
  serializeProgress,
} from './progress.js';
import {
  ObjectsTooLargeError,
  PublishIncompleteError,
  PublishRefusedError,
  type PublishResult,
  type StopReport,
  type TooLargeObject,
} from './publish-result.js';
import { knownKeyBodies, render } from './render.js';
import type { RunBudget } from './retry.js';

export interface PublishConfig {
  readonly bucket: string;
  /** Normalised prefix ('' or 'p/'). */
  readonly prefix: string;
  readonly dryRun: boolean;
  /** @default 0.5 */
  readonly maxDeleteShare: number;
  readonly allowMassDelete: boolean;
  /** Publish although index.json is missing or unreadable while principal objects exist (uids may be reallocated). */
  readonly allowIndexReset: boolean;
  /** @default 20000 */
  readonly uidBase: number;
  /** Parallel IAM and S3 calls. @default 8 */
  readonly concurrency: number;
  /** List page size (tests). */
  readonly pageSize?: number;
  /** User tags whose key starts with this hold public keys. @default 'ssh-key:' */
  readonly tagKeyPrefix?: string;
  /**
   * The run must end by then (ms, deps.now's clock): it stops starting IAM calls in time and, if
   * its read is not complete, saves its progress and throws PublishIncompleteError. @default none
   */
  readonly deadline?: number;
  /** Saved key lists older than this are read again. @default 6 h */
  readonly progressMaxAgeMs?: number;
  /**
   * Events start at most one full run per this many ms for users' copied keys
   * (lambda/full-run-budget.ts); the schedule does the rest. @default 1 h
   */
  readonly eventFullRunIntervalMs?: number;
  /** Key lifecycle (docs/key-lifecycle.md): keys older than this many days expire. @default off */
  readonly maxKeyAgeDays?: number;
  /** Longest time-boxed grant, in hours. @default 12 */
  readonly maxGrantHours: number;
  /** Groups whose files hold only FIDO (sk-*) keys, each with verify-required. @default [] */
  readonly verifyRequiredGroups: readonly string[];
  /** User tags `<prefix><IAM group>` = `<UTC ISO 8601 end>` are grants. @default 'ssh-grant:' */
  readonly grantTagPrefix: string;
}

export const DEFAULT_PUBLISH_CONFIG = {
  maxDeleteShare: DEFAULT_MAX_DELETE_SHARE,
  allowMassDelete: false,
  allowIndexReset: false,
  uidBase: DEFAULT_UID_BASE,
  concurrency: 8,
  dryRun: false,
  maxGrantHours: DEFAULT_MAX_GRANT_HOURS,
  verifyRequiredGroups: [] as readonly string[],
  grantTagPrefix: DEFAULT_GRANT_TAG_PREFIX,
} as const;

export interface PublishDeps {
  readonly iam: IAMClient;
  readonly s3: S3Client;
  readonly now: () => Date;
  /** The clients' retry budget (createClients): with a deadline, no retry wait outlasts it. */
  readonly budget?: RunBudget;
}

export {
  ObjectsTooLargeError,
  PublishIncompleteError,
  PublishRefusedError,
  type PublishResult,
  type PublishSummary,
  type StopReport,
  type TooLargeObject,
} from './publish-result.js';

export async function publish(config: PublishConfig, deps: PublishDeps): Promise<PublishResult> {
  const started = deps.now();
  const { bucket, prefix } = config;

  const existing = await listExisting(deps.s3, bucket, prefix, config.pageSize);
  // Read index.json only when the listing has it: with ListBucket limited to the
  // prefix, S3 may answer 403 rather than 404 for a missing object.
  const indexText = existing.some((o) => o.key === indexKey(prefix))
    ? await readIndexText(deps.s3, bucket, prefix)
    : undefined;
  let previous: PublishedIndex | undefined;
  let indexProblem: string | undefined;
  if (indexText === undefined) indexProblem = 'index.json is missing';
  else {
    try {
      previous = parseIndex(indexText);
    } catch (e) {
      if (!(e instanceof IndexFormatError)) throw e;
      indexProblem = `index.json is unreadable (${e.message})`;
    }
  }
  const principalObjects = existing.filter((o) => parseLayoutKey(prefix, o.key)?.type === 'principal');
  if (indexProblem && principalObjects.length > 0 && !config.allowIndexReset) {
    throw new PublishRefusedError(
      `refusing to publish: ${indexProblem} while ${principalObjects.length} principal objects exist, so uids could be reallocated; restore index.json (bucket versioning) or allow a reset (--allow-index-reset / ALLOW_INDEX_RESET=true)`,
    );
  }

  const pKey = progressKey(prefix);
  const progressText = existing.some((o) => o.key === pKey)
    ? await readText(deps.s3, bucket, pKey)
    : undefined;
  const resumed = resume(
    progressText,
    started.getTime(),
    config.progressMaxAgeMs ?? DEFAULT_PROGRESS_MAX_AGE_MS,
  );

  const known = knownKeyBodies(previous);
  const knownBodies = new Map([...known.bodies, ...resumed.keyBodies]);
  const warnings = [...resumed.warnings];
  const stops = config.deadline !== undefined ? stopTimes(started.getTime(), config.deadline) : undefined;
  const { abort, timer } = hardStop(stops, started, deps);
  const iamStart = deps.now().getTime();
  let abortedCalls = 0;
  let snapshot: Awaited<ReturnType<typeof readIam>>;
  try {
    snapshot = await readIam(deps.iam, {
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
    throw await stoppedInTime(e, config, deps, started, facts);
  } finally {
    clearTimeout(timer);
    deps.budget?.clear();
  }
  const result = await renderAndWrite(snapshot, previous, existing, config, deps, started, {
    // The very first run into an empty bucket writes index.json first too: if it is cut short, the
    // next run finds index.json (with the uids it allocated) and completes it, instead of refusing
    // as for a lost index. Hosts had nothing before, and a principal whose object is not there yet
    // is unknown to them (no keys), so the early index grants nothing.
    indexFirst: indexProblem !== undefined && principalObjects.length === 0,
  });
  // The series is done: the next run reads every key list afresh.
  if (!config.dryRun && progressText !== undefined) await deleteKey(deps.s3, bucket, pKey);
  return warnings.length ? { ...result, warnings } : result;
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
): Promise<PublishIncompleteError> {
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
  return new PublishIncompleteError(progressCounts(next), readSomething && saved, f.warnings, {
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

/**
 * What every run does once its IAM snapshot is complete (a full run's, or a
 * targeted run's composed one): render, plan, the guards, then the writes,
 * principal objects first, then directory.json (when changed), index.json and
 * heartbeat.json last.
 */
export async function renderAndWrite(
  snapshot: IamSnapshot,
  previous: PublishedIndex | undefined,
  existing: readonly ExistingObject[],
  config: PublishConfig,
  deps: PublishDeps,
  started: Date,
  opts: { readonly indexFirst?: boolean; readonly revoked?: Revocations } = {},
): Promise<PublishResult> {
  const { bucket, prefix } = config;
  const rendered = render(snapshot, previous, {
    prefix,
    uidBase: config.uidBase,
    now: started,
    ...(config.tagKeyPrefix !== undefined ? { tagKeyPrefix: config.tagKeyPrefix } : {}),
  });
  const planOptions = {
    prefix,
    maxDeleteShare: config.maxDeleteShare,
    allowMassDelete: config.allowMassDelete,
  };
  const p = plan(rendered.objects, existing, planOptions);
  if (p.refusal) throw new PublishRefusedError(p.refusal);
  const keyLoss = keyLossRefusal(previous, rendered.index, planOptions, opts.revoked);
  if (keyLoss) throw new PublishRefusedError(keyLoss);

  // Hosts cannot read an object over their limit: such an object is refused, never published.
  const directoryChanged = !existing.some(
    (o) => o.key === directoryKey(prefix) && o.etag === md5Etag(rendered.directory),
  );
  const tooLarge: TooLargeObject[] = [...p.puts, { key: directoryKey(prefix), body: rendered.directory }]
    .filter((o) => tooLargeForHosts(o.body))
    .map((o) => ({ key: o.key, bytes: Buffer.byteLength(o.body, 'utf8') }));
  const refused = new Set(tooLarge.map((o) => o.key));
  if (!config.dryRun) {
    const index = serializeIndex(rendered.index);
    if (opts.indexFirst && p.puts.length > 0) await putText(deps.s3, bucket, indexKey(prefix), index);
    const puts = p.puts.filter((put) => !refused.has(put.key));
    await mapLimit(puts, config.concurrency, (put) => putText(deps.s3, bucket, put.key, put.body));
    // A refused object's previous version could still grant what this run removed.
    const stale = existing.filter((o) => refused.has(o.key)).map((o) => o.key);
    await mapLimit([...p.deletes, ...stale], config.concurrency, (key) => deleteKey(deps.s3, bucket, key));
    // After the principal objects: a user it lists has its object already.
    if (directoryChanged && !refused.has(directoryKey(prefix)))
      await putText(deps.s3, bucket, directoryKey(prefix), rendered.directory);
    // The publisher's state, also the heartbeat of agents of the previous release.
    await putText(deps.s3, bucket, indexKey(prefix), index);
    // Last: the heartbeat says "a complete run finished".
    const heartbeat = serializeHeartbeat(rendered.index.generatedAt);
    if (tooLarge.length === 0) await putText(deps.s3, bucket, heartbeatKey(prefix), heartbeat);
  }

  const result = publishResult(p, rendered, config, deps, started, directoryChanged);
  if (tooLarge.length > 0) throw new ObjectsTooLargeError(tooLarge, result);
  return result;
}

function publishResult(
  p: Plan,
  rendered: ReturnType<typeof render>,
  config: PublishConfig,
  deps: PublishDeps,
  started: Date,
  directoryChanged: boolean,
): PublishResult {
  return {
    plan: p,
    index: rendered.index,
    problems: rendered.problems,
    summary: {
      users: Object.keys(rendered.index.users).length,
      groups: Object.keys(rendered.index.groups).length,
      keys: rendered.keyCount,
      rejectedKeys: rendered.problems.filter((x) => x.keyId).length,
      copiedKeysRefused: rendered.problems.filter((x) => x.sharedWith).length,
      added: p.puts.filter((x) => x.change === 'add').length,
      changed: p.puts.filter((x) => x.change === 'change').length,
      deleted: p.deletes.length,
      unchanged: p.unchanged.length,
      directoryWritten: directoryChanged,
      dryRun: config.dryRun,
      durationMs: deps.now().getTime() - started.getTime(),
    },
  };
}

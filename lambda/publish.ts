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
  IndexFormatError,
  indexKey,
  type PublishedIndex,
  parseIndex,
  parseLayoutKey,
  serializeIndex,
} from '../contract/index.js';
import { DEFAULT_MAX_DELETE_SHARE, DEFAULT_UID_BASE } from '../contract/publisher-settings.js';
import { deleteKey, listExisting, putText, readIndexText, readText } from './bucket.js';
import { DEFAULT_PROGRESS_MAX_AGE_MS, stopTimes } from './deadline.js';
import { IamReadIncompleteError, type IamSnapshot, mapLimit, readIam } from './iam-source.js';
import { type ExistingObject, keyLossRefusal, type Plan, plan, type Revocations } from './plan.js';
import {
  nextProgress,
  type ProgressCounts,
  progressCounts,
  progressKey,
  resume,
  serializeProgress,
} from './progress.js';
import { knownKeyBodies, type Problem, render } from './render.js';

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
}

export const DEFAULT_PUBLISH_CONFIG = {
  maxDeleteShare: DEFAULT_MAX_DELETE_SHARE,
  allowMassDelete: false,
  allowIndexReset: false,
  uidBase: DEFAULT_UID_BASE,
  concurrency: 8,
  dryRun: false,
} as const;

export interface PublishDeps {
  readonly iam: IAMClient;
  readonly s3: S3Client;
  readonly now: () => Date;
}

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

/**
 * The run stopped in time (its deadline) before IAM was read completely: it
 * wrote no principal object, deleted nothing, left index.json alone and saved
 * its progress (unless a dry run) for the next run. Not a failure of the
 * publisher: a series of such runs ends in the bucket a single run produces.
 */
export class PublishIncompleteError extends Error {
  override name = 'PublishIncompleteError';
  constructor(
    /** The saved progress' counters. */
    readonly progress: ProgressCounts,
    /** True when this run read more than the series had before it (a stuck series reads nothing new). */
    readonly advanced: boolean,
    readonly warnings: readonly string[],
  ) {
    super(
      `${progress.firstImport ? 'first import' : 'publish'} in progress: ${progress.usersRead} of ${progress.usersTotal || '?'} users read, ${progress.keyBodiesFetched} key bodies fetched${progress.keyBodiesMissing ? `, ${progress.keyBodiesMissing} to go` : ''}; run again to continue`,
    );
  }
}

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
  const stops = config.deadline !== undefined ? stopTimes(started.getTime(), config.deadline) : undefined;
  // The hard stop runs on a real timer: it must fire even while every call hangs.
  const abort = new AbortController();
  // Every call in flight (and its retries) listens on it: more than Node's default 10 is expected.
  setMaxListeners(1000, abort.signal);
  const timer = stops
    ? setTimeout(() => abort.abort(), Math.max(0, stops.hardStopAt - started.getTime()))
    : undefined;
  timer?.unref?.();
  let snapshot: Awaited<ReturnType<typeof readIam>>;
  try {
    snapshot = await readIam(deps.iam, {
      knownBodies,
      knownRejected: known.rejectedIds,
      knownKeyLists: resumed.keyLists,
      concurrency: config.concurrency,
      ...(config.pageSize ? { pageSize: config.pageSize } : {}),
      ...(stops ? { shouldStop: () => deps.now().getTime() >= stops.softStopAt, signal: abort.signal } : {}),
    });
  } catch (e) {
    if (!(e instanceof IamReadIncompleteError)) throw e;
    const next = nextProgress({
      resumed,
      partial: e.partial,
      knownBodies: known.bodies,
      knownRejected: known.rejectedIds,
      noIndex: previous === undefined,
      started,
      now: deps.now(),
    });
    if (!config.dryRun) await putText(deps.s3, bucket, pKey, serializeProgress(next));
    const readSomething =
      e.partial.fetched.size > 0 || [...e.partial.keyLists].some(([n, l]) => resumed.keyLists.get(n) !== l);
    throw new PublishIncompleteError(progressCounts(next), readSomething, resumed.warnings);
  } finally {
    clearTimeout(timer);
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
  return resumed.warnings.length ? { ...result, warnings: resumed.warnings } : result;
}

/**
 * What every run does once its IAM snapshot is complete (a full run's, or a
 * targeted run's composed one): render, plan, the guards, then the writes,
 * principal objects first and index.json (the heartbeat) last.
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

  if (!config.dryRun) {
    const index = serializeIndex(rendered.index);
    if (opts.indexFirst && p.puts.length > 0) await putText(deps.s3, bucket, indexKey(prefix), index);
    await mapLimit(p.puts, config.concurrency, (put) => putText(deps.s3, bucket, put.key, put.body));
    await mapLimit(p.deletes, config.concurrency, (key) => deleteKey(deps.s3, bucket, key));
    // Last: the heartbeat says "a complete run finished".
    await putText(deps.s3, bucket, indexKey(prefix), index);
  }

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
      dryRun: config.dryRun,
      durationMs: deps.now().getTime() - started.getTime(),
    },
  };
}

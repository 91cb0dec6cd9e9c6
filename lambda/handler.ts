// Lambda entry: wiring only. The schedule (or a direct call) runs a full
// publish; an IAM change event, alone or in an SQS batch, re-reads only the
// users and groups it names (publish-targeted.ts), or falls back to a full run.
// An SQS batch is all or nothing: one run applies the union of its events, so a
// failure fails every record and SQS delivers them again (re-applying is
// harmless: a run re-reads the current IAM state, the events only say where).
// A full run that runs out of time saves its progress and returns normally (the
// next run continues it; see progress.ts): an SQS batch it served is then done.
// Before such a run, the saved key lists of the users the events name were
// dropped (publish-targeted.ts), so the run that completes the series reads them
// afresh; memberships and tags are read afresh by every run anyway.
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import {
  METRICS_NAMESPACE,
  PUBLISHER_SERVICE_NAME,
  type PublisherMetric,
} from '../contract/publisher-settings.js';
import { countCalls } from './call-counter.js';
import { createClients } from './clients.js';
import { publishConfigFromEnv } from './config.js';
import { planForInvocation } from './event-targets.js';
import type { ProgressCounts } from './progress.js';
import {
  ObjectsTooLargeError,
  type PublishIncomplete,
  type PublishSummary,
  type StopReport,
} from './publish.js';
import { publishForEvents, type TargetedOutcome } from './publish-targeted.js';
import type { Problem } from './render.js';

const logger = new Logger({ serviceName: PUBLISHER_SERVICE_NAME });
const metrics = new Metrics({ namespace: METRICS_NAMESPACE, serviceName: PUBLISHER_SERVICE_NAME });
// Created once per container so connections are reused across invocations.
const clients = createClients();
const counts = countCalls(clients.iam);

/** Every metric is one of the contract's (the stack's alarms watch some of them). */
function addMetric(name: PublisherMetric, unit: Parameters<Metrics['addMetric']>[1], value: number): void {
  metrics.addMetric(name, unit, value);
}

/** A run that stopped in time (see PublishIncomplete): not a failure, the next run continues. */
export interface IncompleteRun {
  readonly complete: false;
  readonly progress: ProgressCounts;
  readonly iamCalls: Record<string, number>;
  /** How it stopped; `stop.budgetTooSmall` says the budget allowed no progress, and by how much. */
  readonly stop?: StopReport;
}

export type HandlerResult =
  | (PublishSummary & { mode: 'full' | 'targeted'; iamCalls: Record<string, number> })
  | { mode: 'none'; reason: string }
  | IncompleteRun;

/**
 * Who made the event path ask for a full run with their copied keys (IAM user
 * and reason), and whether it ran or was deferred to the schedule: a
 * self-service user repeating it shows up here, by name.
 */
function reportCopiedKeyFallbacks(outcome: TargetedOutcome): void {
  if (outcome.mode === 'full' && outcome.causedBy?.length) {
    for (const c of outcome.causedBy)
      logger.warn('copied-key clash: full run', { iamUser: c.user, reason: c.reason });
    addMetric('CopiedKeyFullRuns', MetricUnit.Count, 1);
  }
  if (outcome.mode === 'targeted' && outcome.deferred.length > 0) {
    for (const c of outcome.deferred)
      logger.warn(
        "copied-key clash: full run deferred to the schedule (an event-started full run ran within the interval); only this user's removals were applied",
        { iamUser: c.user, reason: c.reason },
      );
    addMetric('CopiedKeyFullRunsDeferred', MetricUnit.Count, 1);
  }
}

/** One WARN per key or user not published; a refused copy names both users. */
function logProblems(problems: readonly Problem[]): void {
  for (const p of problems) {
    if (p.sharedWith) {
      const holder = p.firstHolder
        ? `IAM user ${p.firstHolder}, whose claim came first`
        : `IAM users ${p.sharedWith.join(', ')} too (no claim came first)`;
      logger.warn(
        `key ${p.keyId} of IAM user ${p.user} is a copy of a public key of ${holder}: not published; this may be an impersonation attempt`,
        { ...p },
      );
    } else logger.warn('not published', { ...p });
  }
}

/** A run that stopped in time: its progress, logs and metrics (an error only when it could save nothing). */
function reportIncomplete(e: PublishIncomplete, source: string): HandlerResult {
  const iamCalls = { ...counts.calls };
  for (const w of e.warnings) logger.warn(w);
  const fields = { trigger: source, ...e.progress, advanced: e.advanced, iamCalls, stop: e.stop };
  // A run that can save nothing is not "in progress": it says so, and by how much, at ERROR.
  if (e.stop?.budgetTooSmall) logger.error(e.message, fields);
  else logger.info(e.message, fields);
  if (e.stop?.budgetTooSmall) addMetric('BudgetTooSmall', MetricUnit.Count, 1);
  addMetric('PublishIncomplete', MetricUnit.Count, 1);
  // The staleness alarm counts a run that advanced like a successful one (lib/publisher/alarms.ts).
  addMetric('ImportProgressed', MetricUnit.Count, e.advanced ? 1 : 0);
  addMetric('UsersRead', MetricUnit.Count, e.progress.usersRead);
  addMetric(
    'IamCalls',
    MetricUnit.Count,
    Object.values(iamCalls).reduce((a, b) => a + b, 0),
  );
  return { complete: false, progress: e.progress, iamCalls, ...(e.stop ? { stop: e.stop } : {}) };
}

/** The metrics of a run that published. */
function addRunMetrics(mode: 'full' | 'targeted', summary: PublishSummary, iamCallCount: number): void {
  addMetric('PublishSucceeded', MetricUnit.Count, 1);
  addMetric(mode === 'targeted' ? 'TargetedRuns' : 'FullRuns', MetricUnit.Count, 1);
  addMetric('Users', MetricUnit.Count, summary.users);
  addMetric('Keys', MetricUnit.Count, summary.keys);
  addMetric('RejectedKeys', MetricUnit.Count, summary.rejectedKeys);
  addMetric('CopiedKeysRefused', MetricUnit.Count, summary.copiedKeysRefused);
  // + index.json and heartbeat.json, + directory.json when it changed.
  const written = summary.added + summary.changed + 2 + (summary.directoryWritten ? 1 : 0);
  addMetric('ObjectsWritten', MetricUnit.Count, written);
  addMetric('ObjectsTooLargeForHosts', MetricUnit.Count, 0);
  addMetric('ObjectsDeleted', MetricUnit.Count, summary.deleted);
  addMetric('IamCalls', MetricUnit.Count, iamCallCount);
  addMetric('DurationMs', MetricUnit.Milliseconds, summary.durationMs);
}

export async function handler(
  event: unknown,
  context?: { getRemainingTimeInMillis(): number },
): Promise<HandlerResult> {
  const e = event as { 'detail-type'?: string; Records?: unknown[] } | undefined;
  const source = Array.isArray(e?.Records)
    ? `sqs (${e.Records.length} messages)`
    : (e?.['detail-type'] ?? 'direct');
  for (const k of Object.keys(counts.calls)) delete counts.calls[k];
  for (const k of Object.keys(counts.attempts)) delete counts.attempts[k];
  try {
    const config = publishConfigFromEnv(process.env);
    const eventPlan = planForInvocation(event);
    // A full run stops in time before the Lambda's own timeout, and saves its progress.
    const deadline = context ? { deadline: Date.now() + context.getRemainingTimeInMillis() } : {};
    const outcome = await publishForEvents(
      { ...config, ...deadline },
      { ...clients, now: () => new Date() },
      eventPlan,
    );
    if (outcome.mode === 'none') {
      logger.info('nothing to publish', { trigger: source, reason: outcome.reason });
      return { mode: 'none', reason: outcome.reason };
    }
    if (outcome.mode === 'stopped') return reportIncomplete(outcome.stopped, source);
    const { result } = outcome;
    for (const w of result.warnings ?? []) logger.warn(w);
    reportCopiedKeyFallbacks(outcome);
    if (outcome.mode === 'targeted' && outcome.unconfirmed.length > 0)
      logger.warn(
        'IAM did not show what the events did yet; published what it showed (the schedule reconciles)',
        {
          unconfirmed: outcome.unconfirmed,
        },
      );
    logProblems(result.problems);
    for (const put of result.plan.puts) logger.debug('write', { key: put.key, change: put.change });
    for (const key of result.plan.deletes) logger.info('delete', { key });
    const iamCalls = { ...counts.calls };
    const iamCallCount = Object.values(iamCalls).reduce((a, b) => a + b, 0);
    logger.info('published', {
      trigger: source,
      mode: outcome.mode,
      ...(outcome.mode === 'full'
        ? { fullRunReason: outcome.reason }
        : { targets: outcome.targets, deferred: outcome.deferred.map((d) => d.user) }),
      ...result.summary,
      iamCalls,
      iamAttempts: { ...counts.attempts },
    });
    addRunMetrics(outcome.mode, result.summary, iamCallCount);
    return { ...result.summary, mode: outcome.mode, iamCalls };
  } catch (e) {
    if (e instanceof ObjectsTooLargeError) {
      logger.error(e.message, { objects: e.objects, ...e.result.summary });
      addMetric('ObjectsTooLargeForHosts', MetricUnit.Count, e.objects.length);
    } else logger.error('publish failed; heartbeat.json was not updated', e as Error);
    addMetric('PublishFailed', MetricUnit.Count, 1);
    throw e;
  } finally {
    metrics.publishStoredMetrics();
  }
}

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
import { countCalls } from './call-counter.js';
import { createClients } from './clients.js';
import { publishConfigFromEnv } from './config.js';
import { planForInvocation } from './event-targets.js';
import type { ProgressCounts } from './progress.js';
import { PublishIncompleteError, type PublishSummary } from './publish.js';
import { publishForEvents, type TargetedOutcome } from './publish-targeted.js';
import type { Problem } from './render.js';

const logger = new Logger({ serviceName: 'iam-ssh-keys-publisher' });
const metrics = new Metrics({ namespace: 'IamSshKeys', serviceName: 'iam-ssh-keys-publisher' });
// Created once per container so connections are reused across invocations.
const clients = createClients();
const counts = countCalls(clients.iam);

/** A run that stopped in time (see PublishIncompleteError): not a failure, the next run continues. */
export interface IncompleteRun {
  readonly complete: false;
  readonly progress: ProgressCounts;
  readonly iamCalls: Record<string, number>;
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
    metrics.addMetric('CopiedKeyFullRuns', MetricUnit.Count, 1);
  }
  if (outcome.mode === 'targeted' && outcome.deferred.length > 0) {
    for (const c of outcome.deferred)
      logger.warn(
        "copied-key clash: full run deferred to the schedule (an event-started full run ran within the interval); only this user's removals were applied",
        { iamUser: c.user, reason: c.reason },
      );
    metrics.addMetric('CopiedKeyFullRunsDeferred', MetricUnit.Count, 1);
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

/** The metrics of a run that published. */
function addRunMetrics(mode: 'full' | 'targeted', summary: PublishSummary, iamCallCount: number): void {
  metrics.addMetric('PublishSucceeded', MetricUnit.Count, 1);
  metrics.addMetric(mode === 'targeted' ? 'TargetedRuns' : 'FullRuns', MetricUnit.Count, 1);
  metrics.addMetric('Users', MetricUnit.Count, summary.users);
  metrics.addMetric('Keys', MetricUnit.Count, summary.keys);
  metrics.addMetric('RejectedKeys', MetricUnit.Count, summary.rejectedKeys);
  metrics.addMetric('CopiedKeysRefused', MetricUnit.Count, summary.copiedKeysRefused);
  metrics.addMetric('ObjectsWritten', MetricUnit.Count, summary.added + summary.changed + 1);
  metrics.addMetric('ObjectsDeleted', MetricUnit.Count, summary.deleted);
  metrics.addMetric('IamCalls', MetricUnit.Count, iamCallCount);
  metrics.addMetric('DurationMs', MetricUnit.Milliseconds, summary.durationMs);
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
    if (e instanceof PublishIncompleteError) {
      const iamCalls = { ...counts.calls };
      for (const w of e.warnings) logger.warn(w);
      logger.info(e.message, { trigger: source, ...e.progress, advanced: e.advanced, iamCalls });
      metrics.addMetric('PublishIncomplete', MetricUnit.Count, 1);
      // The staleness alarm counts a run that advanced like a successful one (lib/publisher/alarms.ts).
      metrics.addMetric('ImportProgressed', MetricUnit.Count, e.advanced ? 1 : 0);
      metrics.addMetric('UsersRead', MetricUnit.Count, e.progress.usersRead);
      metrics.addMetric(
        'IamCalls',
        MetricUnit.Count,
        Object.values(iamCalls).reduce((a, b) => a + b, 0),
      );
      return { complete: false, progress: e.progress, iamCalls };
    }
    logger.error('publish failed; index.json (the heartbeat) was not updated', e as Error);
    metrics.addMetric('PublishFailed', MetricUnit.Count, 1);
    throw e;
  } finally {
    metrics.publishStoredMetrics();
  }
}

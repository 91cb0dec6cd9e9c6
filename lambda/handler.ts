// Lambda entry: wiring only. Runs on the schedule and on IAM change events;
// the event's content does not matter, every run publishes the whole state.
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { countCalls } from './call-counter.js';
import { createClients } from './clients.js';
import { publishConfigFromEnv } from './config.js';
import type { ProgressCounts } from './progress.js';
import { PublishIncompleteError, type PublishSummary, publish } from './publish.js';

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

export async function handler(
  event: unknown,
  context?: { getRemainingTimeInMillis(): number },
): Promise<(PublishSummary & { iamCalls: Record<string, number> }) | IncompleteRun> {
  const source =
    (event as { source?: string; 'detail-type'?: string } | undefined)?.['detail-type'] ?? 'direct';
  for (const k of Object.keys(counts.calls)) delete counts.calls[k];
  for (const k of Object.keys(counts.attempts)) delete counts.attempts[k];
  try {
    const config = publishConfigFromEnv(process.env);
    // The run stops in time before the Lambda's own timeout, and saves its progress.
    const deadline = context ? { deadline: Date.now() + context.getRemainingTimeInMillis() } : {};
    const result = await publish({ ...config, ...deadline }, { ...clients, now: () => new Date() });
    for (const w of result.warnings ?? []) logger.warn(w);
    for (const p of result.problems) {
      if (p.sharedWith) {
        const holder = p.firstHolder
          ? `IAM user ${p.firstHolder}, who registered it first`
          : `IAM users ${p.sharedWith.join(', ')} too (none registered it first)`;
        logger.warn(
          `key ${p.keyId} of IAM user ${p.user} is a copy of a public key of ${holder}: not published; this may be an impersonation attempt`,
          { ...p },
        );
      } else logger.warn('not published', { ...p });
    }
    for (const put of result.plan.puts) logger.debug('write', { key: put.key, change: put.change });
    for (const key of result.plan.deletes) logger.info('delete', { key });
    const iamCalls = { ...counts.calls };
    const iamCallCount = Object.values(iamCalls).reduce((a, b) => a + b, 0);
    logger.info('published', {
      trigger: source,
      ...result.summary,
      iamCalls,
      iamAttempts: { ...counts.attempts },
    });
    metrics.addMetric('PublishSucceeded', MetricUnit.Count, 1);
    metrics.addMetric('Users', MetricUnit.Count, result.summary.users);
    metrics.addMetric('Keys', MetricUnit.Count, result.summary.keys);
    metrics.addMetric('RejectedKeys', MetricUnit.Count, result.summary.rejectedKeys);
    metrics.addMetric('CopiedKeysRefused', MetricUnit.Count, result.summary.copiedKeysRefused);
    metrics.addMetric('ObjectsWritten', MetricUnit.Count, result.summary.added + result.summary.changed + 1);
    metrics.addMetric('ObjectsDeleted', MetricUnit.Count, result.summary.deleted);
    metrics.addMetric('IamCalls', MetricUnit.Count, iamCallCount);
    metrics.addMetric('DurationMs', MetricUnit.Milliseconds, result.summary.durationMs);
    return { ...result.summary, iamCalls };
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

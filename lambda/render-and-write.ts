// What every run does once its IAM snapshot is complete: render, plan, the
// guards, then the writes in their order. Full runs (publish.ts) and targeted
// runs (publish-targeted.ts) end here alike.
import {
  directoryKey,
  heartbeatKey,
  indexKey,
  type PublishedIndex,
  serializeHeartbeat,
  serializeIndex,
  tooLargeForHosts,
} from '../contract/index.js';
import { DEFAULT_EXPIRING_WITHIN_DAYS } from '../contract/publisher-settings.js';
import { deleteKey, putText } from './bucket.js';
import type { BucketState } from './bucket-state.js';
import type { IamSnapshot } from './iam-source.js';
import { lifecycleCounts } from './lifecycle.js';
import { mapLimit } from './map-limit.js';
import { keyLossRefusal, type Plan, plan, type Revocations, upToDate } from './plan.js';
import type { PublishConfig, PublishDeps } from './publish-config.js';
import {
  ObjectsTooLargeError,
  PublishRefusedError,
  type PublishResult,
  type TooLargeObject,
} from './publish-result.js';
import { render } from './render.js';

/** One run's complete snapshot and what it needs to publish it. */
export interface RenderAndWrite {
  readonly snapshot: IamSnapshot;
  /** The bucket as the run found it: its listing and previous index. */
  readonly state: Pick<BucketState, 'existing' | 'previous'>;
  readonly config: PublishConfig;
  readonly deps: PublishDeps;
  /** When the run started: the index's generatedAt and a new key's activeSince. */
  readonly started: Date;
  /** Write index.json before the principal objects too (a first run into an empty bucket). */
  readonly indexFirst?: boolean;
  /** Keys the events revoked (a targeted run): the key-loss guard expects their removal. */
  readonly revoked?: Revocations;
}

/**
 * What every run does once its IAM snapshot is complete (a full run's, or a
 * targeted run's composed one): render, plan, the guards, then the writes,
 * principal objects first, then directory.json (when changed), index.json and
 * heartbeat.json last.
 */
export async function renderAndWrite(run: RenderAndWrite): Promise<PublishResult> {
  const { snapshot, config, deps, started } = run;
  const { previous, existing } = run.state;
  const { bucket, prefix } = config;
  const rendered = render(snapshot, previous, {
    prefix,
    uidBase: config.uidBase,
    now: started,
    ...(config.tagKeyPrefix !== undefined ? { tagKeyPrefix: config.tagKeyPrefix } : {}),
    lifecycle: {
      ...(config.maxKeyAgeDays !== undefined ? { maxKeyAgeDays: config.maxKeyAgeDays } : {}),
      maxGrantHours: config.maxGrantHours,
      verifyRequiredGroups: config.verifyRequiredGroups,
      grantTagPrefix: config.grantTagPrefix,
    },
  });
  const planOptions = {
    prefix,
    maxDeleteShare: config.maxDeleteShare,
    allowMassDelete: config.allowMassDelete,
  };
  const p = plan(rendered.objects, existing, planOptions);
  if (p.refusal) throw new PublishRefusedError(p.refusal);
  const keyLoss = keyLossRefusal(previous, rendered.index, planOptions, run.revoked);
  if (keyLoss) throw new PublishRefusedError(keyLoss);

  // Hosts cannot read an object over their limit: such an object is refused, never published.
  const directoryChanged = !existing.some(
    (o) => o.key === directoryKey(prefix) && upToDate(o, rendered.directory),
  );
  const tooLarge: TooLargeObject[] = [...p.puts, { key: directoryKey(prefix), body: rendered.directory }]
    .filter((o) => tooLargeForHosts(o.body))
    .map((o) => ({ key: o.key, bytes: Buffer.byteLength(o.body, 'utf8') }));
  const refused = new Set(tooLarge.map((o) => o.key));
  if (!config.dryRun) {
    const index = serializeIndex(rendered.index);
    if (run.indexFirst && p.puts.length > 0) await putText(deps.s3, bucket, indexKey(prefix), index);
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

/** The lifecycle metrics' figures (KeysExpiringSoon, KeysExpired). */
function lifecycleSummary(index: PublishedIndex, now: Date) {
  const c = lifecycleCounts(index, now, DEFAULT_EXPIRING_WITHIN_DAYS);
  return { keysExpiringSoon: c.expiringSoon, keysExpired: c.expired };
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
      ...lifecycleSummary(rendered.index, started),
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

// Publisher settings from the environment (Lambda) — pure, so it is testable.

import { errorMessage } from '../contract/errors.js';
import { normalizePrefix, parseTagKeyPrefix } from '../contract/index.js';
import {
  DEFAULT_EVENT_FULL_RUN_MINUTES,
  type PublisherEnv,
  type PublisherEnvVar,
} from '../contract/publisher-settings.js';
import { DEFAULT_PUBLISH_CONFIG, type PublishConfig } from './publish-config.js';

export class PublisherConfigError extends Error {
  override name = 'PublisherConfigError';
}

function bool(env: PublisherEnv, name: PublisherEnvVar): boolean {
  const v = env[name];
  if (v === undefined || v === '') return false;
  if (v === 'true' || v === 'false') return v === 'true';
  throw new PublisherConfigError(`${name} must be true or false, not ${JSON.stringify(v)}`);
}

function num(env: PublisherEnv, name: PublisherEnvVar, dflt: number, ok: (n: number) => boolean): number {
  const v = env[name];
  if (v === undefined || v === '') return dflt;
  const n = Number(v);
  if (!Number.isFinite(n) || !ok(n))
    throw new PublisherConfigError(`${name} has an invalid value ${JSON.stringify(v)}`);
  return n;
}

export function validShare(n: number): boolean {
  return n >= 0 && n <= 1;
}

export function validUidBase(n: number): boolean {
  return Number.isInteger(n) && n >= 1000 && n < 2 ** 31;
}

/** The variables of contract/publisher-settings.ts PUBLISHER_ENV_VARS; nothing else. */
export function publishConfigFromEnv(env: PublisherEnv): PublishConfig {
  const bucket = env.BUCKET;
  if (!bucket) throw new PublisherConfigError('BUCKET is not set');
  let prefix: string;
  try {
    prefix = normalizePrefix(env.KEY_PREFIX);
  } catch (e) {
    throw new PublisherConfigError(errorMessage(e), { cause: e });
  }
  let tagKeyPrefix: string;
  try {
    tagKeyPrefix = parseTagKeyPrefix(env.TAG_KEY_PREFIX);
  } catch (e) {
    throw new PublisherConfigError(`TAG_KEY_PREFIX: ${errorMessage(e)}`, { cause: e });
  }
  return {
    ...DEFAULT_PUBLISH_CONFIG,
    bucket,
    prefix,
    dryRun: bool(env, 'DRY_RUN'),
    allowMassDelete: bool(env, 'ALLOW_MASS_DELETE'),
    allowIndexReset: bool(env, 'ALLOW_INDEX_RESET'),
    maxDeleteShare: num(env, 'MAX_DELETE_SHARE', DEFAULT_PUBLISH_CONFIG.maxDeleteShare, validShare),
    uidBase: num(env, 'UID_BASE', DEFAULT_PUBLISH_CONFIG.uidBase, validUidBase),
    tagKeyPrefix,
    eventFullRunIntervalMs:
      num(
        env,
        'EVENT_FULL_RUN_MINUTES',
        DEFAULT_EVENT_FULL_RUN_MINUTES,
        (n) => Number.isInteger(n) && n >= 1 && n <= 1440,
      ) * 60_000,
  };
}

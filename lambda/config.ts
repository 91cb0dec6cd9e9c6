// Publisher settings from the environment (Lambda) — pure, so it is testable.

import { errorMessage } from '../contract/errors.js';
import {
  IAM_GROUP_NAME,
  normalizePrefix,
  parseGrantTagPrefix,
  parseTagKeyPrefix,
} from '../contract/index.js';
import {
  DEFAULT_EVENT_FULL_RUN_MINUTES,
  DEFAULT_GRANT_TAG_PREFIX,
  DEFAULT_MAX_GRANT_HOURS,
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

/** MAX_KEY_AGE_DAYS: whole days, 1 to 3650 (ten years). */
export function validMaxKeyAgeDays(n: number): boolean {
  return Number.isInteger(n) && n >= 1 && n <= 3650;
}

/** MAX_GRANT_HOURS: whole hours, 1 to 720 (thirty days). */
export function validMaxGrantHours(n: number): boolean {
  return Number.isInteger(n) && n >= 1 && n <= 720;
}

/** VERIFY_REQUIRED_GROUPS: comma-separated IAM group names (spaces around them ignored, empty items dropped). */
export function parseGroupList(name: PublisherEnvVar, v: string | undefined): string[] {
  const groups = (v ?? '')
    .split(',')
    .map((g) => g.trim())
    .filter((g) => g !== '');
  const bad = groups.find((g) => !IAM_GROUP_NAME.test(g));
  if (bad !== undefined)
    throw new PublisherConfigError(`${name}: ${JSON.stringify(bad)} is not an IAM group name`);
  return [...new Set(groups)];
}

/** The key lifecycle settings (docs/key-lifecycle.md). */
function lifecycleFromEnv(
  env: PublisherEnv,
  tagKeyPrefix: string,
): Pick<PublishConfig, 'maxKeyAgeDays' | 'maxGrantHours' | 'verifyRequiredGroups' | 'grantTagPrefix'> {
  let grantTagPrefix: string;
  try {
    grantTagPrefix = parseGrantTagPrefix(env.GRANT_TAG_PREFIX, tagKeyPrefix, DEFAULT_GRANT_TAG_PREFIX);
  } catch (e) {
    throw new PublisherConfigError(`GRANT_TAG_PREFIX: ${errorMessage(e)}`, { cause: e });
  }
  const maxKeyAgeDays = num(env, 'MAX_KEY_AGE_DAYS', 0, validMaxKeyAgeDays);
  return {
    ...(maxKeyAgeDays > 0 ? { maxKeyAgeDays } : {}),
    maxGrantHours: num(env, 'MAX_GRANT_HOURS', DEFAULT_MAX_GRANT_HOURS, validMaxGrantHours),
    verifyRequiredGroups: parseGroupList('VERIFY_REQUIRED_GROUPS', env.VERIFY_REQUIRED_GROUPS),
    grantTagPrefix,
  };
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
    ...lifecycleFromEnv(env, tagKeyPrefix),
  };
}

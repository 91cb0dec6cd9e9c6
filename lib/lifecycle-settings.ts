// The key lifecycle settings (maxKeyAgeDays, maxGrantHours, verifyRequiredGroups,
// grantTagPrefix): context values or construct props, checked once here and passed
// to the function's environment. Pure: no CDK, no I/O.
import {
  IAM_GROUP_NAME,
  InvalidTagKeyPrefixError,
  parseGrantTagPrefix as parseContractGrantTagPrefix,
} from '../contract/index.js';
import {
  DEFAULT_GRANT_TAG_PREFIX,
  DEFAULT_MAX_GRANT_HOURS,
  type PublisherEnv,
} from '../contract/publisher-settings.js';
import { InvalidConfigError, parseList } from './config-values.js';

export { DEFAULT_GRANT_TAG_PREFIX, DEFAULT_MAX_GRANT_HOURS };

/** The longest maxKeyAgeDays: ten years. */
export const MAX_KEY_AGE_DAYS_LIMIT = 3650;
/** The longest maxGrantHours: thirty days (the function's MAX_GRANT_HOURS limit). */
export const MAX_GRANT_HOURS_LIMIT = 720;

/** The lifecycle part of SharedSettings (lib/config.ts). */
export interface LifecycleSettings {
  /**
   * Keys older than this many days (from IAM's UploadDate; a tag key from when it was first
   * published) are no longer published; younger ones carry `expiry-time` (MAX_KEY_AGE_DAYS).
   * @default - off: keys do not expire by age
   */
  readonly maxKeyAgeDays: number | undefined;
  /**
   * The longest time-boxed grant (a user tag `<grantTagPrefix><group>` = end time), in whole
   * hours; a longer or malformed one is refused (MAX_GRANT_HOURS).
   * @default 12
   */
  readonly maxGrantHours: number;
  /**
   * IAM groups whose files hold only FIDO keys (sk-*), each with `verify-required`
   * (VERIFY_REQUIRED_GROUPS). A name with a comma cannot be listed.
   * @default - none
   */
  readonly verifyRequiredGroups: readonly string[];
  /**
   * User tags whose key starts with this are time-boxed grants (GRANT_TAG_PREFIX). Self-service
   * members may never set or remove them; the grant approvers group may, with MFA.
   * @default 'ssh-grant:'
   */
  readonly grantTagPrefix: string;
}

function wholeNumber(
  value: unknown,
  name: string,
  min: number,
  max: number,
  unit: string,
): number | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  const n = typeof value === 'number' ? value : typeof value === 'string' ? Number(value.trim()) : Number.NaN;
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new InvalidConfigError(
      `${name}: expected a whole number of ${unit} from ${min} to ${max}, got ${JSON.stringify(value)}`,
    );
  }
  return n;
}

/** Whole days from 1 to MAX_KEY_AGE_DAYS_LIMIT; undefined (unset or empty): off. */
export function parseMaxKeyAgeDays(value: unknown): number | undefined {
  return wholeNumber(value, 'maxKeyAgeDays', 1, MAX_KEY_AGE_DAYS_LIMIT, 'days');
}

/** Whole hours from 1 to MAX_GRANT_HOURS_LIMIT; unset: DEFAULT_MAX_GRANT_HOURS. */
export function parseMaxGrantHours(value: unknown): number {
  return wholeNumber(value, 'maxGrantHours', 1, MAX_GRANT_HOURS_LIMIT, 'hours') ?? DEFAULT_MAX_GRANT_HOURS;
}

/**
 * IAM group names, deduplicated. A name with a comma (IAM allows one) is refused: the
 * function's VERIFY_REQUIRED_GROUPS is a comma-separated list.
 */
export function parseVerifyRequiredGroups(value: unknown): string[] {
  const name = 'verifyRequiredGroups';
  if (Array.isArray(value) && value.some((v) => typeof v === 'string' && v.includes(','))) {
    throw new InvalidConfigError(
      `${name}: a group name with a comma cannot be listed (VERIFY_REQUIRED_GROUPS is comma-separated)`,
    );
  }
  const groups = parseList(value, name).map((g) => {
    if (!IAM_GROUP_NAME.test(g))
      throw new InvalidConfigError(`${name}: ${JSON.stringify(g)} is not valid: expected IAM group names`);
    return g;
  });
  return [...new Set(groups)];
}

/**
 * The grant tag prefix: a tag key prefix (IAM tag key characters, so never a policy wildcard;
 * ending in : or /; not aws:), apart from the tag key prefix in any letter case (contract's
 * parseGrantTagPrefix, which the function applies to GRANT_TAG_PREFIX too).
 */
export function parseGrantTagPrefix(value: unknown, tagKeyPrefix: string): string {
  if (value !== undefined && value !== null && typeof value !== 'string')
    throw new InvalidConfigError('grantTagPrefix: expected a string');
  try {
    return parseContractGrantTagPrefix(value ?? undefined, tagKeyPrefix, DEFAULT_GRANT_TAG_PREFIX);
  } catch (err) {
    if (err instanceof InvalidTagKeyPrefixError)
      throw new InvalidConfigError(`grantTagPrefix: ${err.message}`, { cause: err });
    throw err;
  }
}

/** Reads the four settings (context getter or props) into LifecycleSettings. */
export function parseLifecycleSettings(
  get: (name: keyof LifecycleSettings) => unknown,
  tagKeyPrefix: string,
) {
  return {
    maxKeyAgeDays: parseMaxKeyAgeDays(get('maxKeyAgeDays')),
    maxGrantHours: parseMaxGrantHours(get('maxGrantHours')),
    verifyRequiredGroups: parseVerifyRequiredGroups(get('verifyRequiredGroups')),
    grantTagPrefix: parseGrantTagPrefix(get('grantTagPrefix'), tagKeyPrefix),
  } satisfies LifecycleSettings;
}

/** The function's environment for them: MAX_KEY_AGE_DAYS and VERIFY_REQUIRED_GROUPS only when set. */
export function lifecycleEnvironment(s: LifecycleSettings): PublisherEnv {
  return {
    ...(s.maxKeyAgeDays !== undefined ? { MAX_KEY_AGE_DAYS: String(s.maxKeyAgeDays) } : {}),
    MAX_GRANT_HOURS: String(s.maxGrantHours),
    ...(s.verifyRequiredGroups.length > 0
      ? { VERIFY_REQUIRED_GROUPS: s.verifyRequiredGroups.join(',') }
      : {}),
    GRANT_TAG_PREFIX: s.grantTagPrefix,
  };
}

// index.json's generatedAt is the publisher's heartbeat. One rule for the
// agent (warns), sync-users (refuses removals) and doctor (fails); pure and
// import-free apart from a constant, so the login path loads it cheaply.
import { DEFAULT_MAX_STALE_SECONDS } from './config.js';

/** A generatedAt further ahead than this is clock skew, not a fresh index. */
export const MAX_FUTURE_SKEW_SECONDS = 300;

/**
 * How old index.json may be: maxStaleSeconds, or with caching off (0) the
 * default day, since the agent then never serves anything older anyway.
 */
export function heartbeatLimitSeconds(maxStaleSeconds: number): number {
  return maxStaleSeconds > 0 ? maxStaleSeconds : DEFAULT_MAX_STALE_SECONDS;
}

export interface IndexAge {
  /** Rounded; negative when generatedAt is ahead of `now`. */
  readonly ageSeconds: number;
  readonly limitSeconds: number;
  /** Older than the limit: the publisher has not run recently. */
  readonly stale: boolean;
  /** More than MAX_FUTURE_SKEW_SECONDS ahead: not fresh either. */
  readonly future: boolean;
}

export function indexAge(generatedAt: string, now: number, maxStaleSeconds: number): IndexAge {
  const ageSeconds = Math.round((now - Date.parse(generatedAt)) / 1000);
  const limitSeconds = heartbeatLimitSeconds(maxStaleSeconds);
  return {
    ageSeconds,
    limitSeconds,
    stale: ageSeconds > limitSeconds,
    future: ageSeconds < -MAX_FUTURE_SKEW_SECONDS,
  };
}

// The config's `sessions` section: accepted (not read) by the login path's
// parser, parsed here only, where `sessions` runs.
import { isRecord } from '../../../contract/records.js';
import { ConfigError } from '../../config.js';
import { END_MODES, type EndMode } from './decide.js';

export interface SessionsConfig {
  /** What `sessions --end-revoked` ends: nothing (`off`, the default), lost `access`, a removed `key`. */
  readonly endRevoked: EndMode;
}

export const SESSIONS_KEYS = ['endRevoked'] as const;

/** The `sessions` section's value with its default; `bad` throws the one-line ConfigError. */
export function parseSessionsSection(v: unknown, f: { bad(message: string): never }): SessionsConfig {
  if (!isRecord(v)) return f.bad('sessions must be an object');
  for (const k of Object.keys(v)) {
    if (!(SESSIONS_KEYS as readonly string[]).includes(k))
      f.bad(`sessions: unknown setting ${JSON.stringify(k)}`);
  }
  const mode = v.endRevoked ?? 'off';
  if (!(END_MODES as readonly unknown[]).includes(mode)) {
    f.bad(`sessions.endRevoked must be one of ${END_MODES.map((m) => `"${m}"`).join(', ')}`);
  }
  return { endRevoked: mode as EndMode };
}

/** The `sessions` section as the config holds it (absent: off); ConfigError naming the file and the field. */
export function parseSessionsConfig(v: unknown, source: string): SessionsConfig {
  if (v === undefined) return { endRevoked: 'off' };
  return parseSessionsSection(v, {
    bad(message): never {
      throw new ConfigError(`${source}: ${message}`);
    },
  });
}

/** The mode a config's `sessions` section asks for; `off` when it is absent or not valid. */
export function endRevokedMode(v: unknown): EndMode {
  try {
    return parseSessionsConfig(v, 'config').endRevoked;
  } catch {
    return 'off';
  }
}

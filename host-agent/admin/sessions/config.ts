// The config's `sessions` section: accepted (not read) by the login path's
// parser, parsed here only, where `sessions` runs.
import { readFileSync } from 'node:fs';
import { isRecord } from '../../../contract/records.js';
import { ConfigError } from '../../config.js';
import { END_MODES, type EndMode } from './decide.js';

export interface SessionsConfig {
  /** What `sessions --end-revoked` ends: nothing (`off`, the default), lost `access`, a removed `key`. */
  readonly endRevoked: EndMode;
}

export const SESSIONS_KEYS = ['endRevoked'] as const;

/** `sessions` of a parsed config file (undefined: absent); ConfigError naming the field otherwise. */
export function parseSessionsConfig(v: unknown, source: string): SessionsConfig {
  if (v === undefined) return { endRevoked: 'off' };
  if (!isRecord(v)) throw new ConfigError(`${source}: sessions must be an object`);
  for (const k of Object.keys(v)) {
    if (!(SESSIONS_KEYS as readonly string[]).includes(k)) {
      throw new ConfigError(`${source}: sessions: unknown setting ${JSON.stringify(k)}`);
    }
  }
  const mode = v.endRevoked ?? 'off';
  if (!(END_MODES as readonly unknown[]).includes(mode)) {
    throw new ConfigError(
      `${source}: sessions.endRevoked must be one of ${END_MODES.map((m) => `"${m}"`).join(', ')}`,
    );
  }
  return { endRevoked: mode as EndMode };
}

/** Reads the section from the config file loadConfig already checked (owner, mode, the rest of it). */
export function loadSessionsConfig(path: string): SessionsConfig {
  const raw: unknown = JSON.parse(readFileSync(path, 'utf8'));
  return parseSessionsConfig(isRecord(raw) ? raw.sessions : undefined, path);
}

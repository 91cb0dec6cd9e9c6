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

/** `sessions` of a config file's JSON (absent: off); ConfigError naming the file and the field. */
export function parseSessionsConfig(v: unknown, source: string): SessionsConfig {
  if (v === undefined) return { endRevoked: 'off' };
  return parseSessionsSection(v, {
    bad(message): never {
      throw new ConfigError(`${source}: ${message}`);
    },
  });
}

/** Reads the section from the config file loadConfig already checked (owner, mode, the rest of it). */
export function loadSessionsConfig(path: string): SessionsConfig {
  const raw: unknown = JSON.parse(readFileSync(path, 'utf8'));
  return parseSessionsConfig(
    isRecord(raw) && Object.hasOwn(raw, 'sessions') ? raw.sessions : undefined,
    path,
  );
}

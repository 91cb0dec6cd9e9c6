// The `sessions` section of the config file (an admin-only section: the login
// parser accepts the key, host-agent/admin/config.ts has this parse it).
import { isRecord } from '../../../contract/records.js';
import type { ConfigFields } from '../../config.js';
import { END_MODES, type EndMode } from './decide.js';

export interface SessionsConfig {
  /** What `sessions --end-revoked` ends: nothing (`off`, the default), lost `access`, a removed `key`. */
  readonly endRevoked: EndMode;
}

export const SESSIONS_KEYS = ['endRevoked'] as const;

/** The `sessions` section's value with its default; `bad` throws the one-line ConfigError. */
export function parseSessionsSection(v: unknown, f: Pick<ConfigFields, 'bad'>): SessionsConfig {
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

// The config file as the admin commands read it: the login's view
// (../config.ts) plus the admin-only sections (ADMIN_SECTIONS), which the login
// parser accepts without reading. Each section's parser lives next to its command.
import {
  ADMIN_SECTIONS,
  type AdminSection,
  type AgentConfig,
  CONFIG_KEYS,
  type ConfigFields,
  configFields,
  configObject,
  parseConfig,
  readConfigText,
} from '../config.js';
import { AUDIT_CONFIG_KEYS, parseAuditConfig } from './audit/config.js';
import { parseSessionsSection, SESSIONS_KEYS } from './sessions/config.js';
import { parseSyncUsers, SYNC_USERS_KEYS } from './sync-users/config.js';

interface SectionParser {
  /** The keys the section accepts (docs/host-agent.md's table lists them). */
  readonly keys: readonly string[];
  /** The section's value, with its defaults; a ConfigError (through `f.bad`) for a mistake. */
  readonly parse: (v: unknown, f: ConfigFields) => unknown;
}

/** One entry per admin-only section. */
const SECTIONS = {
  syncUsers: { keys: SYNC_USERS_KEYS, parse: parseSyncUsers },
  audit: { keys: AUDIT_CONFIG_KEYS, parse: parseAuditConfig },
  sessions: { keys: SESSIONS_KEYS, parse: parseSessionsSection },
} as const satisfies { readonly [S in AdminSection]: SectionParser };

/** The config with the admin-only sections parsed (each absent unless set). */
export type AdminConfig = AgentConfig & {
  [S in AdminSection]?: ReturnType<(typeof SECTIONS)[S]['parse']>;
};

/** Every key of the config file, by level: the login parser's and the admin-only sections'. */
export const CONFIG_FILE_KEYS = {
  ...CONFIG_KEYS,
  ...Object.fromEntries(ADMIN_SECTIONS.map((s) => [s, SECTIONS[s].keys])),
} as const satisfies Record<string, readonly string[]>;

/** parseConfig, then each admin-only section: the same one-line ConfigError for a mistake anywhere. */
export function parseAdminConfig(text: string, source: string): AdminConfig {
  const config: AdminConfig = parseConfig(text, source);
  // The JSON again (admin commands only): AgentConfig keeps nothing of the sections it did not parse.
  const raw = configObject(text, source);
  const f = configFields(source);
  for (const name of ADMIN_SECTIONS) {
    const v = Object.hasOwn(raw, name) ? raw[name] : undefined;
    if (v !== undefined) Object.assign(config, { [name]: SECTIONS[name].parse(v, f) });
  }
  return config;
}

/** loadConfig for the admin commands: the same file checks, the admin-only sections parsed. */
export function loadAdminConfig(path: string): AdminConfig {
  return parseAdminConfig(readConfigText(path), path);
}

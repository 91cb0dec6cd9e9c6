// The options of each admin command, in one place: main.ts parses with them, and
// test/unit/docs/commands.test.ts checks every documented command line against them.
import { type ParseArgsConfig, parseArgs } from 'node:util';
import { DEFAULT_CONFIG_PATH } from '../config.js';
import { DEFAULT_STATE_DIR } from './audit/spool.js';
import { DEFAULT_SUDOERS_PATH } from './sync-users/sudoers.js';

/** In /run: root-only (nobody else can create the name first), emptied at boot. */
export const DEFAULT_SYNC_LOCK = '/run/iam-authorized-keys-sync-users.lock';

export const SYNC_USERS_OPTIONS = {
  config: { type: 'string', default: DEFAULT_CONFIG_PATH },
  'dry-run': { type: 'boolean', default: false },
  'allow-mass-removal': { type: 'boolean', default: false },
  renumber: { type: 'boolean', default: false },
  'sudoers-file': { type: 'string', default: DEFAULT_SUDOERS_PATH },
  'lock-file': { type: 'string', default: DEFAULT_SYNC_LOCK },
  visudo: { type: 'string', default: 'visudo' },
} as const;

/** install, uninstall and doctor: every path can be overridden (tests, image builds on a temp root). */
export const PATH_OPTIONS = {
  root: { type: 'string', default: '/' },
  bin: { type: 'string' },
  config: { type: 'string' },
  sshd: { type: 'string' },
  'sshd-config': { type: 'string' },
  'drop-in-dir': { type: 'string' },
  'state-file': { type: 'string' },
  'reload-command': { type: 'string' },
  'no-reload': { type: 'boolean', default: false },
  // No default here: chooseDefaults tells an explicit --agent-user from the recorded one and the default.
  'agent-user': { type: 'string' },
  'dry-run': { type: 'boolean', default: false },
} as const;

export const INSTALL_OPTIONS = {
  ...PATH_OPTIONS,
  source: { type: 'string' },
  node: { type: 'string', default: process.execPath },
  'principals-from': { type: 'string' },
  'local-user': { type: 'string' },
  'allow-system-accounts': { type: 'boolean', default: false },
  // An existing account install did not create as the agent user: every process running as it can forge the cache.
  'agent-user-shared-ok': { type: 'boolean', default: false },
} as const;

export const REFRESH_PRINCIPALS_OPTIONS = {
  config: { type: 'string', default: DEFAULT_CONFIG_PATH },
  parameter: { type: 'string' },
  tag: { type: 'string' },
  'local-user': { type: 'string' },
  'allow-system-accounts': { type: 'boolean', default: false },
  'dry-run': { type: 'boolean', default: false },
} as const;

export const SHIP_AUDIT_OPTIONS = {
  config: { type: 'string', default: DEFAULT_CONFIG_PATH },
  // Root-only: the log cursor, the outbox and the batch being uploaded.
  'state-dir': { type: 'string', default: '/var/lib/iam-authorized-keys/audit' },
  // The AuthorizedKeysCommandUser, whose journal lines are the agent's (default: install's, else iam-authorized-keys).
  'agent-user': { type: 'string' },
} as const;

/** In /run like sync-users' lock: one `sessions --end-revoked` at a time (the timer and a manual run). */
export const DEFAULT_SESSIONS_LOCK = '/run/iam-authorized-keys-sessions.lock';

export const SESSIONS_OPTIONS = {
  config: { type: 'string', default: DEFAULT_CONFIG_PATH },
  json: { type: 'boolean', default: false },
  'end-revoked': { type: 'boolean', default: false },
  'dry-run': { type: 'boolean', default: false },
  'grace-seconds': { type: 'string', default: '5' },
  'lock-file': { type: 'string', default: DEFAULT_SESSIONS_LOCK },
  // The login trail's state and outbox, shared with ship-audit.
  'state-dir': { type: 'string', default: DEFAULT_STATE_DIR },
  // As ship-audit's: whose journal lines are the agent's.
  'agent-user': { type: 'string' },
} as const;

/** Options per admin command (strict, no positionals). */
export const ADMIN_OPTIONS = {
  install: INSTALL_OPTIONS,
  uninstall: PATH_OPTIONS,
  doctor: PATH_OPTIONS,
  'sync-users': SYNC_USERS_OPTIONS,
  'refresh-principals': REFRESH_PRINCIPALS_OPTIONS,
  'ship-audit': SHIP_AUDIT_OPTIONS,
  sessions: SESSIONS_OPTIONS,
} as const satisfies Record<string, ParseArgsConfig['options']>;

/** Parses one admin command's argv as main.ts does; throws parseArgs' TypeError on a bad option. */
export function parseAdminOptions(command: keyof typeof ADMIN_OPTIONS, args: readonly string[]) {
  return parseArgs({
    args: [...args],
    options: ADMIN_OPTIONS[command],
    strict: true,
    allowPositionals: false,
  }).values;
}

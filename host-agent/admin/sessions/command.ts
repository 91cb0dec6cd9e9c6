// `iam-authorized-keys sessions` wiring: config, the login trail, /proc,
// the store (the agent's cache read only, then S3), signals, the clock.
import { lstatSync, readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { deriveObject } from '../../authorized-keys.js';
import { fileCache } from '../../cache.js';
import { type AgentConfig, loadConfig } from '../../config.js';
import { errorMessage, UsageError } from '../../errors.js';
import { privateDirProblem } from '../../secure-path.js';
import { createStore } from '../../store.js';
import { DEFAULT_AGENT_USER, defaultPaths } from '../install/plan.js';
import { acquireLock } from '../lock.js';
import { SESSIONS_OPTIONS } from '../options.js';
import { lookupUser, realRunner } from '../sys.js';
import { loadSessionsConfig } from './config.js';
import { freshOnlyCache, readPrincipalKeys } from './keys.js';
import { isSameProcess, parseBtime, realProcFs } from './proc.js';
import { endRevoked, listSessions, type SessionsDeps } from './run.js';

const out = (line: string) => process.stdout.write(`${line}\n`);
const err = (line: string) => process.stderr.write(`iam-authorized-keys sessions: ${line}\n`);

/** Where open logins come from and `ended` records go (the login trail). */
export interface Trail {
  openLogins: SessionsDeps['openLogins'];
  record: SessionsDeps['record'];
}

/** The agent user's uid, as install recorded it (or the default name), for reading its cache. */
async function agentUid(): Promise<number | undefined> {
  let name = DEFAULT_AGENT_USER;
  try {
    const state = JSON.parse(readFileSync(defaultPaths('/').stateFile, 'utf8')) as { agentUser?: unknown };
    if (typeof state.agentUser === 'string') name = state.agentUser;
  } catch {
    // no install state: a package install, the default name
  }
  return (await lookupUser(realRunner, name))?.uid;
}

/** The agent's cache when it is the agent user's private directory; else none (S3 only). Never created or written here. */
async function agentCache(config: AgentConfig, now: () => number) {
  const uid = await agentUid();
  if (uid === undefined || config.cache.ttlSeconds === 0) return undefined;
  let problem: string | undefined;
  try {
    problem = privateDirProblem(config.cache.dir, lstatSync(config.cache.dir), uid, { allowReadable: true });
  } catch (e) {
    problem = errorMessage(e);
  }
  if (problem) return undefined;
  return freshOnlyCache(fileCache(config.cache.dir, uid).read, now, config.cache.ttlSeconds);
}

async function realDeps(config: AgentConfig, trail: Trail, graceMs: number): Promise<SessionsDeps> {
  const proc = realProcFs();
  const bootAt = parseBtime((await proc.readText('/proc/stat')) ?? '');
  if (bootAt === null) throw new Error('cannot read the boot time from /proc/stat');
  const now = Date.now;
  const cache = await agentCache(config, now);
  // Fresh entries only: a copy older than the TTL is never reason enough to end a session.
  // Without the agent's cache, ttlSeconds 0: the store then opens no cache of its own (as root it would create one).
  const ttl = cache ? config.cache.ttlSeconds : 0;
  const store = createStore(
    { ...config, cache: { ...config.cache, ttlSeconds: ttl, maxStaleSeconds: ttl } },
    { now, warn: err, derive: deriveObject, ...(cache ? { cache } : {}) },
  );
  return {
    ...trail,
    proc,
    bootAt,
    readKeys: (principals) => readPrincipalKeys(store, config.prefix, principals, config.deadlineMs),
    end: {
      kill: (pid, signal) => process.kill(pid, signal),
      isSame: (p) => isSameProcess(proc, p),
      sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
      now,
      self: process.pid,
    },
    graceMs,
    now,
    out,
    err,
  };
}

/** The login trail (admin/audit): placeholder until it lands. */
function loginTrail(_config: AgentConfig): Trail {
  const missing = () => Promise.reject(new Error('the login trail is not available in this build'));
  return { openLogins: missing, record: missing };
}

export async function sessionsCommand(args: string[], trail = loginTrail): Promise<number> {
  const { values } = parseArgs({ args, options: SESSIONS_OPTIONS, strict: true, allowPositionals: false });
  const grace = Number(values['grace-seconds']);
  if (!Number.isInteger(grace) || grace < 0 || grace > 300) {
    throw new UsageError('--grace-seconds must be an integer from 0 to 300');
  }
  if (values['dry-run'] && !values['end-revoked']) throw new UsageError('--dry-run goes with --end-revoked');
  // Other users' /proc entries and sshd's log: root only, as is ending sessions.
  if (process.getuid?.() !== 0) throw new UsageError('sessions must run as root');
  const config = loadConfig(values.config);
  const sessions = loadSessionsConfig(values.config);
  const deps = await realDeps(config, trail(config), grace * 1000);
  if (!values['end-revoked']) return listSessions(deps, values.json);
  const release = values['dry-run'] ? () => {} : acquireLock(values['lock-file']);
  try {
    return await endRevoked(deps, {
      mode: sessions.endRevoked,
      json: values.json,
      dryRun: values['dry-run'],
      configPath: values.config,
    });
  } finally {
    release();
  }
}

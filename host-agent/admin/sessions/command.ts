// `iam-authorized-keys sessions` wiring: config, the login trail, /proc,
// the store (the agent's cache read only, then S3), signals, the clock.
import { lstatSync, readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { deriveObject } from '../../authorized-keys.js';
import { fileCache } from '../../cache.js';
import type { AgentConfig } from '../../config.js';
import { UsageError } from '../../errors.js';
import { uidFromPasswd } from '../../passwd.js';
import { privateDirProblem } from '../../secure-path.js';
import { createStore } from '../../store.js';
import { loadAdminConfig } from '../config.js';
import { acquireLock } from '../lock.js';
import { SESSIONS_OPTIONS } from '../options.js';
import { freshOnlyCache, readMappings, readPrincipalKeys } from './keys.js';
import { isSameProcess, parseBtime, realProcFs } from './proc.js';
import { endRevoked, listSessions, type SessionsDeps } from './run.js';
import { loginTrail, type Trail } from './trail.js';

const out = (line: string) => process.stdout.write(`${line}\n`);
const err = (line: string) => process.stderr.write(`iam-authorized-keys sessions: ${line}\n`);

/**
 * The agent's cache, read as its owner's files (the agent user's: install creates it so, doctor checks it), when
 * that owner is not root and nobody else can write the directory; else none (S3 only). Never created or written here.
 */
function agentCache(config: AgentConfig, now: () => number) {
  if (config.cache.ttlSeconds === 0) return undefined;
  try {
    const st = lstatSync(config.cache.dir);
    if (st.uid === 0 || privateDirProblem(config.cache.dir, st, st.uid, { allowReadable: true }))
      return undefined;
    return freshOnlyCache(fileCache(config.cache.dir, st.uid).read, now, config.cache.ttlSeconds);
  } catch {
    return undefined;
  }
}

async function realDeps(config: AgentConfig, trail: Trail, graceMs: number): Promise<SessionsDeps> {
  const proc = realProcFs();
  const bootAt = parseBtime((await proc.readText('/proc/stat')) ?? '');
  if (bootAt === null) throw new Error('cannot read the boot time from /proc/stat');
  const now = Date.now;
  const cache = agentCache(config, now);
  // Fresh entries only: a copy older than the TTL is never reason enough to end a session.
  // Without the agent's cache, ttlSeconds 0: the store then opens no cache of its own (as root it would create one).
  const ttl = cache ? config.cache.ttlSeconds : 0;
  const store = createStore(
    { ...config, cache: { ...config.cache, ttlSeconds: ttl, maxStaleSeconds: ttl } },
    {
      uid: process.getuid?.() ?? 0,
      pid: process.pid,
      now,
      warn: err,
      derive: deriveObject,
      ...(cache ? { cache } : {}),
    },
  );
  return {
    ...trail,
    proc,
    bootAt,
    readKeys: (principals) => readPrincipalKeys(store, config.prefix, principals, config.deadlineMs, now()),
    readMappings: (localUsers) => {
      let passwd: string | undefined;
      // Throws when the file cannot be read: readMappings then decides nothing for iamUsers principals.
      const uidOf = (user: string) => {
        passwd ??= readFileSync(config.passwdFile, 'utf8');
        return uidFromPasswd(passwd, user);
      };
      return readMappings(store, config, localUsers, uidOf, config.deadlineMs);
    },
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

export async function sessionsCommand(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: SESSIONS_OPTIONS, strict: true, allowPositionals: false });
  const grace = Number(values['grace-seconds']);
  if (!Number.isInteger(grace) || grace < 0 || grace > 300) {
    throw new UsageError('--grace-seconds must be an integer from 0 to 300');
  }
  if (values['dry-run'] && !values['end-revoked']) throw new UsageError('--dry-run goes with --end-revoked');
  // Other users' /proc entries and sshd's log: root only, as is ending sessions.
  if (process.getuid?.() !== 0) throw new UsageError('sessions must run as root');
  const config = loadAdminConfig(values.config);
  const trail = loginTrail(config, config.audit, {
    stateDir: values['state-dir'],
    ...(values['agent-user'] !== undefined ? { agentUser: values['agent-user'] } : {}),
  });
  const deps = await realDeps(config, trail, grace * 1000);
  if (!values['end-revoked']) return listSessions(deps, values.json);
  const release = values['dry-run'] ? () => {} : acquireLock(values['lock-file']);
  try {
    return await endRevoked(deps, {
      mode: config.sessions?.endRevoked ?? 'off',
      json: values.json,
      dryRun: values['dry-run'],
      configPath: values.config,
    });
  } finally {
    release();
  }
}

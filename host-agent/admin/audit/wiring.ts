// The real dependencies of collect and ship (file system, journalctl, the
// agent's cache, IMDS, STS, S3), for ship-audit and sessions.
import { readFileSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { directoryKey, parseDirectory } from '../../../contract/directory.js';
import { parsePrincipal, principalKey } from '../../../contract/layout.js';
import { parseObject } from '../../../contract/line.js';
import { readDerived, uidFromPasswd } from '../../authorized-keys.js';
import { fileCache, type ObjectCache } from '../../cache.js';
import type { AgentConfig } from '../../config.js';
import { readFileOrUndefined } from '../../credentials.js';
import { request } from '../../http-client.js';
import { DEFAULT_AGENT_USER } from '../install/plan.js';
import { writeFileAtomic } from '../sys.js';
import { auditUploader, hostFacts } from './aws.js';
import type { CollectDeps } from './collect.js';
import type { AuditConfig } from './config.js';
import type { HostFacts } from './join.js';
import type { ShipDeps } from './ship.js';
import { fileSource, journalSource } from './sources.js';
import { ensureStateDir, loadState, saveState, withStateLock } from './spool.js';

export interface AuditWiringOptions {
  readonly stateDir: string;
  /** The AuthorizedKeysCommandUser; default: what install recorded, else iam-authorized-keys. */
  readonly agentUser?: string;
  /** install's state file (its agent user). */
  readonly installState?: string;
  readonly journalctl?: string;
}

function agentUserOf(opts: AuditWiringOptions): string {
  if (opts.agentUser) return opts.agentUser;
  try {
    const s = JSON.parse(
      readFileSync(opts.installState ?? '/var/lib/iam-authorized-keys/install.json', 'utf8'),
    );
    if (typeof s.agentUser === 'string') return s.agentUser;
  } catch {
    // not installed by install: the default name
  }
  return DEFAULT_AGENT_USER;
}

const pidAlive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
};

/** The agent's cache as root sees it: files owned by the cache dir's owner (the agent user) only. */
function agentCache(config: AgentConfig): ObjectCache | undefined {
  try {
    const st = statSync(config.cache.dir);
    return st.isDirectory() && st.uid !== 0 ? fileCache(config.cache.dir, st.uid) : undefined;
  } catch {
    return undefined;
  }
}

/** Host facts cached in the state directory once IMDS gave them (off EC2: asked again each run). */
async function cachedHostFacts(stateDir: string): Promise<HostFacts> {
  const path = join(stateDir, 'host.json');
  try {
    return JSON.parse(await readFile(path, 'utf8')) as HostFacts;
  } catch {
    const { facts, fromImds } = await hostFacts({ http: request, env: process.env });
    if (fromImds) await writeFileAtomic(path, JSON.stringify(facts), { mode: 0o600 });
    return facts;
  }
}

export async function collectDepsFor(
  config: AgentConfig,
  audit: AuditConfig,
  opts: AuditWiringOptions,
): Promise<CollectDeps> {
  await ensureStateDir(opts.stateDir);
  const cache = agentCache(config);
  const passwd = readFileOrUndefined(config.passwdFile) ?? '';
  const agentUid = uidFromPasswd(passwd, agentUserOf(opts)) ?? null;
  return {
    stateDir: opts.stateDir,
    source: audit.source === 'journal' ? journalSource(opts.journalctl) : fileSource(audit.source),
    host: await cachedHostFacts(opts.stateDir),
    spoolMaxBytes: audit.spoolMaxBytes,
    now: Date.now,
    join: {
      agentUid,
      uidOf: (u) => uidFromPasswd(passwd, u),
      pidAlive,
      ownerHolds(principal, owner, fingerprint) {
        let key: string;
        try {
          key = principalKey(config.prefix, parsePrincipal(principal));
        } catch {
          return false; // not a principal the agent could have served
        }
        const e = cache?.read(key);
        if (e === undefined || typeof e === 'string') return undefined;
        if (!e.found) return false;
        const parsed =
          (e.derived !== undefined ? readDerived(e.derived) : undefined) ??
          parseObject(e.body.toString('utf8'));
        return parsed.lines.some((l) => l.owner === owner && l.key.fingerprint === fingerprint);
      },
      iamUserId(owner) {
        const e = cache?.read(directoryKey(config.prefix));
        if (e === undefined || typeof e === 'string' || !e.found) return null;
        try {
          return parseDirectory(e.body.toString('utf8')).users.get(owner)?.userId ?? null;
        } catch {
          return null;
        }
      },
    },
  };
}

export function shipDepsFor(config: AgentConfig, audit: AuditConfig, stateDir: string): ShipDeps {
  const aws = auditUploader(config, audit, {
    http: request,
    env: process.env,
    now: Date.now,
    readFile: readFileOrUndefined,
    warn: (m) => process.stderr.write(`iam-authorized-keys ship-audit: ${m}\n`),
  });
  return {
    stateDir,
    now: Date.now,
    put: aws.put,
    async uploader() {
      const cached = (await loadState(stateDir)).uploader;
      if (cached) return cached;
      const id = await aws.callerUserId();
      await withStateLock(stateDir, async () =>
        saveState(stateDir, { ...(await loadState(stateDir)), uploader: id }),
      );
      return id;
    },
  };
}

// The current published keys of each principal, as the login path would serve
// them now: a fresh entry of the agent's own cache (read only, never written:
// this runs as root), otherwise S3. Never a stale entry: a session is ended
// only on what is published now, and S3 unreachable leaves it `unreadable`.

import { type Directory, directoryKey, parseDirectory } from '../../../contract/directory.js';
import { parsePrincipal, principalKey } from '../../../contract/layout.js';
import { parseObject } from '../../../contract/line.js';
import { acceptParsed, mappedPrincipals, matchIamUser, readDerived } from '../../authorized-keys.js';
import { type CacheEntry, freshness, type ObjectCache } from '../../cache.js';
import type { AgentConfig } from '../../config.js';
import { errorMessage } from '../../errors.js';
import type { Store } from '../../store.js';
import type { Mapping, PrincipalKeys } from './decide.js';

/** A view of the agent's cache that returns fresh entries only and writes nothing. */
export function freshOnlyCache(
  read: (key: string) => CacheEntry | string | undefined,
  now: () => number,
  ttlSeconds: number,
): ObjectCache {
  return {
    read(key) {
      const e = read(key);
      if (typeof e !== 'object') return undefined;
      return freshness(e.fetchedAt, now(), ttlSeconds, ttlSeconds) === 'fresh' ? e : undefined;
    },
    write() {},
  };
}

/**
 * Each principal's current keys at nowMs (a line whose expiry-time has passed grants nothing, as at
 * login); a principal that cannot be read is `unreadable` with the reason.
 */
export async function readPrincipalKeys(
  store: Store,
  prefix: string,
  principals: readonly string[],
  timeoutMs: number,
  nowMs: number,
): Promise<Map<string, PrincipalKeys>> {
  const out = new Map<string, PrincipalKeys>();
  const signal = AbortSignal.timeout(timeoutMs);
  await Promise.all(
    principals.map(async (p) => {
      out.set(p, await readOne(store, prefix, p, signal, nowMs));
    }),
  );
  return out;
}

async function readOne(
  store: Store,
  prefix: string,
  principal: string,
  signal: AbortSignal,
  nowMs: number,
): Promise<PrincipalKeys> {
  let key: string;
  try {
    key = principalKey(prefix, parsePrincipal(principal));
  } catch (e) {
    return { state: 'unreadable', why: errorMessage(e) };
  }
  try {
    const r = await store.read(key, { signal });
    if (!r.found) return { state: 'absent' };
    const parsed =
      (r.derived !== undefined ? readDerived(r.derived) : undefined) ?? parseObject(r.body.toString('utf8'));
    const lines = acceptParsed(principal, parsed, [], nowMs).map((l) => ({
      owner: l.owner,
      fingerprint: l.key.fingerprint,
    }));
    return { state: 'found', lines };
  } catch (e) {
    return { state: 'unreadable', why: errorMessage(e) };
  }
}

/**
 * What maps each local user now, as the login path maps it: the config's `users`, and in iamUsers mode the IAM user
 * directory.json names (local name, published uid against `uidOf`, allowGroups). The directory is read like the
 * principal objects (a fresh cache entry or S3, never a stale copy); unread, it leaves the mapping `unreadable`,
 * as does `uidOf` throwing (the local accounts could not be read).
 */
export async function readMappings(
  store: Store,
  config: Pick<AgentConfig, 'prefix' | 'users' | 'iamUsers'>,
  localUsers: readonly string[],
  uidOf: (user: string) => number | undefined,
  timeoutMs: number,
): Promise<Map<string, Mapping>> {
  // No live session: nothing to read (the timer runs every minute).
  if (localUsers.length === 0) return new Map();
  const directory = config.iamUsers ? await readDirectory(store, config.prefix, timeoutMs) : undefined;
  const out = new Map<string, Mapping>();
  for (const user of localUsers) {
    const principals = new Set(mappedPrincipals(config, user));
    if (typeof directory === 'string') {
      out.set(user, { principals, unreadable: `directory.json: ${directory}` });
      continue;
    }
    if (directory === undefined) {
      out.set(user, { principals });
      continue;
    }
    let uid: number | undefined;
    try {
      uid = uidOf(user);
    } catch (e) {
      // Not "no such account": that would end the sessions of every account it maps.
      out.set(user, { principals, unreadable: `local accounts: ${errorMessage(e)}` });
      continue;
    }
    const allowGroups = config.iamUsers?.allowGroups ?? [];
    for (const p of matchIamUser(directory, user, allowGroups, uid).principals) principals.add(p);
    out.set(user, { principals });
  }
  return out;
}

/** directory.json, or why it could not be read (missing: the login path cannot decide either). */
async function readDirectory(store: Store, prefix: string, timeoutMs: number): Promise<Directory | string> {
  try {
    const r = await store.read(directoryKey(prefix), { signal: AbortSignal.timeout(timeoutMs) });
    if (!r.found) return 'not found in the bucket';
    return parseDirectory(r.body.toString('utf8'));
  } catch (e) {
    return errorMessage(e);
  }
}

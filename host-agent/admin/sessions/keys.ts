// The current published keys of each principal, as the login path would serve
// them now: a fresh entry of the agent's own cache (read only, never written:
// this runs as root), otherwise S3. Never a stale entry: a session is ended
// only on what is published now, and S3 unreachable leaves it `unreadable`.

import { parsePrincipal, principalKey } from '../../../contract/layout.js';
import { parseObject } from '../../../contract/line.js';
import { acceptParsed, readDerived } from '../../authorized-keys.js';
import { type CacheEntry, freshness, type ObjectCache } from '../../cache.js';
import { errorMessage } from '../../errors.js';
import type { Store } from '../../store.js';
import type { PrincipalKeys } from './decide.js';

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

/** Each principal's current keys; a principal that cannot be read is `unreadable` with the reason. */
export async function readPrincipalKeys(
  store: Store,
  prefix: string,
  principals: readonly string[],
  timeoutMs: number,
): Promise<Map<string, PrincipalKeys>> {
  const out = new Map<string, PrincipalKeys>();
  const signal = AbortSignal.timeout(timeoutMs);
  await Promise.all(
    principals.map(async (p) => {
      out.set(p, await readOne(store, prefix, p, signal));
    }),
  );
  return out;
}

async function readOne(
  store: Store,
  prefix: string,
  principal: string,
  signal: AbortSignal,
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
    const lines = acceptParsed(principal, parsed, []).map((l) => ({
      owner: l.owner,
      fingerprint: l.key.fingerprint,
    }));
    return { state: 'found', lines };
  } catch (e) {
    return { state: 'unreadable', why: errorMessage(e) };
  }
}

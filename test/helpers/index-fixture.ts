// A minimal published index.json for host-agent tests: users default to no local
// name, no groups and no keys; uids come from `uids` or count up from `firstUid`.
// The current version (uids by IAM user id, each user's userId) unless `version: 1`
// asks for what a version 1 publisher wrote (uids by name, no userId).
import { DIRECTORY_VERSION, type DirectoryUser, serializeDirectory } from '../../contract/directory.js';
import {
  INDEX_VERSION,
  type IndexUser,
  type PublishedIndex,
  serializeIndex,
} from '../../contract/index-schema.js';

/** A stable fake IAM user id for a test user name. */
export function fakeUserId(name: string): string {
  return `AIDA${Buffer.from(name).toString('hex').toUpperCase().slice(0, 100).padEnd(17, '0')}`;
}

export function indexJson(
  users: Record<string, Partial<IndexUser>>,
  generatedAt: string,
  opts: { uids?: Record<string, number>; firstUid?: number; version?: 1 } = {},
): string {
  const v1 = opts.version === 1;
  const full: Record<string, IndexUser> = {};
  const uids: Record<string, number> = {};
  let uid = opts.firstUid ?? 2000;
  for (const [n, u] of Object.entries(users)) {
    const entry: IndexUser = {
      ...(v1 ? {} : { userId: fakeUserId(n) }),
      localName: null,
      uid: opts.uids?.[n] ?? uid++,
      groups: [],
      keys: [],
      ...u,
    };
    full[n] = entry;
    uids[v1 ? n : (entry.userId ?? fakeUserId(n))] = entry.uid;
  }
  const idx: PublishedIndex = {
    version: v1 ? 1 : INDEX_VERSION,
    generatedAt,
    users: full,
    groups: {},
    keyBodies: {},
    uids,
    nextUid: uid,
  };
  return serializeIndex(idx);
}

/**
 * directory.json for host-agent tests, from the same partial users (entries, so
 * that names like `__proto__` stay data): uids count up from `firstUid`.
 */
export function directoryJson(
  users: Record<string, Partial<DirectoryUser>> | readonly [string, Partial<DirectoryUser>][],
  opts: { firstUid?: number; reservedUids?: number[] } = {},
): string {
  const entries = Array.isArray(users) ? users : Object.entries(users);
  const map = new Map<string, DirectoryUser>();
  let uid = opts.firstUid ?? 2000;
  for (const [n, u] of entries) {
    map.set(n, { userId: fakeUserId(n), localName: null, uid: uid++, groups: [], ...u });
  }
  return serializeDirectory({
    version: DIRECTORY_VERSION,
    users: map,
    reservedUids: opts.reservedUids ?? [],
  });
}

export { serializeHeartbeat as heartbeatJson } from '../../contract/directory.js';

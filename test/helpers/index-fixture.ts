// A minimal published index.json for host-agent tests: users default to no local
// name, no groups and no keys; uids come from `uids` or count up from `firstUid`.
import { type IndexUser, type PublishedIndex, serializeIndex } from '../../contract/index-schema.js';

export function indexJson(
  users: Record<string, Partial<IndexUser>>,
  generatedAt: string,
  opts: { uids?: Record<string, number>; firstUid?: number } = {},
): string {
  const full: Record<string, IndexUser> = {};
  let uid = opts.firstUid ?? 2000;
  for (const [n, u] of Object.entries(users)) {
    full[n] = { localName: null, uid: opts.uids?.[n] ?? uid++, groups: [], keys: [], ...u };
  }
  const idx: PublishedIndex = {
    version: 1,
    generatedAt,
    users: full,
    groups: {},
    keyBodies: {},
    uids: {},
    nextUid: uid,
  };
  return serializeIndex(idx);
}

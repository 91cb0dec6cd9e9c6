// Peak RSS of a freshly written executable is not the executable's own figure. A binary the bench has just
// compiled or copied sits in the page cache as it was written (large folios on this kernel), and a process that
// maps it gets whole folios mapped at once: measured here, the agent's cache hit peaked at 37.8 MiB run from a
// binary written minutes before and at 31.5 MiB from the same bytes read back from disk, and the empty compiled
// program at 24.4 and 19.9 MiB. A host runs its agent from a file installed long ago (or read back after a boot),
// so benches drop the page cache before they measure, when they may.

import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';

export type PageCacheState = 'dropped' | 'as written';

/** Writes dirty pages out and drops the clean page cache (root only); says what state the measurements run in. */
export function dropPageCache(): PageCacheState {
  if (process.getuid?.() !== 0) return 'as written';
  try {
    execFileSync('sync');
    writeFileSync('/proc/sys/vm/drop_caches', '1');
    return 'dropped';
  } catch {
    return 'as written'; // a container without a writable /proc/sys
  }
}

/** One line for a bench's output: how far its RSS figures can be trusted. */
export function pageCacheNote(state: PageCacheState): string {
  return state === 'dropped'
    ? 'page cache dropped before measuring: executables read back from disk, as on a host'
    : 'page cache NOT dropped (not root, or /proc/sys read-only): peak RSS of freshly written executables reads up to ~6 MiB high';
}

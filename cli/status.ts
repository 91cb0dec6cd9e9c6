// Pure: index.json + clock -> what `iam-ssh-keys status` prints.
import type { PublishedIndex } from '../contract/index.js';

export interface StatusReport {
  readonly ok: boolean;
  readonly ageSeconds: number;
  readonly lines: readonly string[];
  readonly data: Record<string, unknown>;
}

export function statusReport(index: PublishedIndex, now: Date, maxAgeSeconds: number): StatusReport {
  const ageSeconds = Math.max(0, Math.round((now.getTime() - Date.parse(index.generatedAt)) / 1000));
  const users = Object.entries(index.users);
  const keys = users.reduce((n, [, u]) => n + u.keys.length, 0);
  // Keys from user tags (DESIGN.md "Keys from IAM user tags"): ids `tag:<tag key>`.
  const tagKeys = users.reduce((n, [, u]) => n + u.keys.filter((k) => k.tagKey !== undefined).length, 0);
  const rejected = users.flatMap(([name, u]) => (u.rejectedKeys ?? []).map((r) => ({ user: name, ...r })));
  const noLocal = users
    .filter(([, u]) => u.localName === null)
    .map(([name, u]) => ({ user: name, reason: u.localNameProblem ?? '' }));
  const ok = ageSeconds <= maxAgeSeconds;
  const lines = [
    `last publish: ${index.generatedAt} (${ageSeconds} s ago)${ok ? '' : ` STALE: older than ${maxAgeSeconds} s`}`,
    `users: ${users.length}  groups: ${Object.keys(index.groups).length}  keys: ${keys}  rejected keys: ${rejected.length}  keys from tags: ${tagKeys}`,
    ...rejected.map((r) => `rejected key ${r.id} of ${r.user}: ${r.reason}`),
    ...noLocal.map((r) => `no local name for ${r.user}: ${r.reason}`),
  ];
  return {
    ok,
    ageSeconds,
    lines,
    data: {
      generatedAt: index.generatedAt,
      ageSeconds,
      stale: !ok,
      users: users.length,
      groups: Object.keys(index.groups).length,
      keys,
      tagKeys,
      rejectedKeys: rejected,
      usersWithoutLocalName: noLocal,
    },
  };
}

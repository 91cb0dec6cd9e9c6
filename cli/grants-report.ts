// Pure: index.json's grants + clock -> what `iam-ssh-keys grants` prints. Fetching is in grant.ts.
import type { IndexGrant, PublishedIndex } from '../contract/index.js';
import { humanAge } from './status-report.js';

export interface GrantsReport {
  readonly lines: readonly string[];
  readonly data: Record<string, unknown>;
}

/** An active grant whose end has passed since the last run: sshd already refuses its lines (expiry-time). */
const ended = (g: IndexGrant, now: Date) =>
  g.status === 'active' && g.until !== null && Date.parse(g.until) <= now.getTime();

function line(g: IndexGrant, now: Date): string {
  const until = g.until ?? '(no valid end)';
  if (g.status === 'refused')
    return `refused  ${g.iamUser}  ${g.group}  until ${until}: ${g.reason ?? 'refused'}`;
  if (ended(g, now)) return `ended    ${g.iamUser}  ${g.group}  at ${until} (the next run drops it)`;
  const left = g.until === null ? '' : ` (${humanAge((Date.parse(g.until) - now.getTime()) / 1000)} left)`;
  return `active   ${g.iamUser}  ${g.group}  until ${until}${left}`;
}

/** Active grants first (soonest end first), then refused ones; each with who, which group, until when. */
export function grantsReport(index: PublishedIndex, now: Date): GrantsReport {
  const grants = [...(index.grants ?? [])];
  const rank = (g: IndexGrant) =>
    g.status === 'active' && !ended(g, now) ? 0 : g.status === 'active' ? 1 : 2;
  grants.sort((a, b) => rank(a) - rank(b) || (a.until ?? '').localeCompare(b.until ?? ''));
  const header = `grants as of the last publish, ${index.generatedAt}:`;
  const lines = grants.length === 0 ? [`${header} none`] : [header, ...grants.map((g) => line(g, now))];
  return {
    lines,
    data: {
      generatedAt: index.generatedAt,
      grants: grants.map((g) => ({
        iamUser: g.iamUser,
        iamUserId: g.iamUserId,
        group: g.group,
        until: g.until,
        status: g.status,
        ...(g.reason !== undefined ? { reason: g.reason } : {}),
        ...(ended(g, now) ? { ended: true } : {}),
      })),
    },
  };
}

// Pure: how often the event path may start a full run for a reason an IAM user
// controls (a copied-key clash index.json has not decided). A self-service user
// can change their own keys every minute; each such change must not buy them a
// whole-account read (thousands of IAM calls, the function's only slot). The
// last such run is kept in `<prefix>publisher/event-full-run.json` (outside the
// layout: hosts never read it, the plan never touches it).

export const FULL_RUN_BUDGET_KIND = 'iam-ssh-keys-event-full-run';
export const FULL_RUN_BUDGET_VERSION = 1;
/** Default: at most one event-started full run per hour (the stack passes its schedule period). */
export const DEFAULT_EVENT_FULL_RUN_INTERVAL_MS = 60 * 60_000;

export function fullRunBudgetKey(prefix: string): string {
  return `${prefix}publisher/event-full-run.json`;
}

export interface EventFullRun {
  readonly kind: typeof FULL_RUN_BUDGET_KIND;
  readonly version: typeof FULL_RUN_BUDGET_VERSION;
  /** ISO: when the event path last started a full run for a user's copied key. */
  readonly startedAt: string;
  /** The IAM users whose changes asked for it. */
  readonly users: readonly string[];
}

export function serializeEventFullRun(r: EventFullRun): string {
  return `${JSON.stringify(r, null, 2)}\n`;
}

/** The time of the last event-started full run, or undefined when the text is missing or not understood. */
export function lastEventFullRun(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof v !== 'object' || v === null) return undefined;
  const r = v as Partial<EventFullRun>;
  if (r.kind !== FULL_RUN_BUDGET_KIND || r.version !== FULL_RUN_BUDGET_VERSION) return undefined;
  const t = typeof r.startedAt === 'string' ? Date.parse(r.startedAt) : Number.NaN;
  return Number.isNaN(t) ? undefined : t;
}

/**
 * May the event path start a full run now? Yes when none started within the
 * interval. A recorded time in the future (a clock that jumped back) does not
 * block: otherwise one bad clock would defer every copied-key full run for ever.
 */
export function mayStartFullRun(last: number | undefined, now: number, intervalMs: number): boolean {
  return last === undefined || last > now || now - last >= intervalMs;
}

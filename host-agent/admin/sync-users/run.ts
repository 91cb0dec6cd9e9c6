// sync-users end to end: directory.json and heartbeat.json through the store, local accounts through
// getent, then plan, apply and the sudoers drop-in. Returns the exit code.

import { errorMessage } from '../../../contract/errors.js';
import {
  type Directory,
  directoryKey,
  heartbeatKey,
  parseDirectory,
  parseHeartbeat,
} from '../../../contract/index.js';
import { indexAge } from '../../index-age.js';
import { parsePasswd } from '../../passwd.js';
import { type ProcessRunner, runChecked } from '../sys.js';
import { applySync, describeAction } from './apply.js';
import { ALL_USERS, type Freshness, parseGroup, planSync, type SyncPlan, type SyncSettings } from './plan.js';
import { existingSudoUsers, installSudoers, renderSudoers, type SudoersDeps } from './sudoers.js';

/** What runSyncUsers needs from the agent's config (a subset of AgentConfig). */
export interface SyncUsersConfigView {
  readonly prefix: string;
  readonly iamUsers?: { readonly allowGroups: readonly string[] };
  readonly cache: { readonly maxStaleSeconds: number };
  readonly syncUsers?: Omit<SyncSettings, 'allowGroups'>;
}

export interface IndexReader {
  read(
    key: string,
  ): Promise<
    { found: true; body: Buffer; source: 's3' | 'cache' | 'stale' } | { found: false; source: string }
  >;
}

export interface SyncUsersDeps {
  readonly config: SyncUsersConfigView;
  readonly store: IndexReader;
  readonly run: ProcessRunner;
  readonly now: () => number;
  readonly out: (line: string) => void;
  readonly err: (line: string) => void;
  readonly sudoers: Omit<SudoersDeps, 'run'> & { readonly path: string };
  readonly shell: string;
  readonly dryRun: boolean;
  readonly allowMassRemoval: boolean;
  /** --renumber: renumber for this run even when the config's syncUsers.renumber is false. */
  readonly renumber?: boolean;
}

const staleCache: Freshness = { fresh: false, reason: 'S3 is unreachable, read from the stale cache' };

/** Removals need a recent heartbeat: a stopped publisher's directory still lists deleted users. */
async function heartbeatFreshness(deps: SyncUsersDeps): Promise<Freshness> {
  const key = heartbeatKey(deps.config.prefix);
  let generatedAt: string;
  try {
    const r = await deps.store.read(key);
    if (!r.found) return { fresh: false, reason: `${key} not found` };
    if (r.source === 'stale') return staleCache;
    generatedAt = parseHeartbeat(r.body.toString('utf8')).generatedAt;
  } catch (e) {
    return { fresh: false, reason: `cannot read ${key}: ${errorMessage(e)}` };
  }
  const age = indexAge(generatedAt, deps.now(), deps.config.cache.maxStaleSeconds);
  if (age.stale)
    return {
      fresh: false,
      reason: `generated ${age.ageSeconds}s ago, more than the ${age.limitSeconds}s limit`,
    };
  if (age.future)
    return { fresh: false, reason: `generated ${-age.ageSeconds}s in the future (clock skew?)` };
  return { fresh: true };
}

/** directory.json through the store, or undefined after saying why (nothing is changed then). */
async function readDirectory(deps: SyncUsersDeps): Promise<{ index: Directory; source: string } | undefined> {
  const key = directoryKey(deps.config.prefix);
  try {
    const r = await deps.store.read(key);
    if (!r.found) {
      deps.err(
        `sync-users: ${key} not found in the bucket (a publisher older than this agent?); nothing changed`,
      );
      return undefined;
    }
    return { index: parseDirectory(r.body.toString('utf8')), source: r.source };
  } catch (e) {
    deps.err(`sync-users: cannot read ${key}: ${errorMessage(e)}; nothing changed`);
    return undefined;
  }
}

/** --dry-run: what would be done, nothing done. */
function showPlan(plan: SyncPlan, sudoOn: boolean, deps: SyncUsersDeps): number {
  for (const a of plan.actions) deps.out(`would ${describeAction(a)}`);
  if (sudoOn) {
    deps.out(
      `would write ${deps.sudoers.path} for: ${plan.sudoUsers.map((u) => u.name).join(', ') || '(nobody)'}`,
    );
  }
  const planned = plan.actions.filter((a) => a.kind === 'renumber-user').length;
  if (planned > 0)
    deps.out(`sync-users --dry-run: would renumber ${planned} account${planned === 1 ? '' : 's'}`);
  return plan.refusedRemovals ? 1 : 0;
}

/** The sudoers drop-in after the accounts changed; removed when sudo is off. Throws on failure. */
async function updateSudoers(plan: SyncPlan, sudoOn: boolean, deps: SyncUsersDeps): Promise<void> {
  if (sudoOn) {
    // Only accounts that exist now, with the uid we planned: never sudo for a failed creation.
    const after = parsePasswd((await runChecked(deps.run, 'getent', ['passwd'])).stdout);
    const sudoUsers = existingSudoUsers(plan.sudoUsers, after);
    if (
      await installSudoers(deps.sudoers.path, renderSudoers(sudoUsers), { ...deps.sudoers, run: deps.run })
    ) {
      deps.out(`wrote ${deps.sudoers.path} (${sudoUsers.length} users)`);
    }
  } else if ((await deps.sudoers.readFile(deps.sudoers.path)) !== undefined) {
    await deps.sudoers.remove(deps.sudoers.path);
    deps.out(`removed ${deps.sudoers.path} (sudoGroups is empty)`);
  }
}

/** Plans from the index and the local accounts (getent), saying every problem and refused removal. */
async function planFor(
  index: Directory,
  freshness: Freshness,
  settings: SyncSettings,
  deps: SyncUsersDeps,
): Promise<SyncPlan> {
  const [pw, gr] = await Promise.all([
    runChecked(deps.run, 'getent', ['passwd']),
    runChecked(deps.run, 'getent', ['group']),
  ]);
  const plan = planSync(index, parsePasswd(pw.stdout), parseGroup(gr.stdout), settings, {
    freshness,
    allowMassRemoval: deps.allowMassRemoval,
  });
  for (const p of plan.problems) deps.err(`sync-users: ${p}`);
  if (plan.refusedRemovals) {
    deps.err(`sync-users: kept ${plan.refusedRemovals.users.join(', ')}: ${plan.refusedRemovals.reason}`);
  }
  return plan;
}

/**
 * sync-users end to end: read directory.json and heartbeat.json (via the store), read local
 * accounts (getent), plan, apply. Returns the exit code: 0 when everything
 * planned was done, 1 when something failed or removals were refused.
 */
export async function runSyncUsers(deps: SyncUsersDeps): Promise<number> {
  const { config, err, out } = deps;
  if (!config.syncUsers) {
    err('sync-users: the config has no "syncUsers" setting; nothing to do');
    return 1;
  }
  if (!config.iamUsers) {
    err('sync-users: the config has no "iamUsers" setting (it selects which IAM users get accounts)');
    return 1;
  }
  const read = await readDirectory(deps);
  if (!read) return 1;
  const freshness = read.source === 'stale' ? staleCache : await heartbeatFreshness(deps);
  const settings: SyncSettings = {
    ...config.syncUsers,
    allowGroups: config.iamUsers.allowGroups,
    renumber: config.syncUsers.renumber === true || deps.renumber === true,
  };
  const plan = await planFor(read.index, freshness, settings, deps);
  const sudoOn = settings.sudoGroups === ALL_USERS || settings.sudoGroups.length > 0;
  if (deps.dryRun) return showPlan(plan, sudoOn, deps);
  const res = await applySync(plan, { run: deps.run, shell: deps.shell, log: out });
  const failed = [...res.failed];
  try {
    await updateSudoers(plan, sudoOn, deps);
  } catch (e) {
    failed.push(`sudoers: ${errorMessage(e)}`);
  }
  for (const f of failed) err(`sync-users: FAILED ${f}`);
  out(
    `sync-users: ${res.done} changes, ${failed.length} failures, ${plan.problems.length} skipped, ${plan.refusedRemovals?.users.length ?? 0} removals refused, ${res.renumbered} renumbered`,
  );
  return failed.length > 0 || plan.refusedRemovals ? 1 : 0;
}

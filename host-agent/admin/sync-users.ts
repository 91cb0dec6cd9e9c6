// sync-users: keeps local accounts in line with the IAM users in index.json
// (like aws-ec2-ssh's import_users.sh, but it reads only the bucket, never IAM).
// planSync is pure; applySync runs the plan through an injected process runner.
import type { IndexUser, PublishedIndex } from '../../contract/index.js';
import { indexKey, isValidLocalName, parseIndex } from '../../contract/index.js';
import { indexAge } from '../index-age.js';
import { type ProcessRunner, runChecked } from './sys.js';

export const DEFAULT_MARKER_GROUP = 'iam-synced-users';
/** login.defs' usual UID_MIN: an index never gets to create accounts among system users. */
export const MIN_SYNC_UID = 1000;
/** The sudoers value granting sudo to every synced user (as in aws-ec2-ssh). */
export const ALL_USERS = '##ALL##';

export interface PasswdEntry {
  readonly name: string;
  readonly uid: number;
  readonly gid: number;
  readonly home: string;
  readonly shell: string;
}

export interface GroupEntry {
  readonly name: string;
  readonly gid: number;
  readonly members: readonly string[];
}

export interface SyncSettings {
  /** IAM groups whose members get accounts; empty: every IAM user. */
  readonly allowGroups: readonly string[];
  readonly markerGroup: string;
  readonly localGroups: readonly string[];
  readonly groupMap: Readonly<Record<string, string>>;
  readonly sudoGroups: readonly string[] | typeof ALL_USERS;
  readonly removeHome: boolean;
}

export interface Freshness {
  /** False when index.json is older than maxStaleSeconds or came from a stale cache. */
  readonly fresh: boolean;
  readonly reason?: string;
}

export type SyncAction =
  | { readonly kind: 'create-group'; readonly group: string }
  | {
      readonly kind: 'create-user';
      readonly user: string;
      readonly uid: number;
      readonly iamUser: string;
      readonly groups: readonly string[];
    }
  | { readonly kind: 'add-to-groups'; readonly user: string; readonly groups: readonly string[] }
  | { readonly kind: 'remove-from-group'; readonly user: string; readonly group: string }
  | { readonly kind: 'remove-user'; readonly user: string; readonly removeHome: boolean };

export interface SyncPlan {
  readonly actions: readonly SyncAction[];
  /** Accounts that should have sudo, by name; the sudoers drop-in names them by uid. */
  readonly sudoUsers: readonly SudoUser[];
  /** Per-user problems: the user is skipped, the rest of the sync goes on. */
  readonly problems: readonly string[];
  /** Managed accounts that would be removed but were kept, and why. */
  readonly refusedRemovals?: { readonly users: readonly string[]; readonly reason: string };
}

export interface PlanOptions {
  readonly freshness: Freshness;
  /** Lets a fresh index remove more than half the managed accounts (an operator's explicit choice). */
  readonly allowMassRemoval?: boolean;
}

function wantsAccount(user: IndexUser, allowGroups: readonly string[]): boolean {
  return allowGroups.length === 0 || user.groups.some((g) => allowGroups.includes(g));
}

export interface SudoUser {
  readonly name: string;
  readonly uid: number;
}

function wantsSudo(user: IndexUser, sudoGroups: SyncSettings['sudoGroups']): boolean {
  return sudoGroups === ALL_USERS || user.groups.some((g) => sudoGroups.includes(g));
}

const sorted = (xs: Iterable<string>) => [...new Set(xs)].sort();

/**
 * How many managed accounts one run may remove without --allow-mass-removal:
 * half of them, but at least 2, so a host with one or two IAM accounts can
 * still offboard them from cron.
 */
export function massRemovalLimit(managed: number): number {
  return Math.max(2, Math.floor(managed / 2));
}

/**
 * Computes what to change. Accounts outside the marker group are never
 * touched; deletions are refused when the index is not fresh or when they
 * would remove more than massRemovalLimit of the managed accounts (aws-ec2-ssh deleted
 * everyone when IAM throttled it).
 */
export function planSync(
  index: PublishedIndex,
  passwd: readonly PasswdEntry[],
  groups: readonly GroupEntry[],
  settings: SyncSettings,
  opts: PlanOptions,
): SyncPlan {
  const byName = new Map(passwd.map((p) => [p.name, p]));
  const byUid = new Map<number, PasswdEntry>();
  for (const p of passwd) if (!byUid.has(p.uid)) byUid.set(p.uid, p);
  const groupByName = new Map(groups.map((g) => [g.name, g]));
  const marker = groupByName.get(settings.markerGroup);
  const managed = new Set((marker?.members ?? []).filter((m) => byName.has(m)));
  const memberOf = (user: string, group: string, primaryGid?: number) => {
    const g = groupByName.get(group);
    return !!g && (g.members.includes(user) || g.gid === primaryGid);
  };
  const managedGroups = new Set([...settings.localGroups, ...Object.values(settings.groupMap)]);

  const problems: string[] = [];
  const groupActions: SyncAction[] = [];
  const userActions: SyncAction[] = [];
  const desired = new Set<string>();
  const sudoUsers: SudoUser[] = [];
  const groupsNeeded = new Set<string>();

  for (const iamUser of Object.keys(index.users).sort()) {
    const u = index.users[iamUser] as IndexUser;
    if (!wantsAccount(u, settings.allowGroups)) continue;
    const local = u.localName;
    if (local === null || !isValidLocalName(local)) {
      problems.push(`IAM user ${iamUser}: no usable local name (${u.localNameProblem ?? 'none published'})`);
      continue;
    }
    if (desired.has(local)) {
      problems.push(`IAM user ${iamUser}: local name ${local} is claimed twice; skipped`);
      continue;
    }
    desired.add(local);
    const want = sorted([
      settings.markerGroup,
      ...settings.localGroups,
      ...u.groups.flatMap((g) => (settings.groupMap[g] ? [settings.groupMap[g] as string] : [])),
    ]);
    const existing = byName.get(local);
    if (existing && !managed.has(local)) {
      problems.push(
        `local account ${local} (IAM user ${iamUser}) exists but is not in group ${settings.markerGroup}: left alone`,
      );
      continue;
    }
    if (existing) {
      if (existing.uid !== u.uid) {
        problems.push(
          `managed account ${local} has uid ${existing.uid}, index says ${u.uid}: uid left as is`,
        );
      }
      const add = want.filter((g) => !memberOf(local, g, existing.gid));
      if (add.length > 0) userActions.push({ kind: 'add-to-groups', user: local, groups: add });
      for (const g of sorted(managedGroups)) {
        if (!want.includes(g) && groupByName.get(g)?.members.includes(local)) {
          userActions.push({ kind: 'remove-from-group', user: local, group: g });
        }
      }
      for (const g of add) groupsNeeded.add(g);
    } else {
      if (u.uid < MIN_SYNC_UID) {
        problems.push(
          `IAM user ${iamUser}: uid ${u.uid} is in the system range (< ${MIN_SYNC_UID}); ${local} not created`,
        );
        desired.delete(local);
        continue;
      }
      const holder = byUid.get(u.uid);
      if (holder) {
        problems.push(
          `IAM user ${iamUser}: uid ${u.uid} is already used by local account ${holder.name}; ${local} not created`,
        );
        desired.delete(local);
        continue;
      }
      if (groupByName.has(local)) {
        problems.push(`IAM user ${iamUser}: a group named ${local} already exists; ${local} not created`);
        desired.delete(local);
        continue;
      }
      userActions.push({ kind: 'create-user', user: local, uid: u.uid, iamUser, groups: want });
      for (const g of want) groupsNeeded.add(g);
    }
    if (wantsSudo(u, settings.sudoGroups)) sudoUsers.push({ name: local, uid: existing?.uid ?? u.uid });
  }

  for (const g of sorted(groupsNeeded)) {
    if (!groupByName.has(g)) groupActions.push({ kind: 'create-group', group: g });
  }

  const toRemove = sorted([...managed].filter((m) => !desired.has(m)));
  let refusedRemovals: SyncPlan['refusedRemovals'];
  const removeActions: SyncAction[] = [];
  if (toRemove.length > 0) {
    if (!opts.freshness.fresh) {
      refusedRemovals = {
        users: toRemove,
        reason: `index.json is not fresh (${opts.freshness.reason ?? 'too old'}): no account is removed`,
      };
    } else if (toRemove.length > massRemovalLimit(managed.size) && !opts.allowMassRemoval) {
      refusedRemovals = {
        users: toRemove,
        reason: `would remove ${toRemove.length} of ${managed.size} managed accounts (more than ${massRemovalLimit(managed.size)}): refused; rerun with --allow-mass-removal if intended`,
      };
    } else {
      for (const user of toRemove)
        removeActions.push({ kind: 'remove-user', user, removeHome: settings.removeHome });
    }
  }

  return {
    actions: [...groupActions, ...userActions, ...removeActions],
    sudoUsers: [...sudoUsers].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)),
    problems,
    ...(refusedRemovals ? { refusedRemovals } : {}),
  };
}

/**
 * The sudoers drop-in, rewritten whole each run. Users are named by uid
 * (`#20001`), never by name: an IAM user called `ALL`, or one in capitals
 * (read as an alias), would otherwise grant sudo to far more than itself.
 */
export function renderSudoers(users: readonly SudoUser[]): string {
  const lines = users.map((u) => `#${u.uid} ALL=(ALL) NOPASSWD:ALL`);
  const names = users.length ? `# uids: ${users.map((u) => `${u.uid}=${u.name}`).join(' ')}\n` : '';
  return `# Managed by iam-authorized-keys sync-users: rewritten on every run.\n${names}${lines.join('\n')}${lines.length ? '\n' : ''}`;
}

/** Keeps the sudo users whose account really exists with that uid (creation may have failed). */
export function existingSudoUsers(users: readonly SudoUser[], passwd: readonly PasswdEntry[]): SudoUser[] {
  return users.filter((u) => passwd.some((p) => p.name === u.name && p.uid === u.uid));
}

export function parsePasswd(text: string): PasswdEntry[] {
  const out: PasswdEntry[] = [];
  for (const line of text.split('\n')) {
    const f = line.split(':');
    if (f.length < 7) continue;
    const uid = Number(f[2]);
    const gid = Number(f[3]);
    if (!Number.isInteger(uid) || !Number.isInteger(gid)) continue;
    out.push({ name: f[0] as string, uid, gid, home: f[5] as string, shell: f[6] as string });
  }
  return out;
}

export function parseGroup(text: string): GroupEntry[] {
  const out: GroupEntry[] = [];
  for (const line of text.split('\n')) {
    const f = line.split(':');
    if (f.length < 4) continue;
    const gid = Number(f[2]);
    if (!Number.isInteger(gid)) continue;
    out.push({ name: f[0] as string, gid, members: (f[3] as string).split(',').filter(Boolean) });
  }
  return out;
}

/** Describes an action for logs and --dry-run. */
export function describeAction(a: SyncAction): string {
  switch (a.kind) {
    case 'create-group':
      return `create group ${a.group}`;
    case 'create-user':
      return `create user ${a.user} (IAM ${a.iamUser}, uid ${a.uid}, groups ${a.groups.join(',')})`;
    case 'add-to-groups':
      return `add ${a.user} to ${a.groups.join(',')}`;
    case 'remove-from-group':
      return `remove ${a.user} from ${a.group}`;
    case 'remove-user':
      return `remove user ${a.user}${a.removeHome ? ' and its home' : ''}`;
  }
}

/** The command line for one action. */
export function actionCommand(a: SyncAction, shell: string): [string, string[]] {
  switch (a.kind) {
    case 'create-group':
      return ['groupadd', [a.group]];
    case 'create-user':
      // Password field '*': locked for passwords, but sshd (with UsePAM no)
      // refuses key logins to accounts whose field starts with '!'.
      return [
        'useradd',
        [
          '-m',
          '-u',
          String(a.uid),
          '-U',
          '-s',
          shell,
          '-p',
          '*',
          '-c',
          `IAM user ${a.iamUser}`,
          '-G',
          a.groups.join(','),
          a.user,
        ],
      ];
    case 'add-to-groups':
      return ['usermod', ['-a', '-G', a.groups.join(','), a.user]];
    case 'remove-from-group':
      return ['gpasswd', ['-d', a.user, a.group]];
    case 'remove-user':
      return ['userdel', a.removeHome ? ['-r', a.user] : [a.user]];
  }
}

export interface ApplyDeps {
  readonly run: ProcessRunner;
  readonly shell: string;
  readonly log: (line: string) => void;
}

export interface ApplyResult {
  readonly done: number;
  readonly failed: readonly string[];
}

/** Runs each action; a failure is reported and the next action still runs (they are independent per user). */
export async function applySync(plan: SyncPlan, deps: ApplyDeps): Promise<ApplyResult> {
  let done = 0;
  const failed: string[] = [];
  const failedGroups = new Set<string>();
  for (const a of plan.actions) {
    if (
      (a.kind === 'create-user' || a.kind === 'add-to-groups') &&
      a.groups.some((g) => failedGroups.has(g))
    ) {
      failed.push(`${describeAction(a)}: skipped, a group could not be created`);
      continue;
    }
    const [cmd, args] = actionCommand(a, deps.shell);
    try {
      await runChecked(deps.run, cmd, args);
      done++;
      deps.log(describeAction(a));
    } catch (e) {
      if (a.kind === 'create-group') failedGroups.add(a.group);
      failed.push(`${describeAction(a)}: ${(e as Error).message}`);
    }
  }
  return { done, failed };
}

export class SudoersInvalidError extends Error {
  override name = 'SudoersInvalidError';
}

export interface SudoersDeps {
  readonly run: ProcessRunner;
  readonly visudo: string;
  readonly readFile: (path: string) => Promise<string | undefined>;
  readonly writeTemp: (path: string, content: string) => Promise<void>;
  readonly rename: (from: string, to: string) => Promise<void>;
  readonly remove: (path: string) => Promise<void>;
}

/**
 * Installs the sudoers drop-in: written to a temp name sudo ignores (it holds
 * a '.'), checked with `visudo -cf`, then renamed into place, mode 0440. A
 * file that fails the check never reaches its final name (a broken sudoers
 * drop-in disables sudo for everyone). Returns whether the file changed.
 */
export async function installSudoers(path: string, content: string, deps: SudoersDeps): Promise<boolean> {
  if ((await deps.readFile(path)) === content) return false;
  const tmp = `${path}.iam-tmp`;
  await deps.writeTemp(tmp, content);
  const check = await deps.run(deps.visudo, ['-cf', tmp]);
  if (check.code !== 0) {
    await deps.remove(tmp);
    throw new SudoersInvalidError(
      `visudo rejected the sudoers drop-in, not installed: ${(check.stderr || check.stdout).trim()}`,
    );
  }
  await deps.rename(tmp, path);
  return true;
}

export const DEFAULT_SUDOERS_PATH = '/etc/sudoers.d/iam-synced-users';

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
}

/**
 * sync-users end to end: read index.json (via the store), read local
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
  const key = indexKey(config.prefix);
  let index: PublishedIndex;
  let source: string;
  try {
    const r = await deps.store.read(key);
    if (!r.found) {
      err(`sync-users: ${key} not found in the bucket; nothing changed`);
      return 1;
    }
    index = parseIndex(r.body.toString('utf8'));
    source = r.source;
  } catch (e) {
    err(`sync-users: cannot read ${key}: ${(e as Error).message}; nothing changed`);
    return 1;
  }
  const age = indexAge(index.generatedAt, deps.now(), config.cache.maxStaleSeconds);
  const freshness: Freshness =
    source === 'stale'
      ? { fresh: false, reason: 'S3 is unreachable, read from the stale cache' }
      : age.stale
        ? {
            fresh: false,
            reason: `generated ${age.ageSeconds}s ago, more than the ${age.limitSeconds}s limit`,
          }
        : age.future
          ? { fresh: false, reason: `generated ${-age.ageSeconds}s in the future (clock skew?)` }
          : { fresh: true };

  const [pw, gr] = await Promise.all([
    runChecked(deps.run, 'getent', ['passwd']),
    runChecked(deps.run, 'getent', ['group']),
  ]);
  const settings: SyncSettings = { ...config.syncUsers, allowGroups: config.iamUsers.allowGroups };
  const plan = planSync(index, parsePasswd(pw.stdout), parseGroup(gr.stdout), settings, {
    freshness,
    allowMassRemoval: deps.allowMassRemoval,
  });
  for (const p of plan.problems) err(`sync-users: ${p}`);
  if (plan.refusedRemovals) {
    err(`sync-users: kept ${plan.refusedRemovals.users.join(', ')}: ${plan.refusedRemovals.reason}`);
  }
  const sudoOn = settings.sudoGroups === ALL_USERS || settings.sudoGroups.length > 0;
  if (deps.dryRun) {
    for (const a of plan.actions) out(`would ${describeAction(a)}`);
    if (sudoOn) {
      out(
        `would write ${deps.sudoers.path} for: ${plan.sudoUsers.map((u) => u.name).join(', ') || '(nobody)'}`,
      );
    }
    return plan.refusedRemovals ? 1 : 0;
  }
  const res = await applySync(plan, { run: deps.run, shell: deps.shell, log: out });
  const failed = [...res.failed];
  try {
    if (sudoOn) {
      // Only accounts that exist now, with the uid we planned: never sudo for a failed creation.
      const after = parsePasswd((await runChecked(deps.run, 'getent', ['passwd'])).stdout);
      const sudoUsers = existingSudoUsers(plan.sudoUsers, after);
      if (
        await installSudoers(deps.sudoers.path, renderSudoers(sudoUsers), { ...deps.sudoers, run: deps.run })
      ) {
        out(`wrote ${deps.sudoers.path} (${sudoUsers.length} users)`);
      }
    } else if ((await deps.sudoers.readFile(deps.sudoers.path)) !== undefined) {
      await deps.sudoers.remove(deps.sudoers.path);
      out(`removed ${deps.sudoers.path} (sudoGroups is empty)`);
    }
  } catch (e) {
    failed.push(`sudoers: ${(e as Error).message}`);
  }
  for (const f of failed) err(`sync-users: FAILED ${f}`);
  out(
    `sync-users: ${res.done} changes, ${failed.length} failures, ${plan.problems.length} skipped, ${plan.refusedRemovals?.users.length ?? 0} removals refused`,
  );
  return failed.length > 0 || plan.refusedRemovals ? 1 : 0;
}

// sync-users: keeps local accounts in line with the IAM users in index.json
// (like aws-ec2-ssh's import_users.sh, but it reads only the bucket, never IAM).
// This is its plan: pure, from the index and getent's passwd and group output.
import type { Directory, DirectoryUser } from '../../../contract/index.js';
import { isValidLocalName } from '../../../contract/index.js';
import type { PasswdEntry } from '../../passwd.js';
import { isPrivilegedName } from './privileged.js';
import { MIN_SYNC_UID, planRenumber, type RenumberAction } from './renumber.js';

export { MIN_SYNC_UID };
export const DEFAULT_MARKER_GROUP = 'iam-synced-users';
/** The sudoers value granting sudo to every synced user (as in aws-ec2-ssh). */
export const ALL_USERS = '##ALL##';

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
  /** Gives managed accounts whose uid is not the published one that uid (renumber.ts). */
  readonly renumber?: boolean;
}

export interface Freshness {
  /** False when heartbeat.json is older than maxStaleSeconds, or the directory came from a stale cache. */
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
  | {
      /** The IAM user was renamed (same user id, so same uid): the account follows, home and files included. */
      readonly kind: 'rename-user';
      readonly user: string;
      readonly newName: string;
      readonly uid: number;
      readonly iamUser: string;
      /** The new home when the old one was named after the account (moved there); absent: left where it is. */
      readonly home?: string;
    }
  | {
      /** The renamed account's primary group, created with its name (useradd -U). */
      readonly kind: 'rename-group';
      readonly group: string;
      readonly newName: string;
      /** The account it belongs to, by its new name. */
      readonly user: string;
    }
  | { readonly kind: 'add-to-groups'; readonly user: string; readonly groups: readonly string[] }
  | { readonly kind: 'remove-from-group'; readonly user: string; readonly group: string }
  | { readonly kind: 'remove-user'; readonly user: string; readonly removeHome: boolean }
  | RenumberAction;

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

function wantsAccount(user: DirectoryUser, allowGroups: readonly string[]): boolean {
  return allowGroups.length === 0 || user.groups.some((g) => allowGroups.includes(g));
}

export interface SudoUser {
  readonly name: string;
  readonly uid: number;
  /** The uid before this run's renumbering: the line names it if the renumbering failed. */
  readonly previousUid?: number;
}

function wantsSudo(user: DirectoryUser, sudoGroups: SyncSettings['sudoGroups']): boolean {
  return sudoGroups === ALL_USERS || user.groups.some((g) => sudoGroups.includes(g));
}

const sorted = (xs: Iterable<string>) => [...new Set(xs)].sort();

/**
 * The local group the operator mapped an IAM group to. Own properties only: an
 * IAM group named `constructor` or `__proto__` maps to nothing, not to what
 * Object.prototype holds under that name.
 */
export function mappedGroup(groupMap: SyncSettings['groupMap'], iamGroup: string): string | undefined {
  return Object.hasOwn(groupMap, iamGroup) ? groupMap[iamGroup] : undefined;
}

/**
 * How many managed accounts one run may remove without --allow-mass-removal:
 * half of them, but at least 2, so a host with one or two IAM accounts can
 * still offboard them from cron.
 */
export function massRemovalLimit(managed: number): number {
  return Math.max(2, Math.floor(managed / 2));
}

/** An IAM user that should have an account, by its local name. */
type Entry = { readonly iamUser: string; readonly u: DirectoryUser; readonly local: string };

interface Rename {
  readonly from: PasswdEntry;
  readonly to: string;
  readonly home: string;
  /** The primary group to rename along (named after the account, its gid), if any. */
  readonly group?: string;
  readonly actions: readonly SyncAction[];
}

/**
 * Renamed IAM users: a managed account that holds the uid an IAM user now has
 * under another local name is that person's account (uids are per IAM user
 * id and never reused), so it is renamed (home and primary group along)
 * rather than removed while a new one is created. Not when an account or a
 * group already has the new name: then it is reported and left as is.
 */
function planRenames(
  entries: readonly Entry[],
  passwd: readonly PasswdEntry[],
  groups: readonly GroupEntry[],
  markerGroup: string,
): { renames: Rename[]; blocked: Map<string, string> } {
  const names = new Set(passwd.map((p) => p.name));
  const byUid = new Map<number, PasswdEntry>();
  for (const p of passwd) if (!byUid.has(p.uid)) byUid.set(p.uid, p);
  const groupByName = new Map(groups.map((g) => [g.name, g]));
  const managed = new Set(groupByName.get(markerGroup)?.members ?? []);
  const renames: Rename[] = [];
  const blocked = new Map<string, string>();
  const taken = new Set<string>();
  for (const { iamUser, u, local } of entries) {
    const from = byUid.get(u.uid);
    if (names.has(local) || u.uid < MIN_SYNC_UID || !from || from.name === local) continue;
    if (!managed.has(from.name) || taken.has(from.name)) continue;
    if (groupByName.has(local)) {
      blocked.set(
        iamUser,
        `IAM user ${iamUser}: managed account ${from.name} has its uid ${u.uid} (renamed in IAM), but a group named ${local} already exists; not renamed`,
      );
      continue;
    }
    taken.add(from.name);
    const slash = from.home.lastIndexOf('/');
    const movesHome = slash >= 0 && from.home.slice(slash + 1) === from.name;
    const home = movesHome ? `${from.home.slice(0, slash)}/${local}` : from.home;
    const primary = groupByName.get(from.name);
    const group = primary && primary.gid === from.gid ? from.name : undefined;
    renames.push({
      from,
      to: local,
      home,
      ...(group ? { group } : {}),
      actions: [
        {
          kind: 'rename-user',
          user: from.name,
          newName: local,
          uid: u.uid,
          iamUser,
          ...(movesHome ? { home } : {}),
        },
        ...(group ? [{ kind: 'rename-group' as const, group, newName: local, user: local }] : []),
      ],
    });
  }
  return { renames, blocked };
}

/** Accounts and groups as they will be after the renames (usermod -l renames the user in member lists too). */
function applyRenames(
  renames: readonly Rename[],
  passwd: readonly PasswdEntry[],
  groups: readonly GroupEntry[],
): { passwd: PasswdEntry[]; groups: GroupEntry[] } {
  const users = new Map(renames.map((r) => [r.from.name, r]));
  const groupNames = new Map(renames.flatMap((r) => (r.group ? [[r.group, r.to] as const] : [])));
  return {
    passwd: passwd.map((p) => {
      const r = users.get(p.name);
      return r ? { ...p, name: r.to, home: r.home } : p;
    }),
    groups: groups.map((g) => ({
      ...g,
      name: groupNames.get(g.name) ?? g.name,
      members: g.members.map((m) => users.get(m)?.to ?? m),
    })),
  };
}

/**
 * The IAM users that should have an account, by local name: allowed, with a
 * usable local name claimed once, and not a privileged name (those are
 * returned apart: never created, and an account of that name is never removed).
 */
function selectEntries(
  index: Directory,
  allowGroups: readonly string[],
  problems: string[],
): { entries: Entry[]; privileged: Set<string> } {
  const entries: Entry[] = [];
  const claimed = new Set<string>();
  const privileged = new Set<string>();
  for (const [iamUser, u] of [...index.users].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    if (!wantsAccount(u, allowGroups)) continue;
    const local = u.localName;
    if (local === null || !isValidLocalName(local)) {
      problems.push(`IAM user ${iamUser}: no usable local name (${u.localNameProblem ?? 'none published'})`);
      continue;
    }
    if (claimed.has(local)) {
      problems.push(`IAM user ${iamUser}: local name ${local} is claimed twice; skipped`);
      continue;
    }
    claimed.add(local);
    // Its private group would carry the name's privilege (useradd -U; a package adopts the group later).
    if (isPrivilegedName(local)) {
      privileged.add(local);
      problems.push(
        `IAM user ${iamUser}: local name ${local} is a privileged user or group name on common distributions; not created, not renamed, not removed`,
      );
      continue;
    }
    entries.push({ iamUser, u, local });
  }
  return { entries, privileged };
}

/** Accounts and groups as planSync sees them once the renames are done, indexed. */
interface View {
  readonly passwd: readonly PasswdEntry[];
  readonly groups: readonly GroupEntry[];
  readonly byName: ReadonlyMap<string, PasswdEntry>;
  /** The first account holding each uid. */
  readonly byUid: ReadonlyMap<number, PasswdEntry>;
  readonly groupByName: ReadonlyMap<string, GroupEntry>;
  /** Members of the marker group that exist: the accounts sync-users may change or remove. */
  readonly managed: ReadonlySet<string>;
}

function viewAfter(
  renames: readonly Rename[],
  passwd: readonly PasswdEntry[],
  groups: readonly GroupEntry[],
  markerGroup: string,
): View {
  const view = applyRenames(renames, passwd, groups);
  const byName = new Map(view.passwd.map((p) => [p.name, p]));
  const byUid = new Map<number, PasswdEntry>();
  for (const p of view.passwd) if (!byUid.has(p.uid)) byUid.set(p.uid, p);
  const groupByName = new Map(view.groups.map((g) => [g.name, g]));
  const managed = new Set((groupByName.get(markerGroup)?.members ?? []).filter((m) => byName.has(m)));
  return { ...view, byName, byUid, groupByName, managed };
}

/** What the account phases read (settings, the view) and fill in (problems, actions, claims). */
interface PlanContext {
  readonly settings: SyncSettings;
  readonly view: View;
  /** Why a rename was not done, by IAM user: said instead of "uid already used". */
  readonly blockedRenames: ReadonlyMap<string, string>;
  readonly publishedUids: ReadonlySet<number>;
  /** Local groups sync-users adds accounts to (and so may remove them from). */
  readonly managedGroups: ReadonlySet<string>;
  readonly problems: string[];
  readonly userActions: SyncAction[];
  readonly desired: Set<string>;
  readonly sudoUsers: SudoUser[];
  readonly groupsNeeded: Set<string>;
  /** uids this run gives accounts (creations and renumberings). */
  readonly claimedUids: Set<number>;
}

/**
 * A managed account that exists: its uid (renumbered with --renumber, else
 * reported) and its group memberships. Returns the uid before a renumbering.
 */
function planExisting(
  { iamUser, u, local }: Entry,
  existing: PasswdEntry,
  want: readonly string[],
  c: PlanContext,
): number | undefined {
  let previousUid: number | undefined;
  if (existing.uid !== u.uid && !c.settings.renumber) {
    c.problems.push(
      `managed account ${local} has uid ${existing.uid}, index says ${u.uid}: uid left as is (sync-users --renumber changes it)`,
    );
  } else if (existing.uid !== u.uid) {
    const r = planRenumber({
      account: existing,
      iamUser,
      target: u.uid,
      passwd: c.view.passwd,
      groups: c.view.groups,
      claimedUids: c.claimedUids,
      publishedUids: c.publishedUids,
    });
    if ('problem' in r) c.problems.push(r.problem);
    else {
      c.userActions.push(...r.actions);
      c.claimedUids.add(u.uid);
      previousUid = existing.uid;
    }
  }
  const memberOf = (group: string) => {
    const g = c.view.groupByName.get(group);
    return !!g && (g.members.includes(local) || g.gid === existing.gid);
  };
  const add = want.filter((g) => !memberOf(g));
  if (add.length > 0) c.userActions.push({ kind: 'add-to-groups', user: local, groups: add });
  for (const g of sorted(c.managedGroups)) {
    if (!want.includes(g) && c.view.groupByName.get(g)?.members.includes(local)) {
      c.userActions.push({ kind: 'remove-from-group', user: local, group: g });
    }
  }
  for (const g of add) c.groupsNeeded.add(g);
  return previousUid;
}

/** A new account, unless its uid is a system one or taken, or a group has its name. Returns whether it is created. */
function planCreate({ iamUser, u, local }: Entry, want: readonly string[], c: PlanContext): boolean {
  if (u.uid < MIN_SYNC_UID) {
    c.problems.push(
      `IAM user ${iamUser}: uid ${u.uid} is in the system range (< ${MIN_SYNC_UID}); ${local} not created`,
    );
    return false;
  }
  const holder = c.view.byUid.get(u.uid);
  if (holder || c.claimedUids.has(u.uid)) {
    const by = holder
      ? `is already used by local account ${holder.name}`
      : 'goes to another account in this run';
    c.problems.push(
      c.blockedRenames.get(iamUser) ?? `IAM user ${iamUser}: uid ${u.uid} ${by}; ${local} not created`,
    );
    return false;
  }
  if (c.view.groupByName.has(local)) {
    c.problems.push(`IAM user ${iamUser}: a group named ${local} already exists; ${local} not created`);
    return false;
  }
  c.userActions.push({ kind: 'create-user', user: local, uid: u.uid, iamUser, groups: want });
  c.claimedUids.add(u.uid);
  for (const g of want) c.groupsNeeded.add(g);
  return true;
}

/** Each wanted account: left alone (not managed), updated, or created; and its sudo line. */
function planAccounts(entries: readonly Entry[], c: PlanContext): void {
  const { settings } = c;
  for (const entry of entries) {
    const { iamUser, u, local } = entry;
    c.desired.add(local);
    const want = sorted([
      settings.markerGroup,
      ...settings.localGroups,
      ...u.groups.flatMap((g) => mappedGroup(settings.groupMap, g) ?? []),
    ]);
    const existing = c.view.byName.get(local);
    if (existing && !c.view.managed.has(local)) {
      c.problems.push(
        `local account ${local} (IAM user ${iamUser}) exists but is not in group ${settings.markerGroup}: left alone`,
      );
      continue;
    }
    let previousUid: number | undefined;
    if (existing) previousUid = planExisting(entry, existing, want, c);
    else if (!planCreate(entry, want, c)) {
      c.desired.delete(local);
      continue;
    }
    if (wantsSudo(u, settings.sudoGroups)) {
      const uid = previousUid !== undefined ? u.uid : (existing?.uid ?? u.uid);
      c.sudoUsers.push({ name: local, uid, ...(previousUid !== undefined ? { previousUid } : {}) });
    }
  }
}

/**
 * Managed accounts no IAM user wants any more: removed, unless the index is
 * not fresh or they are more than massRemovalLimit (then refused, with why).
 */
function planRemovals(
  entries: readonly Entry[],
  privileged: ReadonlySet<string>,
  c: PlanContext,
  opts: PlanOptions,
): { actions: SyncAction[]; refused?: SyncPlan['refusedRemovals'] } {
  const { managed, byName } = c.view;
  // An account holding the uid of an IAM user that should have one is that person's: never removed
  // (e.g. a rename that could not be done yet).
  const heldUids = new Set(entries.map((e) => e.u.uid));
  const toRemove = sorted(
    [...managed].filter(
      (m) => !c.desired.has(m) && !privileged.has(m) && !heldUids.has(byName.get(m)?.uid ?? -1),
    ),
  );
  if (toRemove.length === 0) return { actions: [] };
  if (!opts.freshness.fresh) {
    const reason = `directory.json is not fresh (${opts.freshness.reason ?? 'too old'}): no account is removed`;
    return { actions: [], refused: { users: toRemove, reason } };
  }
  if (toRemove.length > massRemovalLimit(managed.size) && !opts.allowMassRemoval) {
    const reason = `would remove ${toRemove.length} of ${managed.size} managed accounts (more than ${massRemovalLimit(managed.size)}): refused; rerun with --allow-mass-removal if intended`;
    return { actions: [], refused: { users: toRemove, reason } };
  }
  const removeHome = c.settings.removeHome;
  return { actions: toRemove.map((user) => ({ kind: 'remove-user', user, removeHome })) };
}

/**
 * Computes what to change. Accounts outside the marker group are never
 * touched; deletions are refused when the index is not fresh or when they
 * would remove more than massRemovalLimit of the managed accounts (aws-ec2-ssh deleted
 * everyone when IAM throttled it).
 */
export function planSync(
  index: Directory,
  passwd: readonly PasswdEntry[],
  groups: readonly GroupEntry[],
  settings: SyncSettings,
  opts: PlanOptions,
): SyncPlan {
  const problems: string[] = [];
  const { entries, privileged } = selectEntries(index, settings.allowGroups, problems);
  const renamed = planRenames(entries, passwd, groups, settings.markerGroup);
  const c: PlanContext = {
    settings,
    // From here on, accounts and groups as they will be once the renames are done.
    view: viewAfter(renamed.renames, passwd, groups, settings.markerGroup),
    blockedRenames: renamed.blocked,
    publishedUids: new Set([...index.reservedUids, ...[...index.users.values()].map((x) => x.uid)]),
    managedGroups: new Set([...settings.localGroups, ...Object.values(settings.groupMap)]),
    problems,
    userActions: renamed.renames.flatMap((r) => r.actions),
    desired: new Set(),
    sudoUsers: [],
    groupsNeeded: new Set(),
    claimedUids: new Set(),
  };
  planAccounts(entries, c);
  const groupActions: SyncAction[] = sorted(c.groupsNeeded)
    .filter((g) => !c.view.groupByName.has(g))
    .map((group) => ({ kind: 'create-group', group }));
  const removals = planRemovals(entries, privileged, c, opts);
  return {
    actions: [...groupActions, ...c.userActions, ...removals.actions],
    sudoUsers: [...c.sudoUsers].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)),
    problems,
    ...(removals.refused ? { refusedRemovals: removals.refused } : {}),
  };
}

/** Reads `getent group` output, skipping lines that do not parse. */
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

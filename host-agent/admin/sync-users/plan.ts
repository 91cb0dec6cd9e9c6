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
  entries: readonly { iamUser: string; u: DirectoryUser; local: string }[],
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
): { entries: { iamUser: string; u: DirectoryUser; local: string }[]; privileged: Set<string> } {
  const entries: { iamUser: string; u: DirectoryUser; local: string }[] = [];
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

  const publishedUids = new Set<number>([
    ...index.reservedUids,
    ...[...index.users.values()].map((x) => x.uid),
  ]);
  const renamed = planRenames(entries, passwd, groups, settings.markerGroup);
  // From here on, accounts and groups as they will be once the renames are done.
  const view = applyRenames(renamed.renames, passwd, groups);
  const byName = new Map(view.passwd.map((p) => [p.name, p]));
  const byUid = new Map<number, PasswdEntry>();
  for (const p of view.passwd) if (!byUid.has(p.uid)) byUid.set(p.uid, p);
  const groupByName = new Map(view.groups.map((g) => [g.name, g]));
  const marker = groupByName.get(settings.markerGroup);
  const managed = new Set((marker?.members ?? []).filter((m) => byName.has(m)));
  const memberOf = (user: string, group: string, primaryGid?: number) => {
    const g = groupByName.get(group);
    return !!g && (g.members.includes(user) || g.gid === primaryGid);
  };
  const managedGroups = new Set([...settings.localGroups, ...Object.values(settings.groupMap)]);

  const groupActions: SyncAction[] = [];
  const userActions: SyncAction[] = renamed.renames.flatMap((r) => r.actions);
  const desired = new Set<string>();
  const sudoUsers: SudoUser[] = [];
  const groupsNeeded = new Set<string>();
  /** uids this run gives accounts (creations and renumberings). */
  const claimedUids = new Set<number>();

  for (const { iamUser, u, local } of entries) {
    desired.add(local);
    const want = sorted([
      settings.markerGroup,
      ...settings.localGroups,
      ...u.groups.flatMap((g) => mappedGroup(settings.groupMap, g) ?? []),
    ]);
    const existing = byName.get(local);
    if (existing && !managed.has(local)) {
      problems.push(
        `local account ${local} (IAM user ${iamUser}) exists but is not in group ${settings.markerGroup}: left alone`,
      );
      continue;
    }
    let previousUid: number | undefined;
    if (existing) {
      if (existing.uid !== u.uid && !settings.renumber) {
        problems.push(
          `managed account ${local} has uid ${existing.uid}, index says ${u.uid}: uid left as is (sync-users --renumber changes it)`,
        );
      } else if (existing.uid !== u.uid) {
        const r = planRenumber({
          account: existing,
          iamUser,
          target: u.uid,
          passwd: view.passwd,
          groups: view.groups,
          claimedUids,
          publishedUids,
        });
        if ('problem' in r) problems.push(r.problem);
        else {
          userActions.push(...r.actions);
          claimedUids.add(u.uid);
          previousUid = existing.uid;
        }
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
      if (holder || claimedUids.has(u.uid)) {
        const by = holder
          ? `is already used by local account ${holder.name}`
          : 'goes to another account in this run';
        problems.push(
          renamed.blocked.get(iamUser) ?? `IAM user ${iamUser}: uid ${u.uid} ${by}; ${local} not created`,
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
      claimedUids.add(u.uid);
      for (const g of want) groupsNeeded.add(g);
    }
    if (wantsSudo(u, settings.sudoGroups)) {
      const uid = previousUid !== undefined ? u.uid : (existing?.uid ?? u.uid);
      sudoUsers.push({ name: local, uid, ...(previousUid !== undefined ? { previousUid } : {}) });
    }
  }

  for (const g of sorted(groupsNeeded)) {
    if (!groupByName.has(g)) groupActions.push({ kind: 'create-group', group: g });
  }

  // An account holding the uid of an IAM user that should have one is that person's: never removed
  // (e.g. a rename that could not be done yet).
  const heldUids = new Set(entries.map((e) => e.u.uid));
  const toRemove = sorted(
    [...managed].filter(
      (m) => !desired.has(m) && !privileged.has(m) && !heldUids.has(byName.get(m)?.uid ?? -1),
    ),
  );
  let refusedRemovals: SyncPlan['refusedRemovals'];
  const removeActions: SyncAction[] = [];
  if (toRemove.length > 0) {
    if (!opts.freshness.fresh) {
      refusedRemovals = {
        users: toRemove,
        reason: `directory.json is not fresh (${opts.freshness.reason ?? 'too old'}): no account is removed`,
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

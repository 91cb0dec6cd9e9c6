// sync-users' executor: runs each planned action (groupadd, useradd, usermod,
// groupmod, gpasswd, userdel, chown) through an injected process runner.

import { errorMessage } from '../../../contract/errors.js';
import { type ProcessRunner, runChecked } from '../sys.js';
import type { SyncAction, SyncPlan } from './plan.js';

/** Describes an action for logs and --dry-run. */
export function describeAction(a: SyncAction): string {
  switch (a.kind) {
    case 'create-group':
      return `create group ${a.group}`;
    case 'create-user':
      return `create user ${a.user} (IAM ${a.iamUser}, uid ${a.uid}, groups ${a.groups.join(',')})`;
    case 'rename-user':
      return `rename user ${a.user} to ${a.newName} (IAM ${a.iamUser} renamed, uid ${a.uid}${a.home ? `, home to ${a.home}` : ''})`;
    case 'rename-group':
      return `rename group ${a.group} to ${a.newName}`;
    case 'add-to-groups':
      return `add ${a.user} to ${a.groups.join(',')}`;
    case 'remove-from-group':
      return `remove ${a.user} from ${a.group}`;
    case 'remove-user':
      return `remove user ${a.user}${a.removeHome ? ' and its home' : ''}`;
    case 'renumber-user':
      return `renumber user ${a.user} from uid ${a.fromUid} to ${a.toUid} (IAM ${a.iamUser}; files outside ${a.home} keep uid ${a.fromUid}${a.groupKept ? `; group keeps its gid: ${a.groupKept}` : ''})`;
    case 'renumber-group':
      return `renumber group ${a.group} from gid ${a.fromGid} to ${a.toGid}`;
    case 'regroup-home':
      return `give files of gid ${a.fromGid} in ${a.home} gid ${a.toGid}`;
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
    case 'rename-user':
      return [
        'usermod',
        ['-l', a.newName, ...(a.home ? ['-d', a.home, '-m'] : []), '-c', `IAM user ${a.iamUser}`, a.user],
      ];
    case 'rename-group':
      return ['groupmod', ['-n', a.newName, a.group]];
    case 'add-to-groups':
      return ['usermod', ['-a', '-G', a.groups.join(','), a.user]];
    case 'remove-from-group':
      return ['gpasswd', ['-d', a.user, a.group]];
    case 'remove-user':
      return ['userdel', a.removeHome ? ['-r', a.user] : [a.user]];
    case 'renumber-user':
      return ['usermod', ['-u', String(a.toUid), a.user]];
    case 'renumber-group':
      return ['groupmod', ['-g', String(a.toGid), a.group]];
    case 'regroup-home':
      // Only files of the old gid; -R without -L never follows a symlink, -h changes the link itself.
      return ['chown', ['-R', '-h', `--from=:${a.fromGid}`, `:${a.toGid}`, '--', a.home]];
  }
}

export interface ApplyDeps {
  readonly run: ProcessRunner;
  readonly shell: string;
  readonly log: (line: string) => void;
}

export interface ApplyResult {
  readonly done: number;
  /** Accounts given their published uid. */
  readonly renumbered: number;
  readonly failed: readonly string[];
}

/**
 * Runs each action; a failure is reported and the next action still runs (they
 * are independent per user), except what depends on it: a user whose group
 * could not be created, everything after a failed rename that needs the
 * new name (or the old name free), and the group steps of a renumbering whose
 * usermod failed (e.g. the user has processes: the next run tries again).
 */
export async function applySync(plan: SyncPlan, deps: ApplyDeps): Promise<ApplyResult> {
  let done = 0;
  const failed: string[] = [];
  const failedGroups = new Set<string>();
  /** New and old names of renames that failed. */
  const failedRenames = new Set<string>();
  /** Accounts whose renumbering (or its group step) failed. */
  const failedRenumbers = new Set<string>();
  let renumbered = 0;
  for (const a of plan.actions) {
    if (
      (a.kind === 'create-user' || a.kind === 'add-to-groups') &&
      a.groups.some((g) => failedGroups.has(g))
    ) {
      failed.push(`${describeAction(a)}: skipped, a group could not be created`);
      continue;
    }
    if (a.kind !== 'create-group' && a.kind !== 'rename-user' && failedRenames.has(a.user)) {
      failed.push(`${describeAction(a)}: skipped, the rename of that account failed`);
      continue;
    }
    if ((a.kind === 'renumber-group' || a.kind === 'regroup-home') && failedRenumbers.has(a.user)) {
      failed.push(`${describeAction(a)}: skipped, a previous step of that renumbering failed`);
      continue;
    }
    const [cmd, args] = actionCommand(a, deps.shell);
    try {
      await runChecked(deps.run, cmd, args);
      done++;
      if (a.kind === 'renumber-user') renumbered++;
      deps.log(describeAction(a));
    } catch (e) {
      if (a.kind === 'renumber-user' || a.kind === 'renumber-group') failedRenumbers.add(a.user);
      if (a.kind === 'create-group') failedGroups.add(a.group);
      if (a.kind === 'rename-user') {
        failedRenames.add(a.user);
        failedRenames.add(a.newName);
      }
      const next = a.kind === 'renumber-user' ? '; the next run tries again' : '';
      failed.push(`${describeAction(a)}: ${errorMessage(e)}${next}`);
    }
  }
  return { done, renumbered, failed };
}

// sync-users' executor: runs each planned action (groupadd, useradd, usermod,
// gpasswd, userdel) through an injected process runner.
import { type ProcessRunner, runChecked } from '../sys.js';
import type { SyncAction, SyncPlan } from './plan.js';

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

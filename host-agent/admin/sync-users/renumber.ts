// sync-users' renumbering (opt-in: syncUsers.renumber or --renumber): a managed
// account whose uid is not the one published for its IAM user (aws-ec2-ssh's
// accounts got whatever useradd picked) is given that uid, so the iamUsers
// login path serves it. Pure, like plan.ts; every refusal is per account.

/** login.defs' usual UID_MIN: an index never creates or renumbers accounts among system users. */
export const MIN_SYNC_UID = 1000;

interface Account {
  readonly name: string;
  readonly uid: number;
  readonly gid: number;
  readonly home: string;
}

interface Group {
  readonly name: string;
  readonly gid: number;
  readonly members: readonly string[];
}

export type RenumberAction =
  | {
      /** usermod -u: it re-owns the files in the home and the mail spool, nothing else. */
      readonly kind: 'renumber-user';
      readonly user: string;
      readonly iamUser: string;
      readonly fromUid: number;
      readonly toUid: number;
      readonly home: string;
      /** Why the private group keeps its gid, when it does. */
      readonly groupKept?: string;
    }
  | {
      /** groupmod -g of the private group (useradd --user-group); passwd's primary gid follows. */
      readonly kind: 'renumber-group';
      readonly group: string;
      readonly user: string;
      readonly fromGid: number;
      readonly toGid: number;
    }
  | {
      /** The home's files of the old gid get the new one (groupmod does not touch files). */
      readonly kind: 'regroup-home';
      readonly user: string;
      readonly home: string;
      readonly fromGid: number;
      readonly toGid: number;
    };

export type RenumberPlan = { readonly actions: readonly RenumberAction[] } | { readonly problem: string };

export interface RenumberInput {
  readonly account: Account;
  readonly iamUser: string;
  /** The uid published for the IAM user. */
  readonly target: number;
  /** Every local account and group, as they will be after this run's renames. */
  readonly passwd: readonly Account[];
  readonly groups: readonly Group[];
  /** uids this run already gives other accounts (creations, earlier renumberings). */
  readonly claimedUids: ReadonlySet<number>;
  /** Every uid index.json ever published (current users, deleted ones, retired): a person's, never renumbered. */
  readonly publishedUids: ReadonlySet<number>;
}

/** A home of its own: absolute, named after the account (so a recursive re-group never walks a shared tree). */
export function isOwnHome(home: string, user: string): boolean {
  return /^\/([^/\0]+\/)*[^/\0]+$/.test(home) && home.slice(home.lastIndexOf('/') + 1) === user;
}

/**
 * Why the account's primary group cannot take the new number, or undefined.
 * useradd --user-group's private group: named after the account, its primary
 * group, nobody else's. Its gid is often not the uid (users and groups are
 * numbered apart), so that is not required.
 */
function privateGroupProblem(i: RenumberInput): string | undefined {
  const { account: a, target } = i;
  const primary = i.groups.find((g) => g.name === a.name && g.gid === a.gid);
  if (!primary) return `primary gid ${a.gid} is not a group named ${a.name}`;
  if (
    primary.members.some((m) => m !== a.name) ||
    i.passwd.some((p) => p.gid === a.gid && p.name !== a.name)
  ) {
    return `group ${a.name} (gid ${a.gid}) has other members`;
  }
  const holder =
    i.groups.find((g) => g.gid === target && g.name !== a.name)?.name ??
    i.passwd.find((p) => p.gid === target && p.name !== a.name)?.name;
  if (holder !== undefined) return `gid ${target} is used by ${holder}`;
  // Its files would keep the old gid: only a home of its own is re-grouped.
  if (!isOwnHome(a.home, a.name)) return `home ${a.home} is not named after the account`;
  return undefined;
}

/**
 * What renumbering one account takes, or why it is refused: never root or a
 * system uid (from or to), never an account whose uid the index published (it
 * is that person's), never onto a uid another account has or this run gives. Its private group (as useradd --user-group made it) takes the same
 * number as gid when that gid is free and the home is named after the account
 * (its files are re-grouped); otherwise it keeps
 * its gid (logins only look at the uid) and the action says why. Running
 * processes are usermod's check (it refuses), so apply reports them.
 */
export function planRenumber(i: RenumberInput): RenumberPlan {
  const { account: a, target } = i;
  const refuse = (why: string) => ({
    problem: `managed account ${a.name} has uid ${a.uid}, index says ${target}: not renumbered, ${why}`,
  });
  if (a.uid < MIN_SYNC_UID) return refuse(`uid ${a.uid} is root or a system uid (< ${MIN_SYNC_UID})`);
  // Only uids the publisher never handed out (aws-ec2-ssh's useradd ones) are renumbered. An account
  // with a published uid belongs to that person: a deleted user whose name was taken again, or a rename
  // that could not follow. Renumbering it would give their home and files to the new holder of the name.
  if (i.publishedUids.has(a.uid))
    return refuse(
      `uid ${a.uid} was published for an IAM user (a deleted or renamed person's account, not one made before iam-ssh-keys): remove or rename it by hand`,
    );
  if (target < MIN_SYNC_UID) return refuse(`uid ${target} is in the system range (< ${MIN_SYNC_UID})`);
  const holder = i.passwd.find((p) => p.uid === target && p.name !== a.name);
  if (holder) return refuse(`uid ${target} is used by local account ${holder.name}`);
  if (i.claimedUids.has(target)) return refuse(`uid ${target} goes to another account in this run`);

  const groupKept = a.gid === target ? undefined : privateGroupProblem(i);
  const moveGroup = a.gid !== target && groupKept === undefined;
  const actions: RenumberAction[] = [
    {
      kind: 'renumber-user',
      user: a.name,
      iamUser: i.iamUser,
      fromUid: a.uid,
      toUid: target,
      home: a.home,
      ...(groupKept ? { groupKept } : {}),
    },
  ];
  if (moveGroup) {
    actions.push(
      { kind: 'renumber-group', group: a.name, user: a.name, fromGid: a.gid, toGid: target },
      { kind: 'regroup-home', user: a.name, home: a.home, fromGid: a.gid, toGid: target },
    );
  }
  return { actions };
}

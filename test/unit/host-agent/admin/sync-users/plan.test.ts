import { describe, expect, it } from 'vitest';
import type { Directory, DirectoryUser } from '../../../../../contract/index.js';
import {
  ALL_USERS,
  type GroupEntry,
  parseGroup,
  planSync,
  type SyncSettings,
} from '../../../../../host-agent/admin/sync-users/plan.js';
import { type PasswdEntry, parsePasswd } from '../../../../../host-agent/passwd.js';

function user(localName: string | null, uid: number, groups: string[]): DirectoryUser {
  return { userId: `AIDA${uid}`, localName, uid, groups };
}

/** directory.json as sync-users reads it: `uids` are every uid ever published (reserved ones included). */
function index(users: Record<string, DirectoryUser>, uids: Record<string, number> = {}): Directory {
  return { version: 1, users: new Map(Object.entries(users)), reservedUids: Object.values(uids) };
}

const settings: SyncSettings = {
  allowGroups: ['Devs'],
  markerGroup: 'iam-synced-users',
  localGroups: ['staff'],
  groupMap: { Admins: 'wheel' },
  sudoGroups: ['Admins'],
  removeHome: false,
};

const root: PasswdEntry = { name: 'root', uid: 0, gid: 0, home: '/root', shell: '/bin/bash' };
const pw = (name: string, uid: number): PasswdEntry => ({
  name,
  uid,
  gid: uid,
  home: `/home/${name}`,
  shell: '/bin/sh',
});
const gr = (name: string, gid: number, members: string[] = []): GroupEntry => ({ name, gid, members });
const fresh = { freshness: { fresh: true } };

describe('planSync', () => {
  const cases: {
    name: string;
    users: Record<string, DirectoryUser>;
    passwd: PasswdEntry[];
    groups: GroupEntry[];
    settings?: Partial<SyncSettings>;
    opts?: Parameters<typeof planSync>[4];
    actions: string[];
    sudo?: string[];
    /** Sudo lines as name:uid[:previous uid]. */
    sudoUids?: string[];
    problems?: RegExp[];
    refused?: { users: string[]; reason: RegExp };
    /** Every uid ever published (directory.json's reservedUids and users' uids). */
    uids?: Record<string, number>;
  }[] = [
    {
      name: 'creates an allowed user with its uid, marker, local and mapped groups, creating missing groups',
      users: { 'alice@x': user('alice.at.x', 3001, ['Devs', 'Admins']) },
      passwd: [root],
      groups: [gr('root', 0), gr('staff', 50)],
      actions: [
        'create-group iam-synced-users',
        'create-group wheel',
        'create-user alice.at.x 3001 iam-synced-users,staff,wheel',
      ],
      sudo: ['alice.at.x'],
    },
    {
      name: 'skips users outside allowGroups and null local names',
      users: {
        bob: user('bob', 3002, ['Other']),
        [`a${'x'.repeat(40)}`]: { ...user(null, 3003, ['Devs']), localNameProblem: 'too long' },
      },
      passwd: [root],
      groups: [gr('iam-synced-users', 900), gr('staff', 50)],
      actions: [],
      problems: [/no usable local name \(too long\)/],
    },
    {
      name: 'empty allowGroups admits every IAM user',
      users: { bob: user('bob', 3002, ['Other']) },
      settings: { allowGroups: [] },
      passwd: [root],
      groups: [gr('iam-synced-users', 900), gr('staff', 50)],
      actions: ['create-user bob 3002 iam-synced-users,staff'],
      sudo: [],
    },
    {
      name: 'never touches an existing account outside the marker group',
      users: { carol: user('carol', 3004, ['Devs']) },
      passwd: [root, pw('carol', 1000)],
      groups: [gr('iam-synced-users', 900), gr('staff', 50)],
      actions: [],
      problems: [/carol.*not in group iam-synced-users: left alone/],
    },
    {
      name: 'refuses a uid already used by another local account',
      users: { dave: user('dave', 1000, ['Devs']) },
      passwd: [root, pw('eve', 1000)],
      groups: [gr('iam-synced-users', 900), gr('staff', 50)],
      actions: [],
      problems: [/uid 1000 is already used by local account eve; dave not created/],
    },
    {
      name: 'updates group membership of a managed account (adds mapped, removes unmapped)',
      users: { frank: user('frank', 3005, ['Devs']) },
      passwd: [root, pw('frank', 3005)],
      groups: [gr('iam-synced-users', 900, ['frank']), gr('staff', 50), gr('wheel', 10, ['frank'])],
      actions: ['add-to-groups frank staff', 'remove-from-group frank wheel'],
      sudo: [],
    },
    {
      name: 'steady state: nothing to do',
      users: { frank: user('frank', 3005, ['Devs']) },
      passwd: [root, pw('frank', 3005)],
      groups: [gr('iam-synced-users', 900, ['frank']), gr('staff', 50, ['frank'])],
      actions: [],
    },
    {
      name: 'removes a managed account no longer in IAM (fresh index, minority)',
      users: { a: user('a', 3001, ['Devs']), b: user('b', 3002, ['Devs']) },
      passwd: [root, pw('a', 3001), pw('b', 3002), pw('c', 3003)],
      groups: [gr('iam-synced-users', 900, ['a', 'b', 'c']), gr('staff', 50, ['a', 'b', 'c'])],
      settings: { removeHome: true },
      actions: ['remove-user c home'],
    },
    {
      name: 'refuses removals when the index is stale',
      users: { a: user('a', 3001, ['Devs']), b: user('b', 3002, ['Devs']) },
      passwd: [root, pw('a', 3001), pw('b', 3002), pw('c', 3003)],
      groups: [gr('iam-synced-users', 900, ['a', 'b', 'c']), gr('staff', 50, ['a', 'b', 'c'])],
      opts: { freshness: { fresh: false, reason: 'generated 3 days ago' } },
      actions: [],
      refused: { users: ['c'], reason: /not fresh \(generated 3 days ago\)/ },
    },
    {
      name: 'removes 2 of 3 managed accounts without the flag (the floor is 2)',
      users: { a: user('a', 3001, ['Devs']) },
      passwd: [root, pw('a', 3001), pw('b', 3002), pw('c', 3003)],
      groups: [gr('iam-synced-users', 900, ['a', 'b', 'c']), gr('staff', 50, ['a', 'b', 'c'])],
      actions: ['remove-user b', 'remove-user c'],
    },
    {
      name: 'removing the only managed account needs no flag (small hosts offboard from cron)',
      users: {},
      passwd: [root, pw('a', 3001)],
      groups: [gr('iam-synced-users', 900, ['a'])],
      actions: ['remove-user a'],
    },
    {
      name: 'removing 2 of 2 managed accounts needs no flag',
      users: {},
      passwd: [root, pw('a', 3001), pw('b', 3002)],
      groups: [gr('iam-synced-users', 900, ['a', 'b'])],
      actions: ['remove-user a', 'remove-user b'],
    },
    {
      name: 'removing 3 of 4 managed accounts is refused (more than max(2, half))',
      users: { a: user('a', 3001, ['Devs']) },
      passwd: [root, pw('a', 3001), pw('b', 3002), pw('c', 3003), pw('d', 3004)],
      groups: [gr('iam-synced-users', 900, ['a', 'b', 'c', 'd']), gr('staff', 50, ['a', 'b', 'c', 'd'])],
      actions: [],
      refused: { users: ['b', 'c', 'd'], reason: /would remove 3 of 4 managed accounts \(more than 2\)/ },
    },
    {
      name: '--allow-mass-removal lets a fresh index remove most accounts',
      users: { a: user('a', 3001, ['Devs']) },
      passwd: [root, pw('a', 3001), pw('b', 3002), pw('c', 3003)],
      groups: [gr('iam-synced-users', 900, ['a', 'b', 'c']), gr('staff', 50, ['a', 'b', 'c'])],
      opts: { freshness: { fresh: true }, allowMassRemoval: true },
      actions: ['remove-user b', 'remove-user c'],
    },
    {
      name: '--allow-mass-removal does not override a stale index',
      users: {},
      passwd: [root, pw('a', 3001)],
      groups: [gr('iam-synced-users', 900, ['a'])],
      opts: { freshness: { fresh: false, reason: 'x' }, allowMassRemoval: true },
      actions: [],
      refused: { users: ['a'], reason: /not fresh/ },
    },
    {
      name: '##ALL## gives every synced user sudo',
      users: { a: user('a', 3001, ['Devs']), b: user('b', 3002, ['Devs']) },
      settings: { sudoGroups: ALL_USERS, localGroups: [] },
      passwd: [root],
      groups: [gr('iam-synced-users', 900)],
      actions: ['create-user a 3001 iam-synced-users', 'create-user b 3002 iam-synced-users'],
      sudo: ['a', 'b'],
    },
    {
      name: 'refuses a uid in the system range',
      users: { svc: user('svc', 999, ['Devs']) },
      passwd: [root],
      groups: [gr('iam-synced-users', 900), gr('staff', 50)],
      actions: [],
      problems: [/uid 999 is in the system range \(< 1000\); svc not created/],
    },
    {
      name: 'a group named like the new user blocks its creation',
      users: { g: user('g', 3001, ['Devs']) },
      passwd: [root],
      groups: [gr('iam-synced-users', 900), gr('staff', 50), gr('g', 77)],
      actions: [],
      problems: [/a group named g already exists/],
    },
    {
      name: 'renames the account of a renamed IAM user (same uid): home and primary group along, nothing removed',
      users: { 'alice.new': user('alice.new', 3001, ['Devs', 'Admins']) },
      passwd: [root, pw('alice', 3001), pw('bob', 3002)],
      groups: [
        gr('iam-synced-users', 900, ['alice', 'bob']),
        gr('staff', 50, ['alice', 'bob']),
        gr('wheel', 10),
        gr('alice', 3001),
      ],
      actions: [
        'rename-user alice alice.new 3001 /home/alice.new',
        'rename-group alice alice.new',
        'add-to-groups alice.new wheel',
        'remove-user bob',
      ],
      sudo: ['alice.new'],
    },
    {
      name: 'a rename frees the old name for a new IAM user of that name, who gets a new account and uid',
      users: {
        alice: user('alice', 3009, ['Devs']),
        'alice.new': user('alice.new', 3001, ['Devs']),
      },
      passwd: [root, pw('alice', 3001)],
      groups: [gr('iam-synced-users', 900, ['alice']), gr('staff', 50, ['alice']), gr('alice', 3001)],
      actions: [
        'rename-user alice alice.new 3001 /home/alice.new',
        'rename-group alice alice.new',
        'create-user alice 3009 iam-synced-users,staff',
      ],
    },
    {
      name: 'a rename leaves a home not named after the account, and a primary group of another name',
      users: { 'carl.b': user('carl.b', 3003, ['Devs']) },
      passwd: [root, { ...pw('carl', 3003), home: '/srv/work', gid: 100 }],
      groups: [gr('iam-synced-users', 900, ['carl']), gr('staff', 50, ['carl']), gr('users', 100)],
      actions: ['rename-user carl carl.b 3003'],
    },
    {
      name: 'renames although the index is stale (nothing is removed)',
      users: { 'alice.new': user('alice.new', 3001, ['Devs']) },
      passwd: [root, pw('alice', 3001)],
      groups: [gr('iam-synced-users', 900, ['alice']), gr('staff', 50, ['alice']), gr('alice', 3001)],
      opts: { freshness: { fresh: false, reason: 'old' } },
      actions: ['rename-user alice alice.new 3001 /home/alice.new', 'rename-group alice alice.new'],
    },
    {
      name: 'a group with the new name blocks the rename; the account is kept, not removed',
      users: { 'alice.new': user('alice.new', 3001, ['Devs']) },
      passwd: [root, pw('alice', 3001)],
      groups: [
        gr('iam-synced-users', 900, ['alice']),
        gr('staff', 50, ['alice']),
        gr('alice', 3001),
        gr('alice.new', 4000),
      ],
      actions: [],
      problems: [
        /managed account alice has its uid 3001 \(renamed in IAM\), but a group named alice.new already exists; not renamed/,
      ],
    },
    {
      name: 'an account that already has the new name blocks the rename; the old one is kept',
      users: { 'alice.new': user('alice.new', 3001, ['Devs']) },
      passwd: [root, pw('alice', 3001), pw('alice.new', 1500)],
      groups: [gr('iam-synced-users', 900, ['alice']), gr('staff', 50, ['alice'])],
      actions: [],
      problems: [/local account alice.new .*not in group iam-synced-users: left alone/],
    },
    {
      name: 'an unmanaged account holding the uid is never renamed',
      users: { 'alice.new': user('alice.new', 3001, ['Devs']) },
      passwd: [root, pw('alice', 3001)],
      groups: [gr('iam-synced-users', 900), gr('staff', 50)],
      actions: [],
      problems: [/uid 3001 is already used by local account alice; alice.new not created/],
    },
    // Renumbering (syncUsers.renumber / --renumber): aws-ec2-ssh's accounts, made by useradd --user-group.
    {
      name: 'without renumber, a managed account with another uid is adopted as is and named',
      users: { ann: user('ann', 20017, ['Devs']) },
      passwd: [root, pw('ann', 1001)],
      groups: [gr('iam-synced-users', 900, ['ann']), gr('staff', 50, ['ann']), gr('ann', 1001)],
      actions: [],
      problems: [
        /^managed account ann has uid 1001, index says 20017: uid left as is \(sync-users --renumber changes it\)$/,
      ],
    },
    {
      name: 'renumber: the account gets its published uid, its private group the same gid, its home files that gid',
      users: { ann: user('ann', 20017, ['Devs', 'Admins']) },
      settings: { renumber: true },
      passwd: [root, pw('ann', 1001)],
      groups: [
        gr('iam-synced-users', 900, ['ann']),
        gr('staff', 50, ['ann']),
        gr('wheel', 10, ['ann']),
        gr('ann', 1001),
      ],
      actions: [
        'renumber-user ann 1001 20017',
        'renumber-group ann 1001 20017',
        'regroup-home ann /home/ann 1001 20017',
      ],
      sudoUids: ['ann:20017:1001'],
    },
    {
      name: 'renumber: a target uid used by another account (even unmanaged) is refused; nothing else changes',
      users: { ann: user('ann', 20017, ['Devs']) },
      settings: { renumber: true },
      passwd: [root, pw('ann', 1001), pw('web', 20017)],
      groups: [gr('iam-synced-users', 900, ['ann']), gr('staff', 50, ['ann']), gr('ann', 1001)],
      actions: [],
      problems: [
        /^managed account ann has uid 1001, index says 20017: not renumbered, uid 20017 is used by local account web$/,
      ],
    },
    {
      name: "renumber: never an account whose uid was published (a deleted person's, the name taken again)",
      // IAM user alice (uid 20001) was deleted and a new alice created (uid 20002) before sync-users ran:
      // the account and its files are the first person's, never handed to the second.
      users: { alice: user('alice', 20002, ['Devs']) },
      uids: { AIDAFIRSTALICE: 20001, AIDANEWALICE: 20002 },
      settings: { renumber: true },
      passwd: [root, pw('alice', 20001)],
      groups: [gr('iam-synced-users', 900, ['alice']), gr('staff', 50, ['alice']), gr('alice', 20001)],
      actions: [],
      problems: [
        /^managed account alice has uid 20001, index says 20002: not renumbered, uid 20001 was published for an IAM user/,
      ],
    },
    {
      name: "renumber: never an account a blocked rename left behind (another person's uid)",
      // carol (uid 20003) was renamed to alice.new in IAM; a group alice.new blocks the rename, and a new
      // a new IAM user alice exists: the local account alice holds carol's uid and is not given to her.
      users: { 'alice.new': user('alice.new', 20003, ['Devs']), alice: user('alice', 20004, ['Devs']) },
      uids: { AIDACAROL: 20003, AIDAALICE: 20004 },
      settings: { renumber: true },
      passwd: [root, pw('alice', 20003)],
      groups: [
        gr('iam-synced-users', 900, ['alice']),
        gr('staff', 50, ['alice']),
        gr('alice', 20003),
        gr('alice.new', 4000),
      ],
      actions: [],
      problems: [
        /^managed account alice has uid 20003, index says 20004: not renumbered, uid 20003 was published/,
        /managed account alice has its uid 20003 \(renamed in IAM\), but a group named alice.new already exists/,
      ],
    },
    {
      name: 'renumber: never an account with uid 0, nor one in the system range',
      users: { ann: user('ann', 20017, ['Devs']), svc: user('svc', 20018, ['Devs']) },
      settings: { renumber: true },
      passwd: [root, { ...pw('ann', 0), gid: 0 }, pw('svc', 999)],
      groups: [gr('iam-synced-users', 900, ['ann', 'svc']), gr('staff', 50, ['ann', 'svc'])],
      actions: [],
      problems: [
        /ann has uid 0, index says 20017: not renumbered, uid 0 is root or a system uid \(< 1000\)/,
        /svc has uid 999, index says 20018: not renumbered, uid 999 is root or a system uid/,
      ],
    },
    {
      name: 'renumber: never to a published uid in the system range',
      users: { ann: user('ann', 500, ['Devs']) },
      settings: { renumber: true },
      passwd: [root, pw('ann', 1001)],
      groups: [gr('iam-synced-users', 900, ['ann']), gr('staff', 50, ['ann']), gr('ann', 1001)],
      actions: [],
      problems: [/not renumbered, uid 500 is in the system range \(< 1000\)/],
    },
    {
      name: 'renumber: an account outside the marker group is never renumbered',
      users: { ann: user('ann', 20017, ['Devs']) },
      settings: { renumber: true },
      passwd: [root, pw('ann', 1001)],
      groups: [gr('iam-synced-users', 900), gr('staff', 50, ['ann']), gr('ann', 1001)],
      actions: [],
      problems: [
        /local account ann \(IAM user ann\) exists but is not in group iam-synced-users: left alone/,
      ],
    },
    {
      name: 'renumber: the private group keeps its gid when the new gid is taken (the uid still changes)',
      users: { ann: user('ann', 20017, ['Devs']) },
      settings: { renumber: true },
      passwd: [root, pw('ann', 1001)],
      groups: [
        gr('iam-synced-users', 900, ['ann']),
        gr('staff', 50, ['ann']),
        gr('ann', 1001),
        gr('builders', 20017),
      ],
      actions: ['renumber-user ann 1001 20017 group-kept: gid 20017 is used by builders'],
    },
    {
      name: 'renumber: a primary group not named after the account keeps its gid',
      users: { ann: user('ann', 20017, ['Devs']) },
      settings: { renumber: true },
      passwd: [root, { ...pw('ann', 1001), gid: 100 }],
      groups: [gr('iam-synced-users', 900, ['ann']), gr('staff', 50, ['ann']), gr('users', 100)],
      actions: ['renumber-user ann 1001 20017 group-kept: primary gid 100 is not a group named ann'],
    },
    {
      name: 'renumber: a private group whose gid is not the uid (useradd numbers groups apart) still follows',
      users: { ann: user('ann', 20017, ['Devs']) },
      settings: { renumber: true },
      passwd: [root, { ...pw('ann', 1002), gid: 1003 }],
      groups: [gr('iam-synced-users', 1001, ['ann']), gr('staff', 50, ['ann']), gr('ann', 1003)],
      actions: [
        'renumber-user ann 1002 20017',
        'renumber-group ann 1003 20017',
        'regroup-home ann /home/ann 1003 20017',
      ],
    },
    {
      name: 'renumber: a primary group shared with another account (as member or primary) keeps its gid',
      users: { ann: user('ann', 20017, ['Devs']), bob: user('bob', 20018, ['Devs']) },
      settings: { renumber: true },
      passwd: [root, pw('ann', 1001), { ...pw('bob', 1002), gid: 1001 }],
      groups: [gr('iam-synced-users', 900, ['ann', 'bob']), gr('staff', 50, ['ann', 'bob']), gr('ann', 1001)],
      actions: [
        'renumber-user ann 1001 20017 group-kept: group ann (gid 1001) has other members',
        'renumber-user bob 1002 20018 group-kept: primary gid 1001 is not a group named bob',
      ],
    },
    {
      name: 'renumber: a private group already on the published number is left as it is',
      users: { ann: user('ann', 20017, ['Devs']) },
      settings: { renumber: true },
      passwd: [root, { ...pw('ann', 1001), gid: 20017 }],
      groups: [gr('iam-synced-users', 900, ['ann']), gr('staff', 50, ['ann']), gr('ann', 20017)],
      actions: ['renumber-user ann 1001 20017'],
    },
    {
      name: 'renumber: a home not named after the account keeps the group (its files are not re-grouped)',
      users: { ann: user('ann', 20017, ['Devs']) },
      settings: { renumber: true },
      passwd: [root, { ...pw('ann', 1001), home: '/' }],
      groups: [gr('iam-synced-users', 900, ['ann']), gr('staff', 50, ['ann']), gr('ann', 1001)],
      actions: ['renumber-user ann 1001 20017 group-kept: home / is not named after the account'],
    },
    {
      name: 'renumber: two IAM users published with one uid (a broken index): the second is refused',
      users: { ann: user('ann', 20017, ['Devs']), bob: user('bob', 20017, ['Devs']) },
      settings: { renumber: true },
      passwd: [root, pw('ann', 1001), pw('bob', 1002)],
      groups: [
        gr('iam-synced-users', 900, ['ann', 'bob']),
        gr('staff', 50, ['ann', 'bob']),
        gr('ann', 1001),
        gr('bob', 1002),
      ],
      actions: [
        'renumber-user ann 1001 20017',
        'renumber-group ann 1001 20017',
        'regroup-home ann /home/ann 1001 20017',
      ],
      problems: [
        /bob has uid 1002, index says 20017: not renumbered, uid 20017 goes to another account in this run/,
      ],
    },
    {
      name: 'renumber: an account already on its published uid is left alone (steady state)',
      users: { ann: user('ann', 20017, ['Devs']) },
      settings: { renumber: true },
      passwd: [root, pw('ann', 20017)],
      groups: [gr('iam-synced-users', 900, ['ann']), gr('staff', 50, ['ann']), gr('ann', 20017)],
      actions: [],
    },
    {
      name: 'an IAM user named docker gets no account, so no private group docker (a later Docker package would adopt it)',
      users: {
        docker: user('docker', 3001, ['Devs']),
        'systemd-journal': user('systemd-journal', 3002, ['Devs']),
        wheel: user('wheel', 3003, ['Devs']),
        alice: user('alice', 3004, ['Devs']),
      },
      passwd: [root],
      groups: [gr('root', 0), gr('staff', 50)],
      actions: ['create-group iam-synced-users', 'create-user alice 3004 iam-synced-users,staff'],
      problems: [
        /IAM user docker: local name docker is a privileged user or group name/,
        /IAM user systemd-journal: local name systemd-journal is a privileged/,
        /IAM user wheel: local name wheel is a privileged/,
      ],
    },
    {
      name: 'a managed account with a privileged name (made before the rule) is neither changed nor removed',
      users: { sudo: user('sudo', 3001, ['Devs']) },
      passwd: [root, pw('sudo', 3001)],
      groups: [gr('root', 0), gr('staff', 50), gr('iam-synced-users', 900, ['sudo'])],
      actions: [],
      problems: [/IAM user sudo: local name sudo is a privileged/],
    },
    {
      name: 'an IAM group named wheel joins local wheel only when groupMap says so',
      users: { alice: user('alice', 3001, ['Devs', 'wheel']), bob: user('bob', 3002, ['Devs', 'docker']) },
      passwd: [root],
      groups: [gr('root', 0), gr('staff', 50), gr('wheel', 10), gr('docker', 999)],
      settings: { groupMap: { wheel: 'wheel' } },
      actions: [
        'create-group iam-synced-users',
        'create-user alice 3001 iam-synced-users,staff,wheel',
        'create-user bob 3002 iam-synced-users,staff',
      ],
    },
    ...['__proto__', 'constructor', 'toString', 'valueOf', 'hasOwnProperty'].map((g) => ({
      name: `an IAM group named ${g} maps to no local group (groupMap is read by own property)`,
      users: { alice: user('alice', 3001, ['Devs', g]) },
      passwd: [root],
      groups: [gr('root', 0), gr('staff', 50)],
      actions: ['create-group iam-synced-users', 'create-user alice 3001 iam-synced-users,staff'],
    })),
    {
      name: 'IAM users named __proto__, constructor, toString and valueOf are plain users',
      users: JSON.parse(
        JSON.stringify({
          constructor: user('constructor', 3001, ['Devs']),
          toString: user('toString', 3002, ['Devs']),
          valueOf: user('valueOf', 3003, ['Devs']),
        }).replace('{', `{"__proto__":${JSON.stringify(user('__proto__', 3004, ['Devs']))},`),
      ) as Record<string, DirectoryUser>,
      passwd: [root],
      groups: [gr('root', 0), gr('staff', 50)],
      actions: [
        'create-group iam-synced-users',
        'create-user __proto__ 3004 iam-synced-users,staff',
        'create-user constructor 3001 iam-synced-users,staff',
        'create-user toString 3002 iam-synced-users,staff',
        'create-user valueOf 3003 iam-synced-users,staff',
      ],
    },
  ];

  const show = (a: ReturnType<typeof planSync>['actions'][number]) => {
    switch (a.kind) {
      case 'create-group':
        return `create-group ${a.group}`;
      case 'create-user':
        return `create-user ${a.user} ${a.uid} ${a.groups.join(',')}`;
      case 'rename-user':
        return `rename-user ${a.user} ${a.newName} ${a.uid}${a.home ? ` ${a.home}` : ''}`;
      case 'rename-group':
        return `rename-group ${a.group} ${a.newName}`;
      case 'add-to-groups':
        return `add-to-groups ${a.user} ${a.groups.join(',')}`;
      case 'remove-from-group':
        return `remove-from-group ${a.user} ${a.group}`;
      case 'remove-user':
        return `remove-user ${a.user}${a.removeHome ? ' home' : ''}`;
      case 'renumber-user':
        return `renumber-user ${a.user} ${a.fromUid} ${a.toUid}${a.groupKept ? ` group-kept: ${a.groupKept}` : ''}`;
      case 'renumber-group':
        return `renumber-group ${a.group} ${a.fromGid} ${a.toGid}`;
      case 'regroup-home':
        return `regroup-home ${a.user} ${a.home} ${a.fromGid} ${a.toGid}`;
    }
  };

  for (const c of cases) {
    it(c.name, () => {
      const plan = planSync(
        index(c.users, c.uids),
        c.passwd,
        c.groups,
        { ...settings, ...c.settings },
        c.opts ?? fresh,
      );
      expect(plan.actions.map(show)).toEqual(c.actions);
      if (c.sudo) expect(plan.sudoUsers.map((u) => u.name)).toEqual(c.sudo);
      if (c.sudoUids) {
        expect(
          plan.sudoUsers.map((u) => [u.name, u.uid, ...(u.previousUid ? [u.previousUid] : [])].join(':')),
        ).toEqual(c.sudoUids);
      }
      expect(plan.problems).toHaveLength(c.problems?.length ?? 0);
      for (const [i, p] of (c.problems ?? []).entries()) expect(plan.problems[i]).toMatch(p);
      if (c.refused) {
        expect(plan.refusedRemovals?.users).toEqual(c.refused.users);
        expect(plan.refusedRemovals?.reason).toMatch(c.refused.reason);
      } else {
        expect(plan.refusedRemovals).toBeUndefined();
      }
    });
  }
});

describe('parsers', () => {
  it('parsePasswd and parseGroup read getent output and skip junk', () => {
    expect(parsePasswd('root:x:0:0:root:/root:/bin/bash\nbad line\na:x:1:2::/h:/bin/sh\n')).toEqual([
      { name: 'root', uid: 0, gid: 0, home: '/root', shell: '/bin/bash' },
      { name: 'a', uid: 1, gid: 2, home: '/h', shell: '/bin/sh' },
    ]);
    expect(parseGroup('g:x:5:a,b\nh:x:6:\nnope\n')).toEqual([
      { name: 'g', gid: 5, members: ['a', 'b'] },
      { name: 'h', gid: 6, members: [] },
    ]);
  });
});

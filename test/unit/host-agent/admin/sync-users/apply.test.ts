import { describe, expect, it } from 'vitest';
import { actionCommand, applySync } from '../../../../../host-agent/admin/sync-users/apply.js';
import type { ProcessRunner } from '../../../../../host-agent/admin/sys.js';

describe('actionCommand', () => {
  it('creates users with a "*" password field (key login works with UsePAM no) and the index uid', () => {
    const [cmd, args] = actionCommand(
      { kind: 'create-user', user: 'a', uid: 3001, iamUser: 'A', groups: ['x', 'y'] },
      '/bin/sh',
    );
    expect(cmd).toBe('useradd');
    expect(args).toEqual([
      '-m',
      '-u',
      '3001',
      '-U',
      '-s',
      '/bin/sh',
      '-p',
      '*',
      '-c',
      'IAM user A',
      '-G',
      'x,y',
      'a',
    ]);
  });
  it.each([
    [{ kind: 'create-group', group: 'g' } as const, ['groupadd', ['g']]],
    [
      { kind: 'add-to-groups', user: 'u', groups: ['a', 'b'] } as const,
      ['usermod', ['-a', '-G', 'a,b', 'u']],
    ],
    [{ kind: 'remove-from-group', user: 'u', group: 'g' } as const, ['gpasswd', ['-d', 'u', 'g']]],
    [
      {
        kind: 'rename-user',
        user: 'old',
        newName: 'new',
        uid: 3001,
        iamUser: 'new',
        home: '/home/new',
      } as const,
      ['usermod', ['-l', 'new', '-d', '/home/new', '-m', '-c', 'IAM user new', 'old']],
    ],
    [
      { kind: 'rename-user', user: 'old', newName: 'new', uid: 3001, iamUser: 'N' } as const,
      ['usermod', ['-l', 'new', '-c', 'IAM user N', 'old']],
    ],
    [
      { kind: 'rename-group', group: 'old', newName: 'new', user: 'new' } as const,
      ['groupmod', ['-n', 'new', 'old']],
    ],
    [{ kind: 'remove-user', user: 'u', removeHome: false } as const, ['userdel', ['u']]],
    [{ kind: 'remove-user', user: 'u', removeHome: true } as const, ['userdel', ['-r', 'u']]],
    [
      {
        kind: 'renumber-user',
        user: 'u',
        iamUser: 'U',
        fromUid: 1001,
        toUid: 20017,
        home: '/home/u',
      } as const,
      ['usermod', ['-u', '20017', 'u']],
    ],
    [
      { kind: 'renumber-group', group: 'u', user: 'u', fromGid: 1001, toGid: 20017 } as const,
      ['groupmod', ['-g', '20017', 'u']],
    ],
    [
      { kind: 'regroup-home', user: 'u', home: '/home/u', fromGid: 1001, toGid: 20017 } as const,
      ['chown', ['-R', '-h', '--from=:1001', ':20017', '--', '/home/u']],
    ],
  ])('%o', (a, expected) => {
    expect(actionCommand(a, '/bin/sh')).toEqual(expected);
  });
});
describe('applySync', () => {
  it('runs each action, reports failures and skips users whose group could not be created', async () => {
    const calls: string[] = [];
    const run: ProcessRunner = async (cmd, args) => {
      calls.push([cmd, ...args].join(' '));
      return cmd === 'groupadd'
        ? { code: 9, stdout: '', stderr: 'groupadd: boom' }
        : { code: 0, stdout: '', stderr: '' };
    };
    const res = await applySync(
      {
        actions: [
          { kind: 'create-group', group: 'g' },
          { kind: 'create-user', user: 'a', uid: 1, iamUser: 'A', groups: ['g'] },
          { kind: 'remove-user', user: 'b', removeHome: false },
        ],
        sudoUsers: [],
        problems: [],
      },
      { run, shell: '/bin/sh', log: () => {} },
    );
    expect(calls).toEqual(['groupadd g', 'userdel b']);
    expect(res.done).toBe(1);
    expect(res.failed[0]).toMatch(/create group g: groupadd g failed: groupadd: boom/);
    expect(res.failed[1]).toMatch(/create user a .*skipped/);
  });

  it('after a failed rename, skips what needs the new name or the old name free', async () => {
    const calls: string[] = [];
    const run: ProcessRunner = async (cmd, args) => {
      calls.push([cmd, ...args].join(' '));
      return cmd === 'usermod' && args[0] === '-l'
        ? { code: 8, stdout: '', stderr: 'usermod: user old is currently used by process 42' }
        : { code: 0, stdout: '', stderr: '' };
    };
    const res = await applySync(
      {
        actions: [
          { kind: 'rename-user', user: 'old', newName: 'new', uid: 3001, iamUser: 'new', home: '/home/new' },
          { kind: 'rename-group', group: 'old', newName: 'new', user: 'new' },
          { kind: 'add-to-groups', user: 'new', groups: ['wheel'] },
          { kind: 'create-user', user: 'old', uid: 3009, iamUser: 'old', groups: [] },
          { kind: 'add-to-groups', user: 'other', groups: ['wheel'] },
        ],
        sudoUsers: [],
        problems: [],
      },
      { run, shell: '/bin/sh', log: () => {} },
    );
    expect(calls).toEqual([
      'usermod -l new -d /home/new -m -c IAM user new old',
      'usermod -a -G wheel other',
    ]);
    expect(res.done).toBe(1);
    expect(res.failed).toHaveLength(4);
    expect(res.failed[0]).toMatch(/rename user old to new .*currently used by process 42/);
    for (const f of res.failed.slice(1)) expect(f).toMatch(/skipped, the rename of that account failed/);
  });
});

describe('applySync: renumbering', () => {
  const renumbering = (user: string, from: number, to: number) =>
    [
      { kind: 'renumber-user', user, iamUser: user, fromUid: from, toUid: to, home: `/home/${user}` },
      { kind: 'renumber-group', group: user, user, fromGid: from, toGid: to },
      { kind: 'regroup-home', user, home: `/home/${user}`, fromGid: from, toGid: to },
    ] as const;

  it('a user with running processes (usermod refuses) is reported, its group left, the others renumbered and counted', async () => {
    const calls: string[] = [];
    const run: ProcessRunner = async (cmd, args) => {
      calls.push([cmd, ...args].join(' '));
      return cmd === 'usermod' && args[0] === '-u' && args.includes('busy')
        ? { code: 8, stdout: '', stderr: 'usermod: user busy is currently used by process 4242\n' }
        : { code: 0, stdout: '', stderr: '' };
    };
    const logged: string[] = [];
    const res = await applySync(
      {
        actions: [
          ...renumbering('busy', 1001, 20017),
          { kind: 'add-to-groups', user: 'busy', groups: ['wheel'] },
          ...renumbering('idle', 1002, 20018),
        ],
        sudoUsers: [],
        problems: [],
      },
      { run, shell: '/bin/sh', log: (l) => logged.push(l) },
    );
    expect(calls).toEqual([
      'usermod -u 20017 busy',
      'usermod -a -G wheel busy',
      'usermod -u 20018 idle',
      'groupmod -g 20018 idle',
      'chown -R -h --from=:1002 :20018 -- /home/idle',
    ]);
    expect(res).toMatchObject({ done: 4, renumbered: 1 });
    expect(res.failed).toEqual([
      'renumber user busy from uid 1001 to 20017 (IAM busy; files outside /home/busy keep uid 1001): usermod -u 20017 busy failed: usermod: user busy is currently used by process 4242; the next run tries again',
      'renumber group busy from gid 1001 to 20017: skipped, a previous step of that renumbering failed',
      'give files of gid 1001 in /home/busy gid 20017: skipped, a previous step of that renumbering failed',
    ]);
    expect(logged).toContain(
      'renumber user idle from uid 1002 to 20018 (IAM idle; files outside /home/idle keep uid 1002)',
    );
  });

  it('a failed groupmod leaves the home files alone; the uid change stands and counts', async () => {
    const calls: string[] = [];
    const run: ProcessRunner = async (cmd, args) => {
      calls.push([cmd, ...args].join(' '));
      return cmd === 'groupmod'
        ? { code: 4, stdout: '', stderr: 'groupmod: GID 20017 already exists\n' }
        : { code: 0, stdout: '', stderr: '' };
    };
    const res = await applySync(
      { actions: [...renumbering('ann', 1001, 20017)], sudoUsers: [], problems: [] },
      { run, shell: '/bin/sh', log: () => {} },
    );
    expect(calls).toEqual(['usermod -u 20017 ann', 'groupmod -g 20017 ann']);
    expect(res).toMatchObject({ done: 1, renumbered: 1 });
    expect(res.failed).toHaveLength(2);
    expect(res.failed[0]).toMatch(/renumber group ann .*GID 20017 already exists$/);
    expect(res.failed[1]).toMatch(/skipped, a previous step of that renumbering failed/);
  });
});

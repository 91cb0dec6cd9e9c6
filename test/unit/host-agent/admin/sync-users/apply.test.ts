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

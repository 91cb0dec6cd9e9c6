import { describe, expect, it } from 'vitest';
import {
  existingSudoUsers,
  installSudoers,
  renderSudoers,
  SudoersInvalidError,
} from '../../../../../host-agent/admin/sync-users/sudoers.js';
import type { ProcessRunner } from '../../../../../host-agent/admin/sys.js';

describe('renderSudoers and existingSudoUsers', () => {
  it('renderSudoers names users by uid, so a user called ALL (or an alias-like name) grants only itself', () => {
    expect(
      renderSudoers([
        { name: 'ALL', uid: 20001 },
        { name: 'b', uid: 20002 },
      ]),
    ).toBe(
      '# Managed by iam-authorized-keys sync-users: rewritten on every run.\n# uids: 20001=ALL 20002=b\n#20001 ALL=(ALL) NOPASSWD:ALL\n#20002 ALL=(ALL) NOPASSWD:ALL\n',
    );
  });
  it('existingSudoUsers drops accounts that were not created (or have another uid)', () => {
    const passwd = [{ name: 'a', uid: 20001, gid: 20001, home: '/home/a', shell: '/bin/sh' }];
    expect(
      existingSudoUsers(
        [
          { name: 'a', uid: 20001 },
          { name: 'b', uid: 20002 },
          { name: 'a2', uid: 20001 },
        ],
        passwd,
      ),
    ).toEqual([{ name: 'a', uid: 20001 }]);
  });
  it('existingSudoUsers: a renumbered account gets its new uid; one whose renumbering failed keeps its old uid', () => {
    const passwd = [
      { name: 'done', uid: 20001, gid: 20001, home: '/home/done', shell: '/bin/sh' },
      { name: 'busy', uid: 1002, gid: 1002, home: '/home/busy', shell: '/bin/sh' },
    ];
    expect(
      existingSudoUsers(
        [
          { name: 'done', uid: 20001, previousUid: 1001 },
          { name: 'busy', uid: 20002, previousUid: 1002 },
          { name: 'gone', uid: 20003, previousUid: 1003 },
        ],
        passwd,
      ),
    ).toEqual([
      { name: 'done', uid: 20001 },
      { name: 'busy', uid: 1002 },
    ]);
  });
  it('renderSudoers with nobody is only the header', () => {
    expect(renderSudoers([])).toBe('# Managed by iam-authorized-keys sync-users: rewritten on every run.\n');
  });
});
describe('installSudoers', () => {
  function deps(existing: string | undefined, visudoCode: number) {
    const ops: string[] = [];
    return {
      ops,
      deps: {
        run: (async (cmd, args) => {
          ops.push(`run ${cmd} ${args.join(' ')}`);
          return { code: visudoCode, stdout: '', stderr: visudoCode ? 'parse error' : '' };
        }) as ProcessRunner,
        visudo: 'visudo',
        readFile: async () => existing,
        writeTemp: async (p: string) => {
          ops.push(`write ${p}`);
        },
        rename: async (a: string, b: string) => {
          ops.push(`rename ${a} ${b}`);
        },
        remove: async (p: string) => {
          ops.push(`remove ${p}`);
        },
      },
    };
  }
  it('validates with visudo -cf before renaming into place', async () => {
    const d = deps('old', 0);
    expect(await installSudoers('/s/iam', 'new', d.deps)).toBe(true);
    expect(d.ops).toEqual([
      'write /s/iam.iam-tmp',
      'run visudo -cf /s/iam.iam-tmp',
      'rename /s/iam.iam-tmp /s/iam',
    ]);
  });
  it('leaves the old file when visudo rejects the new one', async () => {
    const d = deps('old', 1);
    await expect(installSudoers('/s/iam', 'new', d.deps)).rejects.toBeInstanceOf(SudoersInvalidError);
    expect(d.ops).toEqual(['write /s/iam.iam-tmp', 'run visudo -cf /s/iam.iam-tmp', 'remove /s/iam.iam-tmp']);
  });
  it('does nothing when the content is unchanged', async () => {
    const d = deps('same', 0);
    expect(await installSudoers('/s/iam', 'same', d.deps)).toBe(false);
    expect(d.ops).toEqual([]);
  });
});

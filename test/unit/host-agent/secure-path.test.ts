import { describe, expect, it } from 'vitest';
import {
  privateDirProblem,
  resolvedPathProblems,
  type StatLike,
  securePathProblems,
  trustedDirProblems,
} from '../../../host-agent/secure-path.js';

const st = (uid: number, mode: number, dir = true): StatLike => ({
  uid,
  mode,
  isDirectory: () => dir,
  isFile: () => !dir,
});

describe('privateDirProblem', () => {
  // stat, uid, strict (install/doctor: 0700) problem, login (allowReadable) problem
  it.each([
    [st(7, 0o40700), undefined, undefined],
    [st(7, 0o40755), /has mode 755, expected 700/, undefined],
    [st(7, 0o40750), /has mode 750, expected 700/, undefined],
    [st(7, 0o40775), /has mode 775, expected 700/, /has mode 775: group- or world-writable/],
    [st(7, 0o40702), /has mode 702, expected 700/, /group- or world-writable/],
    [st(7, 0o41777), /has mode 777, expected 700/, /group- or world-writable/],
    [st(8, 0o40700), /owned by uid 8, not 7/, /owned by uid 8, not 7/],
    [st(7, 0o100600, false), /\/c is not a directory/, /\/c is not a directory/],
  ])('%o', (s, strict, login) => {
    const check = (got: string | undefined, want: RegExp | undefined) =>
      want ? expect(got).toMatch(want) : expect(got).toBeUndefined();
    check(privateDirProblem('/c', s, 7), strict);
    check(privateDirProblem('/c', s, 7, { allowReadable: true }), login);
  });
});

describe('securePathProblems', () => {
  const tree: Record<string, { uid: number; mode: number }> = {
    '/': { uid: 0, mode: 0o755 },
    '/usr': { uid: 0, mode: 0o755 },
    '/usr/bin': { uid: 0, mode: 0o755 },
    '/usr/bin/ok': { uid: 0, mode: 0o755 },
    '/tmp': { uid: 0, mode: 0o1777 },
    '/tmp/x': { uid: 0, mode: 0o755 },
    '/home': { uid: 0, mode: 0o755 },
    '/home/u': { uid: 1000, mode: 0o755 },
    '/home/u/node': { uid: 1000, mode: 0o775 },
  };
  const stat = (p: string) => {
    const t = tree[p];
    return t && { ...t, isDirectory: () => true, isFile: () => false };
  };
  it.each([
    ['/usr/bin/ok', []],
    ['/tmp/x', ['/tmp is group- or world-writable (mode 1777)']],
    [
      '/home/u/node',
      [
        '/home/u/node is owned by uid 1000, not root',
        '/home/u/node is group- or world-writable (mode 775)',
        '/home/u is owned by uid 1000, not root',
      ],
    ],
    ['/usr/bin/missing', ['/usr/bin/missing does not exist']],
  ])('%s', (path, expected) => {
    expect(securePathProblems(path, stat)).toEqual(expected);
  });
});

describe('resolvedPathProblems (sshd checks where a symlinked command really leads)', () => {
  const stat = (p: string) =>
    p === '/opt/x'
      ? { uid: 0, mode: 0o40775, isDirectory: () => true, isFile: () => false }
      : { uid: 0, mode: 0o40755, isDirectory: () => true, isFile: () => false };
  const realpath = (p: string) => (p === '/usr/local/bin/iak' ? '/opt/x/iak' : p);
  it.each([
    [
      'a symlink into a group-writable dir',
      '/usr/local/bin/iak',
      ['/usr/local/bin/iak resolves to /opt/x/iak: /opt/x is group- or world-writable (mode 775)'],
    ],
    ['a plain path', '/usr/bin/iak', []],
  ])('%s', (_n, path, expected) => {
    expect(resolvedPathProblems(path, stat, realpath)).toEqual(expected);
  });
  it('without a realpath function (fakes), nothing more is checked', () => {
    expect(resolvedPathProblems('/usr/local/bin/iak', stat, undefined)).toEqual([]);
  });
});

describe('trustedDirProblems (where admin commands write and chown)', () => {
  const dir = (uid: number, mode: number) => st(uid, 0o40000 | mode);
  // tree of /a/b: the mode of / and /a, then of /a/b (the directory written into)
  it.each([
    ['all root 0755', { '/': dir(0, 0o755), '/a': dir(0, 0o755), '/a/b': dir(0, 0o755) }, []],
    ['sticky /tmp-like above', { '/': dir(0, 0o755), '/a': dir(0, 0o1777), '/a/b': dir(0, 0o700) }, []],
    [
      'the directory itself sticky and world-writable',
      { '/': dir(0, 0o755), '/a': dir(0, 0o755), '/a/b': dir(0, 0o1777) },
      [/\/a\/b is writable by group or others \(mode 1777\)/],
    ],
    [
      'world-writable above, no sticky bit',
      { '/': dir(0, 0o755), '/a': dir(0, 0o777), '/a/b': dir(0, 0o755) },
      [/\/a is writable by group or others/],
    ],
    [
      'group-writable',
      { '/': dir(0, 0o755), '/a': dir(0, 0o755), '/a/b': dir(0, 0o775) },
      [/\/a\/b is writable/],
    ],
    [
      'owned by someone else above, even 0755',
      { '/': dir(0, 0o755), '/a': dir(1000, 0o755), '/a/b': dir(0, 0o755) },
      [/\/a is owned by uid 1000, not root/],
    ],
    [
      'sticky but owned by someone else',
      { '/': dir(0, 0o755), '/a': dir(1000, 0o1777), '/a/b': dir(0, 0o755) },
      [/\/a is owned by uid 1000/],
    ],
    ['missing', { '/': dir(0, 0o755), '/a': dir(0, 0o755) }, [/\/a\/b does not exist/]],
    [
      'a file',
      { '/': dir(0, 0o755), '/a': dir(0, 0o755), '/a/b': st(0, 0o100644, false) },
      [/\/a\/b is not a directory/],
    ],
  ] as [string, Record<string, StatLike>, RegExp[]][])('%s', (_name, tree, want) => {
    const got = trustedDirProblems('/a/b', (p) => (Object.hasOwn(tree, p) ? tree[p] : undefined));
    expect(got).toHaveLength(want.length);
    for (const [i, re] of want.entries()) expect(got[i]).toMatch(re);
  });
});

import { describe, expect, it } from 'vitest';
import { privateDirProblem, type StatLike } from '../../../host-agent/secure-path.js';

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

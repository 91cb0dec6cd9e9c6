// sshd runs AuthorizedKeysCommand only when the file and every parent directory
// are owned by root and not writable by group or others; the same must hold
// for the node interpreter named in the shebang (sshd does not check that one).
import { dirname } from 'node:path';

export interface StatLike {
  readonly uid: number;
  readonly mode: number;
  isDirectory(): boolean;
  isFile(): boolean;
}

/** Returns one problem per offending path component (empty: the path is safe). */
export function securePathProblems(path: string, stat: (p: string) => StatLike | undefined): string[] {
  const problems: string[] = [];
  let p = path;
  for (;;) {
    const st = stat(p);
    if (!st) problems.push(`${p} does not exist`);
    else {
      if (st.uid !== 0) problems.push(`${p} is owned by uid ${st.uid}, not root`);
      if (st.mode & 0o022)
        problems.push(`${p} is group- or world-writable (mode ${(st.mode & 0o7777).toString(8)})`);
    }
    const parent = dirname(p);
    if (parent === p) return problems;
    p = parent;
  }
}

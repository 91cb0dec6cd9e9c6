// The agent's private directory rule and path joining for the login path,
// without node:path (loading it costs ~1 ms and 2.5 MiB of every login under
// Bun, measured in docs/benchmarks.md). Admin code reaches these through secure-path.ts.

export interface StatLike {
  readonly uid: number;
  readonly gid?: number;
  readonly mode: number;
  isDirectory(): boolean;
  isFile(): boolean;
}

/**
 * The one definition of the agent's private directory: a real directory owned
 * by `uid` with no group or other bits (install creates it 0700; doctor checks
 * the same). `allowReadable`: the agent at login also accepts a dir others may
 * read but not write (its entries are 0600 anyway). Returns the problem, or
 * undefined when the directory is fine.
 */
export function privateDirProblem(
  dir: string,
  st: StatLike,
  uid: number,
  opts: { readonly allowReadable?: boolean } = {},
): string | undefined {
  if (!st.isDirectory()) return `${dir} is not a directory`;
  if (st.uid !== uid) return `${dir} is owned by uid ${st.uid}, not ${uid}`;
  const mode = (st.mode & 0o777).toString(8);
  if (!opts.allowReadable && st.mode & 0o077) return `${dir} has mode ${mode}, expected 700`;
  if (st.mode & 0o022) return `${dir} has mode ${mode}: group- or world-writable`;
  return undefined;
}

/**
 * `dir/name` for a single file name (no '/', never '.' or '..': cache and lock
 * names are built that way). The same file as node:path's join(dir, name).
 */
export function childPath(dir: string, name: string): string {
  return dir.endsWith('/') ? `${dir}${name}` : `${dir}/${name}`;
}

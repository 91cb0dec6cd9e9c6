// The SELinux policy module the .rpm ships (packaging/selinux/): compiled
// offline with the reference policy's development Makefile from Debian's
// selinux-policy-dev (m4, then checkmodule -M -m and semodule_package from
// checkpolicy and semodule-utils). Used by scripts/package.mjs; also runs on
// its own: `node scripts/selinux.mjs OUTDIR` writes OUTDIR/iam_authorized_keys.pp.
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const MODULE = 'iam_authorized_keys';
export const SOURCES = new URL('../packaging/selinux/', import.meta.url).pathname;
const DEVEL_MAKEFILE = '/usr/share/selinux/devel/Makefile';
/** Every tool the build runs, with the Debian package that has it. */
const TOOLS = [
  ['make', 'make'],
  ['m4', 'm4'],
  ['checkmodule', 'checkpolicy'],
  ['semodule_package', 'semodule-utils'],
  [DEVEL_MAKEFILE, 'selinux-policy-dev'],
];

/** What is missing to build the module, as the apt-get line that installs it; undefined when nothing is. */
export function missingTools() {
  const pkgs = TOOLS.filter(([tool]) => {
    try {
      execFileSync('sh', ['-c', 'command -v "$1" || test -f "$1"', 'sh', tool], { stdio: 'ignore' });
      return false;
    } catch {
      return true;
    }
  }).map(([, pkg]) => pkg);
  return pkgs.length > 0 ? `apt-get install ${[...new Set(pkgs)].join(' ')}` : undefined;
}

/**
 * Builds packaging/selinux/ into `outDir`/iam_authorized_keys.pp and returns
 * its path. The Makefile writes next to the sources, so it runs in a scratch
 * copy. Throws, saying which packages to install, when a tool is missing: an
 * .rpm without the module would fail logins on SELinux-enforcing hosts.
 */
export function buildSelinuxModule(outDir, sources = SOURCES) {
  const missing = missingTools();
  if (missing) {
    throw new Error(`the .rpm's SELinux policy module cannot be built: ${missing}`);
  }
  const work = mkdtempSync(join(tmpdir(), 'iak-selinux-'));
  try {
    for (const ext of ['te', 'fc', 'if'])
      copyFileSync(join(sources, `${MODULE}.${ext}`), join(work, `${MODULE}.${ext}`));
    // NAME: the Makefile would read it from /etc/selinux/config, which a build machine need not have.
    execFileSync('make', ['-s', '-f', DEVEL_MAKEFILE, 'NAME=default', `${MODULE}.pp`], {
      cwd: work,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    const out = join(outDir, `${MODULE}.pp`);
    copyFileSync(join(work, `${MODULE}.pp`), out);
    return out;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

if (process.argv[1] === new URL(import.meta.url).pathname) {
  const outDir = process.argv[2];
  if (!outDir) throw new Error('usage: node scripts/selinux.mjs OUTDIR');
  console.log(buildSelinuxModule(outDir, process.argv[3]));
}

// postinstall: the Bun runtimes `npm run build` compiles the standalone host
// agent with, one per target architecture, from the npm registry. npm installs
// a package for another CPU only as an optional dependency with --cpu, so each
// target is a tiny locked project of its own under packaging/runtimes/. Skipped
// when the locked version is already there (a second `npm ci` costs nothing).
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { RUNTIMES, runtimeBinary, runtimeDir } from './runtimes.mjs';

for (const r of RUNTIMES) {
  const dir = runtimeDir(r);
  const want = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')).optionalDependencies[r.pkg];
  const manifest = join(dir, 'node_modules', r.pkg, 'package.json');
  if (existsSync(manifest) && JSON.parse(readFileSync(manifest, 'utf8')).version === want) continue;
  // The parent npm's settings (prefix, cpu, omit...) must not leak into this install.
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^npm_config_/i.test(k)));
  execFileSync(
    'npm',
    ['ci', `--cpu=${r.cpu}`, '--os=linux', '--libc=glibc', '--no-audit', '--no-fund', '--loglevel=error'],
    { cwd: dir, env, stdio: ['ignore', 'ignore', 'inherit'] },
  );
  if (!existsSync(runtimeBinary(r))) {
    throw new Error(`npm ci in ${dir} did not install ${r.pkg}@${want}`);
  }
}

// `bun build --compile` of one CommonJS bundle for one target, with the flags
// the standalone agent ships with. Used by build.mjs (the agent) and by
// bench/agent.ts (an empty program compiled the same way: the runtime's floor).
//
// Why Bun and not Node's single executable applications: docs/host-agent-binary.md. Options:
// - --bytecode: the bundle is shipped pre-compiled (built here, covered by the
//   binary's checksum), which is most of the start-up gain;
// - --no-compile-autoload-dotenv / -bunfig: by default a compiled Bun program
//   reads `.env` and `bunfig.toml` from its working directory, so whoever could
//   write there would set the agent's AWS endpoint or credentials, or preload
//   code into it. Off; tests check both. tsconfig.json and package.json are off
//   by default, and said so here all the same.
// - --compile-executable-path: the target's runtime with Bun's own environment
//   switches taken out (BUN_BE_BUN, BUN_OPTIONS, the debugger, JSC's file
//   options: bun-env-switches.mjs), since they act before the agent's code.
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { neutraliseBunSwitches } from './bun-env-switches.mjs';
import { RUNTIMES, runtimeBinary } from './runtimes.mjs';

/**
 * Compiles `input` (a .cjs file) with target `r`'s runtime into `outDir/name`
 * and returns that path. Built under its final name (Bun embeds the name: the
 * same input gives the same bytes) in a directory of its own, then renamed:
 * a reader never sees a partial executable.
 */
export function compileStandalone(r, input, name, outDir) {
  const host = RUNTIMES.find((x) => x.cpu === process.arch);
  if (!host) throw new Error(`no Bun runtime for building on ${process.arch}: build on x64 or arm64`);
  const runtime = runtimeBinary(r);
  if (!existsSync(runtime)) {
    throw new Error(`${runtime} missing: run \`npm ci\` (its postinstall installs the Bun runtimes)`);
  }
  const out = join(outDir, name);
  const tmpDir = `.tmp/build-${process.pid}-${r.target}-${name}`;
  const tmp = `${tmpDir}/${name}`;
  mkdirSync(tmpDir, { recursive: true });
  try {
    const base = `${tmpDir}/bun-runtime`;
    writeFileSync(base, neutraliseBunSwitches(readFileSync(runtime)).binary, { mode: 0o755 });
    execFileSync(
      runtimeBinary(host),
      [
        'build',
        input,
        '--compile',
        '--bytecode',
        '--format=cjs',
        '--no-compile-autoload-dotenv',
        '--no-compile-autoload-bunfig',
        '--no-compile-autoload-tsconfig',
        '--no-compile-autoload-package-json',
        `--target=${r.bunTarget}`,
        `--compile-executable-path=${base}`,
        `--outfile=${tmp}`,
      ],
      // Never a download: the runtime is given, and no install cache is looked at.
      {
        stdio: ['ignore', 'ignore', 'inherit'],
        env: { ...process.env, BUN_INSTALL_CACHE_DIR: '/nonexistent' },
      },
    );
    chmodSync(tmp, 0o755);
    renameSync(tmp, out);
  } finally {
    rmSync(tmpDir, { recursive: true, force: true });
  }
  return out;
}

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
//   switches taken out (BUN_BE_BUN, BUN_OPTIONS, the debugger, the bytecode
//   profile files, JSC's file options: bun-env-switches.mjs), since they act
//   before the agent's code;
// - --compile-jit-policy (JIT_POLICY) and --bytecode-order: a cache hit's memory
//   and CPU (see each).
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { neutraliseBunSwitches } from './bun-env-switches.mjs';
import { RUNTIMES, runtimeBinary } from './runtimes.mjs';

/**
 * JavaScriptCore's tier-up thresholds, scaled: a cache hit runs each of its
 * functions a few dozen times, which at the default scale sends seven of them
 * (the entry checksum, the line renderer, ...) through the Baseline JIT. That
 * compiling cost ~3 ms of CPU and ~1.6 MiB per hit (docs/benchmarks.md); at 10
 * a hit runs interpreted throughout, and longer work (admin commands, large
 * groups) still reaches the JITs, ten times later.
 */
export const JIT_POLICY = 10;

/**
 * Compiles `input` (a .cjs file) with target `r`'s runtime into `outDir/name`
 * and returns that path. Built under its final name (Bun embeds the name: the
 * same input gives the same bytes) in a directory of its own, then renamed:
 * a reader never sees a partial executable.
 * - `bytecodeOrder`: order files (bytecode-order.mjs), most important first.
 * - `plainRuntime`: the runtime as Bun ships it, switches left in: only for the
 *   profiling executable bytecode-order.mjs runs and deletes, never shipped.
 */
export function compileStandalone(r, input, name, outDir, { bytecodeOrder = [], plainRuntime = false } = {}) {
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
    const bun = readFileSync(runtime);
    writeFileSync(base, plainRuntime ? bun : neutraliseBunSwitches(bun).binary, { mode: 0o755 });
    const built = spawnSync(
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
        `--compile-jit-policy=${JIT_POLICY}`,
        ...(bytecodeOrder.length > 0 ? [`--bytecode-order=${bytecodeOrder.join(',')}`] : []),
        `--outfile=${tmp}`,
      ],
      // Never a download: the runtime is given, and no install cache is looked at.
      {
        stdio: ['ignore', 'ignore', 'pipe'],
        encoding: 'utf8',
        env: { ...process.env, BUN_INSTALL_CACHE_DIR: '/nonexistent' },
      },
    );
    process.stderr.write(built.stderr ?? '');
    if (built.status !== 0)
      throw new Error(`bun build --compile ${name} failed (${built.status ?? built.signal})`);
    // An order from another bundle only warns: it would ship an executable laid out for nothing.
    if (/bytecode order/i.test(built.stderr ?? ''))
      throw new Error(`bun build --compile ${name}: bytecode order not used`);
    chmodSync(tmp, 0o755);
    renameSync(tmp, out);
  } finally {
    rmSync(tmpDir, { recursive: true, force: true });
  }
  return out;
}

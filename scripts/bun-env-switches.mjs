// Bun's own environment switches that act before the agent's first statement,
// and the build step that takes them out of the Bun runtime the standalone
// agent is compiled with (compileStandalone in build.mjs). Measured on Bun 1.4.5
// (packaging/runtimes/*/package.json); a Bun whose binary lacks one of these
// names fails the build instead of shipping the switch.

/**
 * Variables Bun reads with libc getenv() on a NUL-terminated name. The build
 * turns the name's first byte into NUL: getenv("") finds nothing (glibc and musl
 * return NULL for an empty name) and no environment entry can hold a NUL, so no
 * variable selects the switch any more.
 * - BUN_BE_BUN: the executable ignores its embedded program and is the `bun` CLI
 *   (`BUN_BE_BUN=1 iam-authorized-keys -e CODE` runs CODE).
 * - BUN_OPTIONS: extra runtime options (`--preload=FILE`, `--require=FILE` run
 *   FILE before the agent; `--inspect` opens a debugger).
 * - BUN_INSPECT, BUN_INSPECT_CONNECT_TO, BUN_INSPECT_PRELOAD: the debugger
 *   (listen, connect out, preload), which evaluates code in the process.
 * - BUN_BYTECODE_ORDER_OUT, BUN_BYTECODE_DIGEST_OUT, BUN_BYTECODE_ORDER_NAMES_OUT:
 *   the executable writes a profile of the bytecode it ran to the path given,
 *   as its user (root for admin commands), replacing whatever file or symlink is
 *   there (written aside, then renamed over it): `BUN_BYTECODE_ORDER_OUT=/etc/shadow`
 *   would replace root's shadow file. (Bun 1.4.5; ORDER_NAMES_OUT wrote nothing
 *   from a compiled agent, and is taken out all the same.)
 */
export const NEUTRALISED_BUN_VARIABLES = [
  'BUN_BE_BUN',
  'BUN_OPTIONS',
  'BUN_INSPECT',
  'BUN_INSPECT_CONNECT_TO',
  'BUN_INSPECT_PRELOAD',
  'BUN_BYTECODE_ORDER_OUT',
  'BUN_BYTECODE_ORDER_NAMES_OUT',
  'BUN_BYTECODE_DIGEST_OUT',
];

/**
 * JavaScriptCore options that take a file or directory, which Bun sets from
 * BUN_JSC_<name> before any JavaScript runs. functionOverrides replaces function
 * bodies with code from a file, configFile sets any option from a file,
 * diskCachePath loads compiled code from disk; the others read files (allow
 * lists, predictions) or write dumps where they are told, as root. JSC keeps
 * each name as "JSC_<name>": the build turns the name's first byte into NUL, so
 * no option has that name any more and Bun stops at start with "invalid JSC
 * environment variable" before running anything. (The other JSC options take
 * numbers and switches; the agent refuses to start when any BUN_JSC_* is set.)
 */
export const NEUTRALISED_JSC_OPTIONS = [
  'functionOverrides',
  'configFile',
  'diskCachePath',
  'dumpJITMemoryPath',
  'dumpWasmSourceFileName',
  'wasmOMGFunctionsToDump',
  'jitDumpDirectory',
  'irDumpDirectory',
  'sourceCodeDumpDirectory',
  'textMarkersDirectory',
  'ionGraphDirectory',
  'samplingProfilerPath',
  'fuzzerPredictionsFile',
  'jitAllowlist',
  'dfgAllowlist',
  'ftlAllowlist',
  'bbqAllowlist',
  'omgAllowlist',
  'loopUnrollingAllowlist',
  'dumpGraphAllowlist',
];

/** What to find (NUL-delimited) and which byte of it becomes NUL: the name's first. */
const PATCHES = [
  ...NEUTRALISED_BUN_VARIABLES.map((n) => ({ label: n, needle: `\0${n}\0`, at: 1 })),
  ...NEUTRALISED_JSC_OPTIONS.map((n) => ({ label: `BUN_JSC_${n}`, needle: `\0JSC_${n}\0`, at: 5 })),
];

/**
 * Returns a copy of the Bun runtime `binary` with every switch above taken out,
 * and how many places it changed per switch. Throws when a switch is not found.
 */
export function neutraliseBunSwitches(binary) {
  const out = Buffer.from(binary);
  const counts = new Map();
  for (const { label, needle, at } of PATCHES) {
    const bytes = Buffer.from(needle, 'latin1');
    let n = 0;
    for (let i = out.indexOf(bytes); i !== -1; i = out.indexOf(bytes, i + bytes.length - 1)) {
      out[i + at] = 0;
      n++;
    }
    if (n === 0)
      throw new Error(
        `Bun runtime: ${label} not found, cannot take it out: check scripts/bun-env-switches.mjs`,
      );
    counts.set(label, n);
  }
  return { binary: out, counts };
}

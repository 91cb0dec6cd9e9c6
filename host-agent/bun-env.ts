// Bun's own environment switches. The standalone build takes out of its Bun
// runtime those that would act before this code runs (scripts/bun-env-switches.mjs:
// BUN_BE_BUN, BUN_OPTIONS, the debugger, the bytecode profile files,
// JavaScriptCore's file options); JSC's other options (BUN_JSC_*: numbers and
// switches) are applied by Bun before any JavaScript too. None belongs in the
// environment sshd gives the agent, so the agent refuses to start when one is
// set, on Node as well (where they mean nothing). BUN_CONFIG_VERBOSE_FETCH acts
// later, but would print every request's headers (the session token among them)
// to stderr, which admin units send to the journal.

const BUN_SWITCHES = new Set([
  'BUN_BE_BUN',
  'BUN_OPTIONS',
  'BUN_INSPECT',
  'BUN_INSPECT_CONNECT_TO',
  'BUN_INSPECT_NOTIFY',
  'BUN_INSPECT_PRELOAD',
  'BUN_BYTECODE_ORDER_OUT',
  'BUN_BYTECODE_ORDER_NAMES_OUT',
  'BUN_BYTECODE_DIGEST_OUT',
  'BUN_CONFIG_VERBOSE_FETCH',
]);

/**
 * The Bun switches set in `env` (empty values count: Bun reads some by presence).
 * A plain loop: it runs at every login, and under Bun each array builtin's
 * first call (filter, map) costs ~120k instructions to compile.
 */
export function bunSwitchesSet(env: NodeJS.ProcessEnv): string[] {
  const found: string[] = [];
  for (const [k, v] of Object.entries(env)) {
    if (v !== undefined && (BUN_SWITCHES.has(k) || k.startsWith('BUN_JSC_'))) found.push(k);
  }
  return found.sort();
}

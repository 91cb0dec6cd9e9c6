// Running the host agent (or any program) as a test does by hand, and writing
// its config file: one way for the integration, e2e and reliability suites.
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { withoutNode } from '../../dev/agent-kind.js';
import { TEST_REGION } from '../../dev/moto.js';

export interface AgentRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export interface RunOptions {
  /** Killed after this long (the run then resolves with code 99). */
  readonly timeoutMs?: number;
}

/**
 * Runs a program with env (the whole environment; this process's when absent); resolves with its exit code
 * (99 when it had none: killed) and output whatever the code.
 */
export function runCommand(
  cmd: string,
  argv: readonly string[],
  env?: NodeJS.ProcessEnv,
  o: RunOptions = {},
): Promise<AgentRun> {
  return new Promise((resolve) => {
    execFile(
      cmd,
      [...argv],
      { encoding: 'utf8', ...(env ? { env } : {}), ...(o.timeoutMs ? { timeout: o.timeoutMs } : {}) },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : 99) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

/** Runs the agent; with the standalone kind (dev/agent-kind.ts), where node does not exist. */
export function runAgent(
  agent: string,
  args: readonly string[],
  env?: NodeJS.ProcessEnv,
  o: RunOptions = {},
): Promise<AgentRun> {
  const [cmd, argv] = withoutNode(agent, args);
  return runCommand(cmd, argv, env, o);
}

/** A host agent config: the bucket and cache always, the region TEST_REGION unless given, any other key as is. */
export interface AgentConfig {
  readonly bucket: string;
  readonly region?: string;
  readonly cache: { readonly dir: string; readonly ttlSeconds: number; readonly maxStaleSeconds: number };
  readonly [key: string]: unknown;
}

/** Writes the config as JSON, mode 0644 (the agent refuses a group- or world-writable one); returns its path. */
export function writeConfig(path: string, config: AgentConfig): string {
  writeFileSync(path, JSON.stringify({ region: TEST_REGION, ...config }), { mode: 0o644 });
  return path;
}

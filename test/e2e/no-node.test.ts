// The standalone pass of the end-to-end suite (IAK_E2E_AGENT=standalone) claims
// a host without Node.js: check that claim. Inside withoutNode's namespace no
// node starts, by any name, while the standalone executable answers.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { nodeBinaries, STANDALONE_NAME, withoutNode } from '../../dev/agent-kind.js';

const run = promisify(execFile);
const ROOT = new URL('../..', import.meta.url).pathname;

const tryRun = (cmd: string, args: string[]) =>
  run(...withoutNode(cmd, args, 'standalone')).then(
    (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
    (e: { code: number; stdout: string; stderr: string }) => e,
  );

describe('a host without node, as the standalone pass runs the agent', () => {
  it('finds this node binary among those it hides', () => {
    expect(nodeBinaries()).toContain(process.execPath);
  });

  it.each([
    [process.execPath, ['-e', 'console.log(1)']],
    ['/usr/bin/env', ['node', '-e', 'console.log(1)']],
    ['/bin/sh', ['-c', 'node -e "console.log(1)"']],
  ])('%s %j cannot start node there', async (cmd, args) => {
    const r = await tryRun(cmd, args);
    expect(r.code).not.toBe(0);
    expect(r.stdout).toBe('');
  });

  it('while the standalone executable runs there', async () => {
    const r = await tryRun(`${ROOT}dist/${STANDALONE_NAME}`, ['--config', '/nonexistent', 'alice']);
    // The agent started and decided: a missing config is its exit 2, not a failure to exec.
    expect(r).toMatchObject({ code: 2, stdout: '' });
    expect(r.stderr).toMatch(/iam-authorized-keys: .*\/nonexistent/);
  });
});

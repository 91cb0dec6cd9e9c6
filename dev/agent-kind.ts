// Which form of the host agent the end-to-end tests run: the bundled script
// (default), or with IAK_E2E_AGENT=standalone the standalone executable on a
// host without node. Then every command that runs the agent (sshd, which runs
// it at login, included) starts in a private mount namespace where /dev/null is
// bound over every node binary: a host with no Node.js, as far as the agent can
// tell, while this test process keeps its own node.
import { existsSync, realpathSync } from 'node:fs';
import { join } from 'node:path';

export type AgentKind = 'script' | 'standalone';
export const AGENT_KIND: AgentKind = process.env.IAK_E2E_AGENT === 'standalone' ? 'standalone' : 'script';

/** The standalone executable for this machine, as `npm run build` names it. */
export const STANDALONE_NAME = `iam-authorized-keys-linux-${process.arch === 'arm64' ? 'arm64' : 'x64'}`;

/** Every node binary a child could reach (symlinks resolved; binding the file hides every name for it). */
export function nodeBinaries(): string[] {
  const names = [process.execPath];
  for (const dir of [
    '/usr/local/bin',
    '/usr/bin',
    '/bin',
    '/usr/local/sbin',
    '/usr/sbin',
    '/sbin',
    '/opt/node/bin',
  ])
    for (const n of ['node', 'nodejs']) names.push(join(dir, n));
  return [...new Set(names.filter((p) => existsSync(p)).map((p) => realpathSync(p)))].sort();
}

// $1: how many node paths follow; each gets /dev/null bound over it; the rest is the command.
const HIDE_NODE =
  'n=$1; shift; while [ "$n" -gt 0 ]; do mount --bind /dev/null "$1" || exit 125; shift; n=$((n-1)); done; exec "$@"';

/** Runs cmd where node does not exist (standalone kind), or as it is (script kind). */
export function withoutNode(
  cmd: string,
  args: readonly string[],
  kind: AgentKind = AGENT_KIND,
): [string, string[]] {
  if (kind === 'script') return [cmd, [...args]];
  const nodes = nodeBinaries();
  return [
    'unshare',
    [
      '--mount',
      '--propagation',
      'private',
      '--',
      'sh',
      '-c',
      HIDE_NODE,
      'no-node',
      String(nodes.length),
      ...nodes,
      cmd,
      ...args,
    ],
  ];
}

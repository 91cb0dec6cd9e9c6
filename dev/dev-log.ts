// Runs a command (sshd) whose syslog(3) goes to a test socket: no syslog
// daemon runs here and /dev/log does not exist, and the host's /dev must not
// change under other tests. In a private mount namespace, a directory holding
// the device nodes a daemon needs (bind mounts of the real ones) plus `log`
// (the socket, bound) is mounted over /dev.
import { chmodSync, mkdtempSync } from 'node:fs';
import { join } from 'node:path';

const NODES = ['null', 'zero', 'full', 'random', 'urandom', 'tty', 'ptmx'];

const SCRIPT = [
  'set -e',
  'd=$1; sock=$2; shift 2',
  `for n in ${NODES.join(' ')}; do touch "$d/$n"; mount --bind "/dev/$n" "$d/$n"; done`,
  'mkdir -p "$d/pts" "$d/shm"; mount --rbind /dev/pts "$d/pts"; mount --rbind /dev/shm "$d/shm"',
  'ln -sf /proc/self/fd "$d/fd"; ln -sf /proc/self/fd/0 "$d/stdin"; ln -sf /proc/self/fd/1 "$d/stdout"; ln -sf /proc/self/fd/2 "$d/stderr"',
  'touch "$d/log"; mount --bind "$sock" "$d/log"',
  'mount --rbind "$d" /dev',
  'exec "$@"',
].join('\n');

/** [cmd, args] that run cmd with /dev/log bound to `socket` (a datagram socket, e.g. dev/syslog-sink.ts). */
export function withDevLog(
  socket: string,
  cmd: string,
  args: readonly string[],
  workDir: string,
): [string, string[]] {
  const d = mkdtempSync(join(workDir, 'dev-'));
  chmodSync(d, 0o755); // every user's processes (the agent, the session) open /dev/null and /dev/log
  return [
    'unshare',
    ['--mount', '--propagation', 'private', '--', 'sh', '-c', SCRIPT, 'dev-log', d, socket, cmd, ...args],
  ];
}

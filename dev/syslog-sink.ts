// A unix datagram socket standing in for /dev/log (node cannot serve one, so a
// few lines of python do). The agent's real logger(1) writes to it.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { waitFor } from './wait.js';

const run = promisify(execFile);
const SENTINEL = 'syslog-sink-sentinel-';

export interface SyslogSink {
  readonly socket: string;
  /** The file the sink appends every datagram to, one a line (a log file for ship-audit's file source). */
  readonly file: string;
  /** Every datagram received so far but settled()'s own sentinels, one line each, as logger sent it (`<86>...`). */
  lines(): string[];
  /**
   * Resolves once every datagram sent to the socket so far has been received: no
   * logger(1) for this socket is still running (the agent's run detached), then a
   * sentinel of our own, queued behind whatever they sent, has arrived.
   */
  settled(): Promise<void>;
  stop(): void;
}

/** Pids of running processes but the sink whose argv names the socket (the agent's detached `logger -u SOCKET`). */
function writersOf(socket: string, sinkPid: number | undefined): number[] {
  return readdirSync('/proc')
    .filter((p) => /^\d+$/.test(p) && Number(p) !== sinkPid)
    .filter((p) => {
      try {
        return readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0').includes(socket);
      } catch {
        return false; // exited meanwhile
      }
    })
    .map(Number);
}

export async function startSyslogSink(dir: string): Promise<SyslogSink> {
  const socket = join(dir, 'log.sock');
  const file = join(dir, 'syslog.txt');
  writeFileSync(file, '');
  const py = [
    'import os, socket, sys',
    's = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)',
    's.bind(sys.argv[1])',
    'os.chmod(sys.argv[1], 0o666)',
    'f = open(sys.argv[2], "ab", 0)',
    'print("ready", flush=True)',
    'while True:',
    '    f.write(s.recv(65536).rstrip(b"\\n") + b"\\n")',
  ].join('\n');
  const child: ChildProcess = spawn('python3', ['-c', py, socket, file], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await new Promise<void>((resolve, reject) => {
    child.once('exit', (c) => reject(new Error(`syslog sink exited with ${c}`)));
    child.stdout?.once('data', () => resolve());
  });
  const raw = () => (existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean) : []);
  return {
    socket,
    file,
    lines: () => raw().filter((l) => !l.includes(SENTINEL)),
    settled: async () => {
      await waitFor(() => writersOf(socket, child.pid).length === 0, {
        what: `logger processes writing to ${socket} to exit`,
      });
      const sentinel = `${SENTINEL}${randomUUID()}`;
      await run('logger', ['-u', socket, sentinel]);
      await waitFor(() => raw().some((l) => l.endsWith(sentinel)), { what: 'the sentinel line' });
    },
    stop: () => {
      child.kill('SIGKILL');
    },
  };
}

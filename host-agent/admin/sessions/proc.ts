// A login's live sshd processes, found in /proc from the pid sshd logged with
// "Accepted publickey" (its privileged monitor) and nothing the session's user
// controls: not process names, command lines or the environment. The monitor
// must be root and run an sshd binary; its session processes are its children
// running that same binary (the user cannot make a process a child of a root
// sshd). A pid reused after the session ended is told by its start time: the
// process that logged the login existed at the login, a reused pid started later.
import { readdir, readFile, readlink } from 'node:fs/promises';
import { basename, join } from 'node:path';

/** The binaries whose processes can be a session's (OpenSSH >= 9.8 runs sessions as sshd-session). */
export const SSHD_BINARIES: ReadonlySet<string> = new Set(['sshd', 'sshd-session']);
/** USER_HZ: /proc's start times are in these ticks per second on every Linux ABI. */
export const CLOCK_TICKS = 100;
/**
 * Slack between the login's logged time and the monitor's start time: /proc/stat's
 * btime has whole seconds, a syslog file's time stamps too.
 */
export const START_SLACK_MS = 2000;

/** A process as identified for signalling: the pid and its start (ticks since boot), so a reused pid is never hit. */
export interface ProcRef {
  readonly pid: number;
  readonly startTicks: number;
}

export interface ProcStat extends ProcRef {
  readonly ppid: number;
  readonly state: string;
}

/** /proc/PID/stat; the name (field 2) may hold spaces and parentheses, so fields are counted after the last ')'. */
export function parseStat(text: string): ProcStat | null {
  const close = text.lastIndexOf(')');
  const pid = Number.parseInt(text, 10);
  if (close < 0 || !Number.isSafeInteger(pid)) return null;
  const f = text.slice(close + 2).split(' ');
  // After the name: state (3), ppid (4), ... starttime (22).
  const state = f[0] ?? '';
  const ppid = Number(f[1]);
  const startTicks = Number(f[19]);
  if (state === '' || !Number.isSafeInteger(ppid) || !Number.isSafeInteger(startTicks)) return null;
  return { pid, ppid, startTicks, state };
}

/** The boot time (ms since epoch) from /proc/stat's btime. */
export function parseBtime(procStat: string): number | null {
  const m = /^btime (\d+)$/m.exec(procStat);
  return m ? Number(m[1]) * 1000 : null;
}

/** Real uid from /proc/PID/status. */
export function parseUid(status: string): number | null {
  const m = /^Uid:\s+(\d+)/m.exec(status);
  return m ? Number(m[1]) : null;
}

/** An exe link's binary name; a binary replaced by an upgrade reads "/usr/sbin/sshd (deleted)". */
export function exeName(link: string): string {
  return basename(link.replace(/ \(deleted\)$/, ''));
}

export interface ProcFs {
  /** undefined when the process (or file) is gone. */
  readText(path: string): Promise<string | undefined>;
  readLink(path: string): Promise<string | undefined>;
  /** Entry names; [] when the directory is gone. */
  listDir(path: string): Promise<string[]>;
  listPids(): Promise<number[]>;
}

export type SessionProcs =
  | {
      readonly live: true;
      readonly monitor: ProcRef;
      readonly children: readonly ProcRef[];
      readonly startedAt: number;
    }
  | { readonly live: false; readonly why: string };

/** The live processes of the login that sshd pid `sshdPid` logged at `loginAt` (ms). */
export async function sessionProcs(
  fs: ProcFs,
  sshdPid: number,
  loginAt: number,
  bootAt: number,
): Promise<SessionProcs> {
  const gone = (why: string): SessionProcs => ({ live: false, why });
  if (!Number.isSafeInteger(sshdPid) || sshdPid <= 1) return gone(`pid ${sshdPid} is not a session's`);
  const dir = `/proc/${sshdPid}`;
  const stat = parseStat((await fs.readText(`${dir}/stat`)) ?? '');
  if (!stat || stat.state === 'Z' || stat.state === 'X') return gone('no such process');
  const exe = await fs.readLink(`${dir}/exe`);
  if (exe === undefined || !SSHD_BINARIES.has(exeName(exe))) return gone(`pid ${sshdPid} is not an sshd`);
  if (parseUid((await fs.readText(`${dir}/status`)) ?? '') !== 0) return gone(`pid ${sshdPid} is not root's`);
  const startedAt = bootAt + (stat.startTicks * 1000) / CLOCK_TICKS;
  if (startedAt > loginAt + START_SLACK_MS) return gone(`pid ${sshdPid} started after the login (reused)`);
  const children: ProcRef[] = [];
  for (const pid of await fs.listPids()) {
    if (pid === sshdPid) continue;
    const c = parseStat((await fs.readText(`/proc/${pid}/stat`)) ?? '');
    if (!c || c.ppid !== sshdPid || c.state === 'Z') continue;
    if ((await fs.readLink(`/proc/${pid}/exe`)) !== exe) continue;
    children.push({ pid, startTicks: c.startTicks });
  }
  return { live: true, monitor: { pid: sshdPid, startTicks: stat.startTicks }, children, startedAt };
}

/** The process is still the one identified earlier (same pid, same start, not a zombie). */
export async function isSameProcess(fs: ProcFs, p: ProcRef): Promise<boolean> {
  const s = parseStat((await fs.readText(`/proc/${p.pid}/stat`)) ?? '');
  return s !== null && s.startTicks === p.startTicks && s.state !== 'Z' && s.state !== 'X';
}

const orUndefined = <T>(p: Promise<T>): Promise<T | undefined> => p.catch(() => undefined);

/** The real /proc (root can read every process's exe link). */
export function realProcFs(proc = '/proc'): ProcFs {
  const at = (path: string) => (proc === '/proc' ? path : join(proc, path.slice('/proc'.length)));
  return {
    readText: (path) => orUndefined(readFile(at(path), 'utf8')),
    readLink: (path) => orUndefined(readlink(at(path))),
    listDir: async (path) => (await orUndefined(readdir(at(path)))) ?? [],
    async listPids() {
      return (await readdir(proc)).filter((e) => /^\d+$/.test(e)).map(Number);
    },
  };
}

import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  CLOCK_TICKS,
  exeName,
  isSameProcess,
  type ProcFs,
  parseBtime,
  parseStat,
  parseUid,
  realProcFs,
  sessionProcs,
} from '../../../../../host-agent/admin/sessions/proc.js';

/** /proc/PID/stat with the fields sessionProcs reads (state, ppid, starttime). */
const stat = (pid: number, comm: string, state: string, ppid: number, startTicks: number) =>
  `${pid} (${comm}) ${state} ${ppid} ${Array.from({ length: 17 }, () => '0').join(' ')} ${startTicks} 0 0\n`;

interface FakeProc {
  comm: string;
  state?: string;
  ppid: number;
  startTicks: number;
  exe: string;
  uid: number;
}

function fakeFs(procs: Record<number, FakeProc>): ProcFs {
  const get = (path: string) => {
    const m = /^\/proc\/(\d+)\/(\w+)$/.exec(path);
    const p = m ? procs[Number(m[1])] : undefined;
    return m && p ? { pid: Number(m[1]), file: m[2], p } : undefined;
  };
  return {
    async readText(path) {
      const g = get(path);
      if (!g) return undefined;
      if (g.file === 'stat') return stat(g.pid, g.p.comm, g.p.state ?? 'S', g.p.ppid, g.p.startTicks);
      if (g.file === 'status')
        return `Name:\t${g.p.comm}\nUid:\t${g.p.uid}\t${g.p.uid}\t${g.p.uid}\t${g.p.uid}\n`;
      return undefined;
    },
    async readLink(path) {
      return get(path)?.p.exe;
    },
    async listDir() {
      return [];
    },
    async listPids() {
      return Object.keys(procs).map(Number);
    },
  };
}

const BOOT = Date.parse('2026-12-07T00:00:00Z');
/** The login was logged 3600 s after boot. */
const LOGIN = BOOT + 3600_000;
const at = (sinceBootMs: number) => (sinceBootMs * CLOCK_TICKS) / 1000;

/** A session as OpenSSH 9.2 runs it: listener 100 -> monitor 500 (root) -> child 501 (alice's uid) -> shell 502. */
const session = (over: Partial<Record<number, Partial<FakeProc>>> = {}): Record<number, FakeProc> => {
  const base: Record<number, FakeProc> = {
    1: { comm: 'systemd', ppid: 0, startTicks: 0, exe: '/usr/lib/systemd/systemd', uid: 0 },
    100: { comm: 'sshd', ppid: 1, startTicks: at(5_000), exe: '/usr/sbin/sshd', uid: 0 },
    500: { comm: 'sshd', ppid: 100, startTicks: at(3599_500), exe: '/usr/sbin/sshd', uid: 0 },
    501: { comm: 'sshd', ppid: 500, startTicks: at(3600_100), exe: '/usr/sbin/sshd', uid: 1001 },
    502: { comm: 'sh', ppid: 501, startTicks: at(3600_200), exe: '/usr/bin/dash', uid: 1001 },
    // The user's own process, renamed to look like the session's sshd: never a child of the monitor.
    503: { comm: 'sshd', ppid: 502, startTicks: at(3600_300), exe: '/usr/sbin/sshd', uid: 1001 },
  };
  for (const [pid, o] of Object.entries(over)) {
    if (o === undefined) continue;
    base[Number(pid)] = { ...(base[Number(pid)] as FakeProc), ...o };
  }
  return base;
};

describe('parsers', () => {
  it.each([
    ['a plain name', stat(42, 'sshd', 'S', 7, 1234), { pid: 42, ppid: 7, startTicks: 1234, state: 'S' }],
    [
      'a name with spaces and parentheses (a user can pick it)',
      stat(43, 'x) R 1 (y', 'S', 9, 99),
      { pid: 43, ppid: 9, startTicks: 99, state: 'S' },
    ],
    ['garbage', 'nothing here', null],
  ])('parseStat: %s', (_n, text, want) => {
    expect(parseStat(text)).toEqual(want);
  });

  it('parseStat reads this process from the real /proc', () => {
    const s = parseStat(readFileSync('/proc/self/stat', 'utf8'));
    expect(s?.pid).toBe(process.pid);
    expect(s?.ppid).toBe(process.ppid);
  });

  it('parseBtime, parseUid, exeName', () => {
    expect(parseBtime('cpu 1 2\nbtime 1765065600\nprocesses 9\n')).toBe(1765065600_000);
    expect(parseBtime('cpu 1 2\n')).toBeNull();
    expect(parseUid('Name:\tsshd\nUid:\t0\t0\t0\t0\n')).toBe(0);
    expect(parseUid('Name:\tsshd\n')).toBeNull();
    expect(exeName('/usr/sbin/sshd (deleted)')).toBe('sshd');
    expect(exeName('/usr/lib/openssh/sshd-session')).toBe('sshd-session');
  });
});

describe('sessionProcs: a login sshd logged -> its live sshd processes', () => {
  it('the monitor and its sshd child; not the shell, not a renamed user process', async () => {
    const r = await sessionProcs(fakeFs(session()), 500, LOGIN, BOOT);
    expect(r).toEqual({
      live: true,
      monitor: { pid: 500, startTicks: at(3599_500) },
      children: [{ pid: 501, startTicks: at(3600_100) }],
      startedAt: BOOT + 3599_500,
    });
  });

  it.each<[string, Partial<Record<number, Partial<FakeProc>>>, number, string]>([
    ['the pid is gone', {}, 777, 'no such process'],
    ['the monitor is a zombie', { 500: { state: 'Z' } }, 500, 'no such process'],
    [
      'the pid now runs another program named sshd',
      { 500: { exe: '/usr/bin/python3' } },
      500,
      'pid 500 is not an sshd',
    ],
    ['the pid is not root', { 500: { uid: 1001 } }, 500, "pid 500 is not root's"],
    [
      'the pid was reused: started after the login',
      { 500: { startTicks: at(3603_000) } },
      500,
      'pid 500 started after the login (reused)',
    ],
    ['pid 1', {}, 1, "pid 1 is not a session's"],
  ])('not live: %s', async (_n, over, pid, why) => {
    expect(await sessionProcs(fakeFs(session(over)), pid, LOGIN, BOOT)).toEqual({ live: false, why });
  });

  it('within the slack of whole-second time stamps, a monitor that started just after the logged time is the same', async () => {
    const r = await sessionProcs(fakeFs(session({ 500: { startTicks: at(3601_500) } })), 500, LOGIN, BOOT);
    expect(r.live).toBe(true);
  });

  it('an sshd binary replaced by an upgrade (exe "... (deleted)") still counts, children matched by the same link', async () => {
    const deleted = '/usr/sbin/sshd (deleted)';
    const r = await sessionProcs(
      fakeFs(session({ 500: { exe: deleted }, 501: { exe: deleted } })),
      500,
      LOGIN,
      BOOT,
    );
    expect(r.live && r.children.map((c) => c.pid)).toEqual([501]);
  });

  it('OpenSSH >= 9.8: sshd-session processes', async () => {
    const s = '/usr/lib/openssh/sshd-session';
    const r = await sessionProcs(fakeFs(session({ 500: { exe: s }, 501: { exe: s } })), 500, LOGIN, BOOT);
    expect(r.live && r.children.map((c) => c.pid)).toEqual([501]);
  });

  it('a zombie child is left out', async () => {
    const r = await sessionProcs(fakeFs(session({ 501: { state: 'Z' } })), 500, LOGIN, BOOT);
    expect(r.live && r.children).toEqual([]);
  });
});

describe('isSameProcess', () => {
  it('same pid and start: yes; another start (a reused pid) or gone: no', async () => {
    const fs = fakeFs(session());
    expect(await isSameProcess(fs, { pid: 501, startTicks: at(3600_100) })).toBe(true);
    expect(await isSameProcess(fs, { pid: 501, startTicks: at(3600_000) })).toBe(false);
    expect(await isSameProcess(fs, { pid: 999, startTicks: 0 })).toBe(false);
  });

  it('on the real /proc: this process is itself', async () => {
    const me = parseStat(readFileSync('/proc/self/stat', 'utf8'));
    expect(me).not.toBeNull();
    expect(await isSameProcess(realProcFs(), { pid: process.pid, startTicks: me?.startTicks ?? -1 })).toBe(
      true,
    );
  });
});

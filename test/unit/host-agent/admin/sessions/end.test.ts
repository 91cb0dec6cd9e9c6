import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { type EndDeps, endProcesses } from '../../../../../host-agent/admin/sessions/end.js';
import {
  isSameProcess,
  type ProcRef,
  parseStat,
  realProcFs,
} from '../../../../../host-agent/admin/sessions/proc.js';

/** A process table: which pids exist (with their start), which exit on SIGHUP. */
function fakeDeps(table: Map<number, { startTicks: number; diesOnHup: boolean }>) {
  const sent: [number, string][] = [];
  let t = 0;
  const deps: EndDeps = {
    kill(pid, signal) {
      sent.push([pid, signal]);
      const p = table.get(pid);
      if (!p) throw Object.assign(new Error('kill ESRCH'), { code: 'ESRCH' });
      if (signal === 'SIGKILL' || p.diesOnHup) table.delete(pid);
    },
    async isSame(p: ProcRef) {
      return table.get(p.pid)?.startTicks === p.startTicks;
    },
    async sleep(ms) {
      t += ms;
    },
    now: () => t,
    self: 4000,
  };
  return { deps, sent };
}

describe('endProcesses', () => {
  it('SIGHUP to each; no SIGKILL when they exit', async () => {
    const table = new Map([
      [500, { startTicks: 10, diesOnHup: true }],
      [501, { startTicks: 11, diesOnHup: true }],
    ]);
    const { deps, sent } = fakeDeps(table);
    const r = await endProcesses(
      [
        { pid: 500, startTicks: 10 },
        { pid: 501, startTicks: 11 },
      ],
      deps,
      5000,
    );
    expect(r).toEqual({ hup: [500, 501], killed: [], left: [] });
    expect(sent).toEqual([
      [500, 'SIGHUP'],
      [501, 'SIGHUP'],
    ]);
  });

  it('SIGKILL after the grace period to those still there', async () => {
    const table = new Map([
      [500, { startTicks: 10, diesOnHup: true }],
      [501, { startTicks: 11, diesOnHup: false }],
    ]);
    const { deps, sent } = fakeDeps(table);
    const r = await endProcesses(
      [
        { pid: 500, startTicks: 10 },
        { pid: 501, startTicks: 11 },
      ],
      deps,
      5000,
    );
    expect(r).toEqual({ hup: [500, 501], killed: [501], left: [] });
    expect(sent.at(-1)).toEqual([501, 'SIGKILL']);
    expect(deps.now()).toBeGreaterThanOrEqual(5000);
  });

  it('never pid 1, pid 0, this process, or a pid now held by another process (other start time)', async () => {
    const table = new Map([
      [1, { startTicks: 0, diesOnHup: false }],
      [4000, { startTicks: 5, diesOnHup: false }],
      [600, { startTicks: 99, diesOnHup: false }],
    ]);
    const { deps, sent } = fakeDeps(table);
    const r = await endProcesses(
      [
        { pid: 1, startTicks: 0 },
        { pid: 0, startTicks: 0 },
        { pid: 4000, startTicks: 5 },
        { pid: 600, startTicks: 42 },
      ],
      deps,
      1000,
    );
    expect(r).toEqual({ hup: [], killed: [], left: [] });
    expect(sent).toEqual([]);
  });

  it('real processes: one that exits on SIGHUP, one that ignores it and is killed', async () => {
    const start = (script: string) => {
      const c = spawn('/bin/sh', ['-c', script], { stdio: 'ignore' });
      return c;
    };
    const polite = start('exec sleep 600');
    const stubborn = start("trap '' HUP; while :; do sleep 1; done");
    const fs = realProcFs();
    const ref = async (pid: number | undefined): Promise<ProcRef> => {
      const s = parseStat((await fs.readText(`/proc/${pid}/stat`)) ?? '');
      if (!s) throw new Error(`no process ${pid}`);
      return { pid: s.pid, startTicks: s.startTicks };
    };
    const exited = (c: ReturnType<typeof spawn>) =>
      new Promise<NodeJS.Signals | null>((r) => c.once('exit', (_code, sig) => r(sig)));
    const politeExit = exited(polite);
    const stubbornExit = exited(stubborn);
    // Let the trap be set before the signal comes.
    await new Promise((r) => setTimeout(r, 300));
    const r = await endProcesses(
      [await ref(polite.pid), await ref(stubborn.pid)],
      {
        kill: (pid, signal) => process.kill(pid, signal),
        isSame: (p) => isSameProcess(fs, p),
        sleep: (ms) => new Promise((res) => setTimeout(res, ms)),
        now: Date.now,
        self: process.pid,
      },
      1000,
    );
    expect(await politeExit).toBe('SIGHUP');
    expect(await stubbornExit).toBe('SIGKILL');
    expect(r).toEqual({ hup: [polite.pid, stubborn.pid], killed: [stubborn.pid], left: [] });
  });
});

// Ending one session: SIGHUP to its sshd processes (the monitor forwards it to
// the session's child, which exits and drops the connection), then SIGKILL to
// whichever of those same processes is still there after the grace period.
// Each signal goes only to a process that is still the one identified (pid and
// start time), never to pid 1 or to this process.
import type { ProcRef } from './proc.js';

export interface EndDeps {
  kill(pid: number, signal: 'SIGHUP' | 'SIGKILL'): void;
  isSame(p: ProcRef): Promise<boolean>;
  sleep(ms: number): Promise<void>;
  now(): number;
  /** This process: never signalled. */
  readonly self: number;
}

export interface EndResult {
  /** Pids that got SIGHUP. */
  readonly hup: number[];
  /** Pids still there after the grace period that got SIGKILL. */
  readonly killed: number[];
  /** Pids still there after SIGKILL (should not happen). */
  readonly left: number[];
}

const POLL_MS = 100;

function send(deps: EndDeps, pid: number, signal: 'SIGHUP' | 'SIGKILL'): boolean {
  try {
    deps.kill(pid, signal);
    return true;
  } catch (e) {
    // Gone between the check and the signal: nothing to end.
    if ((e as NodeJS.ErrnoException).code === 'ESRCH') return false;
    throw e;
  }
}

async function alive(deps: EndDeps, procs: readonly ProcRef[]): Promise<ProcRef[]> {
  const out: ProcRef[] = [];
  for (const p of procs) if (await deps.isSame(p)) out.push(p);
  return out;
}

export async function endProcesses(
  procs: readonly ProcRef[],
  deps: EndDeps,
  graceMs: number,
): Promise<EndResult> {
  const targets = procs.filter((p) => Number.isSafeInteger(p.pid) && p.pid > 1 && p.pid !== deps.self);
  const hup: number[] = [];
  for (const p of await alive(deps, targets)) if (send(deps, p.pid, 'SIGHUP')) hup.push(p.pid);
  const until = deps.now() + graceMs;
  let rest = await alive(deps, targets);
  while (rest.length > 0 && deps.now() < until) {
    await deps.sleep(POLL_MS);
    rest = await alive(deps, rest);
  }
  const killed: number[] = [];
  for (const p of rest) if (send(deps, p.pid, 'SIGKILL')) killed.push(p.pid);
  let left: ProcRef[] = [];
  if (killed.length > 0) {
    await deps.sleep(POLL_MS);
    left = await alive(deps, rest);
  }
  return { hup, killed, left: left.map((p) => p.pid) };
}

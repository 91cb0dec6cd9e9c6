// Processes of a local account, as /proc shows them: tests wait for an account to be idle before usermod, and
// kill what still runs as an account before userdel hands its uid to the next account useradd makes.
import { readdirSync, readFileSync } from 'node:fs';
import { waitFor } from './wait.js';

const procText = (pid: number, file: string): string => {
  try {
    return readFileSync(`/proc/${pid}/${file}`, 'utf8');
  } catch {
    return ''; // exited meanwhile
  }
};

/**
 * Pids of live processes whose real, effective or saved uid is `uid`: what usermod calls busy. Zombies are left out,
 * as usermod leaves them out (this container's pid 1 never reaps the orphans it inherits).
 */
export function processesOfUid(uid: number): number[] {
  return readdirSync('/proc')
    .filter((name) => /^\d+$/.test(name))
    .map(Number)
    .filter((pid) => {
      const status = procText(pid, 'status');
      if (/^State:\s+[ZX]/m.test(status)) return false;
      const ids = /^Uid:\s+(\d+)\s+(\d+)\s+(\d+)/m.exec(status)?.slice(1, 4).map(Number);
      return ids?.includes(uid) ?? false;
    });
}

/**
 * Waits until `uid` has no process left. After an ssh client exits, sshd's session process for that account can
 * live on for a moment (long on a loaded machine): usermod and sync-users --renumber would call the account busy.
 */
export async function waitUntilNoProcesses(uid: number, timeoutMs = 15_000): Promise<void> {
  try {
    await waitFor(() => processesOfUid(uid).length === 0, { timeoutMs });
  } catch {
    const left = processesOfUid(uid).map((pid) => {
      const state = /^State:\s+(.*)$/m.exec(procText(pid, 'status'))?.[1] ?? '?';
      return `${pid} ${procText(pid, 'cmdline').replaceAll('\0', ' ').trim()} [${state}]`;
    });
    throw new Error(`uid ${uid} still has processes after ${timeoutMs} ms: ${left.join(', ')}`);
  }
}

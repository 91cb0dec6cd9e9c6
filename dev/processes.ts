// Waits for a local account to be idle before usermod: a process of an earlier login (or, under a recycled uid,
// another test's leftovers) makes usermod and sync-users --renumber call the account busy. The /proc scan is the
// one doctor uses (host-agent/admin/sys.ts: zombies left out, as usermod leaves them out).
import { processesOf } from '../host-agent/admin/sys.js';
import { waitFor } from './wait.js';

/** Resolves once `uid` runs no process; else fails naming each one left (pid and argv). */
export async function waitUntilNoProcesses(uid: number, timeoutMs = 15_000): Promise<void> {
  try {
    await waitFor(async () => (await processesOf(uid)).length === 0, { timeoutMs });
  } catch {
    const left = (await processesOf(uid)).map((p) => `${p.pid} ${p.argv.join(' ')}`);
    throw new Error(`uid ${uid} still has processes after ${timeoutMs} ms: ${left.join(', ')}`);
  }
}

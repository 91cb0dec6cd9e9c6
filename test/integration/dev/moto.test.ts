// dev/moto.ts: the moto_server every test, bench and the demo start.
import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { startMoto, stopChild } from '../../../dev/moto.js';

describe('startMoto', () => {
  it('stop() ends moto_server, and a second stop() resolves too', async () => {
    const moto = await startMoto();
    expect((await fetch(`${moto.endpoint}/moto-api/`)).status).toBeLessThan(500);
    await moto.stop();
    await moto.stop();
    await expect(fetch(`${moto.endpoint}/moto-api/`)).rejects.toThrow();
  });

  it('stopChild resolves again for a child it had to SIGKILL (the demo stops moto twice; it hung there)', async () => {
    // Ignores SIGTERM, as a busy moto_server can for longer than stop waits.
    const child = spawn('sh', ['-c', 'trap "" TERM; echo ready; while :; do sleep 1; done'], {
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    await new Promise<void>((r) => child.stdout?.once('data', () => r()));
    await stopChild(child);
    expect(child.signalCode).toBe('SIGKILL');
    await stopChild(child);
  });
});

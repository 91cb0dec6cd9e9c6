// A test server on a free loopback port: the one start-up the fakes, proxies and
// tests that stand in for AWS, IMDS or a hung endpoint share.
import type { Server } from 'node:net';

export interface Loopback {
  readonly port: number;
  /** http://127.0.0.1:port */
  readonly endpoint: string;
}

/** Listens on 127.0.0.1 at a port the system picks; resolves once it listens. */
export function listenLoopback(server: Server): Promise<Loopback> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      const addr = server.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      resolve({ port, endpoint: `http://127.0.0.1:${port}` });
    });
  });
}

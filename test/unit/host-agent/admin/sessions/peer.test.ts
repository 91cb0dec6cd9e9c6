import { connect, createServer, type Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { canonicalIp, connectedTo, parseTcpTable } from '../../../../../host-agent/admin/sessions/peer.js';
import { realProcFs } from '../../../../../host-agent/admin/sessions/proc.js';

describe('canonicalIp', () => {
  it.each([
    ['10.0.3.7', '10.0.3.7'],
    ['2001:0DB8:0:0:0:0:0:1', '2001:db8::1'],
    ['2001:db8::1', '2001:db8::1'],
    ['::ffff:127.0.0.1', '127.0.0.1'],
    ['::ffff:7f00:1', '127.0.0.1'],
    ['fe80::1%eth0', 'fe80::1'],
  ])('%s -> %s', (ip, want) => {
    expect(canonicalIp(ip)).toBe(want);
  });
});

describe('parseTcpTable', () => {
  it('IPv4, IPv6 and IPv4-mapped remote addresses by inode; the header and junk skipped', () => {
    const tcp = [
      '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode',
      '   0: 0100007F:0016 0100007F:9E34 01 00000000:00000000 00:00000000 00000000     0        0 5000 1 0 20 4 30 10 -1',
      '   1: 0100007F:0016 0503000A:C350 01 00000000:00000000 00:00000000 00000000     0        0 5001 1 0 20 4 30 10 -1',
      'garbage',
    ].join('\n');
    const tcp6 = [
      '  sl  local_address                         remote_address                        st ...',
      '   0: 00000000000000000000000001000000:0016 B80D0120000000000000000001000000:D431 01 00000000:00000000 00:00000000 00000000     0        0 6000 1 0',
      '   1: 0000000000000000FFFF00000100007F:0016 0000000000000000FFFF00000100007F:A000 01 00000000:00000000 00:00000000 00000000     0        0 6001 1 0',
    ].join('\n');
    expect([...parseTcpTable(tcp)]).toEqual([
      [5000, { ip: '127.0.0.1', port: 40500 }],
      [5001, { ip: '10.0.3.5', port: 50000 }],
    ]);
    expect([...parseTcpTable(tcp6)]).toEqual([
      [6000, { ip: '2001:db8::1', port: 54321 }],
      [6001, { ip: '127.0.0.1', port: 40960 }],
    ]);
  });
});

describe('connectedTo (real sockets, real /proc)', () => {
  it('this process holds a socket connected to the client port, and none to another port', async () => {
    const accepted: Socket[] = [];
    const server = createServer((s) => accepted.push(s));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    const client = connect(port, '127.0.0.1');
    await new Promise<void>((r) => client.once('connect', r));
    try {
      const fs = realProcFs();
      // The accepted socket's peer is the client's own address and port.
      expect(
        await connectedTo(fs, [process.pid], { ip: '127.0.0.1', port: client.localPort as number }),
      ).toBe(true);
      expect(await connectedTo(fs, [process.pid], { ip: '127.0.0.1', port: 1 })).toBe(false);
      expect(await connectedTo(fs, [process.pid], { ip: '10.9.9.9', port: client.localPort as number })).toBe(
        false,
      );
    } finally {
      client.destroy();
      for (const s of accepted) s.destroy();
      server.close();
    }
  });
});

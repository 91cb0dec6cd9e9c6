// The client a session's sshd processes are connected to, from the kernel's
// own tables: their open sockets (/proc/PID/fd -> socket:[inode]) looked up in
// /proc/PID/net/tcp and tcp6. A login record whose sshd pid is not connected to
// the record's client address and port is not that session (a reused pid, or
// a forged log line naming another session's pid), whatever its log lines say.
import type { ProcFs } from './proc.js';

export interface Peer {
  readonly ip: string;
  readonly port: number;
}

/** An address in one canonical text form (IPv6 compressed and lower case, an IPv4-mapped one as IPv4). */
export function canonicalIp(ip: string): string {
  const bare = ip.replace(/%.*$/, '');
  if (!bare.includes(':')) return bare;
  try {
    const h = new URL(`http://[${bare}]/`).hostname.slice(1, -1);
    const mapped = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(h);
    if (!mapped) return h;
    const [hi, lo] = [Number.parseInt(mapped[1] as string, 16), Number.parseInt(mapped[2] as string, 16)];
    return [hi >> 8, hi & 255, lo >> 8, lo & 255].join('.');
  } catch {
    return bare;
  }
}

/** /proc/net/tcp's address: IPv4 as one 32-bit word, IPv6 as four, each in the kernel's (little-endian) byte order. */
function hexAddress(hex: string): string | null {
  if (!/^[0-9A-Fa-f]+$/.test(hex) || (hex.length !== 8 && hex.length !== 32)) return null;
  const bytes: number[] = [];
  for (let w = 0; w < hex.length; w += 8) {
    const word = hex.slice(w, w + 8);
    for (let b = 6; b >= 0; b -= 2) bytes.push(Number.parseInt(word.slice(b, b + 2), 16));
  }
  if (bytes.length === 4) return bytes.join('.');
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2)
    groups.push((((bytes[i] as number) << 8) | (bytes[i + 1] as number)).toString(16));
  return canonicalIp(groups.join(':'));
}

/** Remote address and port by socket inode, from /proc/net/tcp or tcp6 text. */
export function parseTcpTable(text: string): Map<number, Peer> {
  const out = new Map<number, Peer>();
  for (const line of text.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    const [remHex, portHex] = (f[2] ?? '').split(':');
    const ip = hexAddress(remHex ?? '');
    const inode = Number(f[9]);
    if (ip === null || !portHex || !Number.isSafeInteger(inode) || inode <= 0) continue;
    out.set(inode, { ip, port: Number.parseInt(portHex, 16) });
  }
  return out;
}

/** Whether one of these processes holds a TCP socket connected to `peer`. */
export async function connectedTo(fs: ProcFs, pids: readonly number[], peer: Peer): Promise<boolean> {
  const first = pids[0];
  if (first === undefined) return false;
  // The tables of the sessions' network namespace.
  const table = new Map<number, Peer>();
  for (const t of ['tcp', 'tcp6']) {
    for (const [k, v] of parseTcpTable((await fs.readText(`/proc/${first}/net/${t}`)) ?? '')) table.set(k, v);
  }
  const want = canonicalIp(peer.ip);
  for (const pid of pids) {
    for (const fd of await fs.listDir(`/proc/${pid}/fd`)) {
      const m = /^socket:\[(\d+)\]$/.exec((await fs.readLink(`/proc/${pid}/fd/${fd}`)) ?? '');
      const p = m ? table.get(Number(m[1])) : undefined;
      if (p && p.port === peer.port && p.ip === want) return true;
    }
  }
  return false;
}

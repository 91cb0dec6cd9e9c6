// CRC-32 (IEEE 802.3, zlib's): native under Bun (the standalone agent), a
// table-driven loop under node, which reads such a checksum only when the
// standalone wrote the cache before it (see cache.ts for who writes which).

type Crc32 = (b: Uint8Array) => number;
const native = (globalThis as { Bun?: { hash?: { crc32?: Crc32 } } }).Bun?.hash?.crc32;

let table: Uint32Array | undefined;

function crcTable(): Uint32Array {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
}

/** CRC-32 in plain JS, byte by byte. */
export function crc32js(b: Uint8Array): number {
  table ??= crcTable();
  let c = 0xffffffff;
  for (let i = 0; i < b.length; i++) c = (table[(c ^ (b[i] as number)) & 0xff] as number) ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** Whether this runtime computes CRC-32 natively. */
export const CRC32_NATIVE = native !== undefined;

export const crc32: Crc32 = native ? (b) => native(b) >>> 0 : crc32js;

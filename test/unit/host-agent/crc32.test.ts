import { randomBytes } from 'node:crypto';
import { crc32 as zlibCrc32 } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { CRC32_NATIVE, crc32, crc32js } from '../../../host-agent/crc32.js';

describe('crc32js', () => {
  it.each([
    ['', 0],
    ['123456789', 0xcbf43926], // the CRC-32/ISO-HDLC check value
    ['hello', 907060870],
  ])('%j -> %d', (text, want) => {
    expect(crc32js(Buffer.from(text))).toBe(want);
  });

  it("matches zlib's CRC-32 (what Bun.hash.crc32 computes) on random bytes, at any offset", () => {
    for (let i = 0; i < 50; i++) {
      const b = randomBytes(i * 37);
      expect(crc32js(b.subarray(i % 3))).toBe(zlibCrc32(b.subarray(i % 3)));
    }
  });

  it('is what node uses (Bun has its own)', () => {
    expect(CRC32_NATIVE).toBe(false);
    expect(crc32).toBe(crc32js);
  });
});

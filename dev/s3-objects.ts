// Objects put straight into the emulator for tests and benches, written as the
// publisher writes them (lambda/bucket.ts putText): with the SHA-256 checksum
// agents check every body against. Without it the standalone agent asks twice.

/** PutObject input for `Body` at `Key`, with the publisher's checksum. */
export function asPublished(Bucket: string, Key: string, Body: string | Buffer) {
  return { Bucket, Key, Body, ChecksumAlgorithm: 'SHA256' } as const;
}

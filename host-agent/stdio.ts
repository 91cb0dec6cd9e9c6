// Writes to stdout/stderr with fs.writeSync: touching process.stdout or
// process.stderr on a pipe (as under sshd) loads net and streams, ~4 ms of
// start-up per login.
import { writeSync } from 'node:fs';

const sleeper = new Int32Array(new SharedArrayBuffer(4));

/**
 * Writes all of `text` as UTF-8; waits out EAGAIN (a non-blocking pipe whose reader is slow).
 * The string goes to write(2) as is first, which answers in one call when the pipe takes it all:
 * under Bun, Buffer.from is JavaScript compiled on its first call (~0.25M instructions of a
 * cache hit's ~11.5M, docs/benchmarks.md), so the bytes are made only for what is left.
 */
export function writeAllSync(fd: number, text: string): void {
  let off = firstWrite(fd, text);
  if (off === Buffer.byteLength(text)) return;
  const buf = Buffer.from(text);
  let waits = 0;
  while (off < buf.length) {
    try {
      off += writeSync(fd, buf, off, buf.length - off);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EAGAIN' || ++waits > 5000) throw e;
      Atomics.wait(sleeper, 0, 0, 1);
    }
  }
}

/** Bytes of `text` one write(2) took; 0 on EAGAIN. */
function firstWrite(fd: number, text: string): number {
  try {
    return writeSync(fd, text);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EAGAIN') throw e;
    return 0;
  }
}

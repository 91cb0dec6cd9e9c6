// Writes to stdout/stderr with fs.writeSync: touching process.stdout or
// process.stderr on a pipe (as under sshd) loads net and streams, ~4 ms of
// start-up per login.
import { writeSync } from 'node:fs';

const sleeper = new Int32Array(new SharedArrayBuffer(4));

/** Writes all of `text`; waits out EAGAIN (a non-blocking pipe whose reader is slow). */
export function writeAllSync(fd: number, text: string): void {
  const buf = Buffer.from(text);
  let off = 0;
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

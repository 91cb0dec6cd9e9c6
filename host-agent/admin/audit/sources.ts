// Where ship-audit reads sshd's and the agent's messages: the journal
// (journalctl -o json after a saved cursor) or a syslog file (inode + offset,
// following one logrotate rename). The first run starts at the end: the trail
// begins when ship-audit first runs, not with the log's history.
import { spawn } from 'node:child_process';
import { open, stat } from 'node:fs/promises';
import { AGENT_IDENT, type LogEntry, parseJournalEntry, parseSyslogLine, SSHD_IDENTS } from './messages.js';

export type SourceCursor =
  | { readonly kind: 'journal'; readonly cursor: string | null; readonly since: number }
  | { readonly kind: 'file'; readonly path: string; readonly ino: number; readonly offset: number };

export interface LogBatch {
  readonly entries: LogEntry[];
  readonly cursor: SourceCursor;
}

export interface LogSource {
  readonly mode: 'journal' | 'file';
  read(cursor: SourceCursor | null, now: number): Promise<LogBatch>;
}

/** journalctl failed, or a log file could not be read. */
export class LogSourceError extends Error {
  override name = 'LogSourceError';
}

/** One run reads at most this much; the rest waits for the next run (the cursor says where). */
export const MAX_ENTRIES_PER_RUN = 50_000;
export const MAX_FILE_BYTES_PER_RUN = 32 * 1024 * 1024;

export function journalArgs(cursor: SourceCursor | null, now: number): string[] {
  const from =
    cursor?.kind === 'journal' && cursor.cursor !== null
      ? ['--after-cursor', cursor.cursor]
      : ['--since', `@${Math.floor((cursor?.kind === 'journal' ? cursor.since : now) / 1000)}`];
  return [
    '-o',
    'json',
    '--no-pager',
    '-q',
    ...from,
    // Matches on one field are ORed.
    ...[...SSHD_IDENTS, AGENT_IDENT].map((i) => `SYSLOG_IDENTIFIER=${i}`),
  ];
}

export function journalSource(journalctl = '/usr/bin/journalctl'): LogSource {
  return {
    mode: 'journal',
    read(cursor, now) {
      const since = cursor?.kind === 'journal' ? cursor.since : now;
      let last = cursor?.kind === 'journal' ? cursor.cursor : null;
      const entries: LogEntry[] = [];
      return new Promise((resolve, reject) => {
        const child = spawn(journalctl, journalArgs(cursor, now), { stdio: ['ignore', 'pipe', 'pipe'] });
        let buf = '';
        let stderr = '';
        let full = false;
        child.stderr.on('data', (d: Buffer) => {
          stderr = (stderr + d.toString()).slice(-1000);
        });
        child.stdout.on('data', (d: Buffer) => {
          if (full) return;
          buf += d.toString('utf8');
          let nl = buf.indexOf('\n');
          while (nl >= 0 && !full) {
            const { entry, cursor: c } = parseJournalEntry(buf.slice(0, nl));
            buf = buf.slice(nl + 1);
            if (c !== null) last = c;
            if (entry) entries.push(entry);
            if (entries.length >= MAX_ENTRIES_PER_RUN) {
              full = true;
              child.kill('SIGTERM');
            }
            nl = buf.indexOf('\n');
          }
        });
        child.once('error', (e) => reject(new LogSourceError(`${journalctl}: ${e.message}`, { cause: e })));
        child.once('close', (code) => {
          if (code !== 0 && !full) {
            reject(new LogSourceError(`${journalctl} exited with ${code}: ${stderr.trim()}`));
            return;
          }
          resolve({ entries, cursor: { kind: 'journal', cursor: last, since } });
        });
      });
    },
  };
}

async function readRange(path: string, from: number, to: number): Promise<Buffer> {
  const fh = await open(path, 'r');
  try {
    const buf = Buffer.alloc(Math.max(0, to - from));
    let off = 0;
    while (off < buf.length) {
      const { bytesRead } = await fh.read(buf, off, buf.length - off, from + off);
      if (bytesRead === 0) break;
      off += bytesRead;
    }
    return buf.subarray(0, off);
  } finally {
    await fh.close();
  }
}

const statOrNull = (p: string) => stat(p).catch(() => null);

/** Complete lines of `buf` and how many bytes they take (a line still being written waits). */
function completeLines(buf: Buffer): { lines: string[]; used: number } {
  const end = buf.lastIndexOf(0x0a);
  if (end < 0) return { lines: [], used: 0 };
  return { lines: buf.toString('utf8', 0, end).split('\n'), used: end + 1 };
}

/** auth.log, /var/log/secure or another syslog file. Its lines are only as trustworthy as the file (see join.ts). */
export function fileSource(path: string): LogSource {
  return {
    mode: 'file',
    async read(cursor, now) {
      const st = await statOrNull(path);
      if (!st) throw new LogSourceError(`${path}: cannot read the log file`);
      const c = cursor?.kind === 'file' && cursor.path === path ? cursor : null;
      if (!c) return { entries: [], cursor: { kind: 'file', path, ino: st.ino, offset: st.size } };
      const lines: string[] = [];
      let offset = c.offset;
      if (c.ino !== st.ino) {
        // Rotated (logrotate's rename): the rest of the old file first, when it is still at PATH.1.
        const old = await statOrNull(`${path}.1`);
        if (old && old.ino === c.ino && old.size > c.offset) {
          lines.push(...completeLines(await readRange(`${path}.1`, c.offset, old.size)).lines);
        }
        offset = 0;
      } else if (st.size < offset) offset = 0; // truncated in place (copytruncate)
      const chunk = await readRange(path, offset, Math.min(st.size, offset + MAX_FILE_BYTES_PER_RUN));
      const got = completeLines(chunk);
      lines.push(...got.lines);
      const entries = lines.flatMap((l) => parseSyslogLine(l, now) ?? []);
      return { entries, cursor: { kind: 'file', path, ino: st.ino, offset: offset + got.used } };
    },
  };
}

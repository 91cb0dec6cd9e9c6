// The edges of credential resolution: the AWS files, the cache directory, the terminal.
import {
  closeSync,
  fstatSync,
  mkdirSync,
  openSync,
  readFileSync,
  readSync,
  renameSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import type { CacheStore } from './cache.js';
import type { Terminal } from './mfa.js';
import { mergeProfiles, type Profiles } from './profile.js';

type Env = Readonly<Record<string, string | undefined>>;

function expand(path: string, home: string): string {
  return path === '~' || path.startsWith('~/') ? join(home, path.slice(1)) : path;
}

function readOptional(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return '';
    throw e;
  }
}

/** AWS_CONFIG_FILE (default ~/.aws/config) and AWS_SHARED_CREDENTIALS_FILE (default ~/.aws/credentials). */
export function readProfiles(env: Env, home: string): Profiles {
  const config = expand(env.AWS_CONFIG_FILE || join(home, '.aws', 'config'), home);
  const credentials = expand(env.AWS_SHARED_CREDENTIALS_FILE || join(home, '.aws', 'credentials'), home);
  return mergeProfiles(readOptional(config), readOptional(credentials));
}

/** The AWS CLI's assume-role cache directory. */
export function cliCacheDir(home: string): string {
  return join(home, '.aws', 'cli', 'cache');
}

/**
 * Cache files in `dir`: written 0600 through a temporary file and a rename (a reader
 * never sees half a file); read only when they are regular files of ours that no one
 * else can write, so nobody can plant a session for us.
 */
export function fileCacheStore(dir: string, uid = process.getuid?.() ?? -1): CacheStore {
  const path = (key: string) => join(dir, `${key}.json`);
  return {
    read(key) {
      let fd: number;
      try {
        fd = openSync(path(key), 'r');
      } catch {
        return undefined;
      }
      try {
        const st = fstatSync(fd);
        if (!st.isFile() || (uid >= 0 && st.uid !== uid) || st.mode & 0o022) return undefined;
        return readFileSync(fd, 'utf8');
      } finally {
        closeSync(fd);
      }
    },
    write(key, text) {
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      const tmp = join(dir, `.${key}.${process.pid}.tmp`);
      const fd = openSync(tmp, 'wx', 0o600);
      try {
        writeSync(fd, text);
      } finally {
        closeSync(fd);
      }
      renameSync(tmp, path(key));
    },
  };
}

/** The controlling terminal, or undefined (ENXIO) when the process has none. */
export function openTerminal(): Terminal | undefined {
  let fd: number;
  try {
    fd = openSync('/dev/tty', 'r+');
  } catch {
    return undefined;
  }
  return {
    write: (text) => void writeSync(fd, text),
    readLine() {
      const buf = Buffer.alloc(256);
      let line = '';
      for (;;) {
        const n = readSync(fd, buf, 0, buf.length, null);
        if (n === 0) return line === '' ? undefined : line;
        line += buf.toString('utf8', 0, n);
        const nl = line.indexOf('\n');
        if (nl >= 0) return line.slice(0, nl).replace(/\r$/, '');
      }
    },
    close: () => closeSync(fd),
  };
}

/** The first line of stdin: stops at the newline, so a code typed on a terminal needs no Ctrl-D. */
export function readStdin(): string {
  const buf = Buffer.alloc(64);
  let text = '';
  for (;;) {
    let n: number;
    try {
      n = readSync(0, buf, 0, buf.length, null);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EAGAIN') throw e;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20); // a non-blocking pipe: wait, retry
      continue;
    }
    if (n === 0) return text;
    text += buf.toString('utf8', 0, n);
    if (text.includes('\n') || text.length > 1024) return text;
  }
}

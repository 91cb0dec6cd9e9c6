import { spawn } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { writeAllSync } from '../../../host-agent/stdio.js';

const dir = mkdtempSync(join(tmpdir(), 'iak-stdio-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('writeAllSync', () => {
  it.each([
    ['empty', ''],
    ['one key line', 'environment="SSH_KEY_OWNER=alice" ssh-ed25519 AAAAC3Nz alice\n'],
    ['two- to four-byte UTF-8 characters', 'é ü € 🔑 naïve\n'],
    ['a lone surrogate (written as U+FFFD)', 'a\ud800b'],
    ['1 MiB of mixed text', 'ключ key 🔑\n'.repeat(80_000)],
  ])('%s: the file holds exactly its UTF-8 bytes', (name, text) => {
    const path = join(dir, name.replaceAll(' ', '-'));
    const fd = openSync(path, 'w');
    try {
      writeAllSync(fd, text);
    } finally {
      closeSync(fd);
    }
    expect(readFileSync(path).equals(Buffer.from(text, 'utf8'))).toBe(true);
  });

  it('appends: a second call continues where the first ended', () => {
    const path = join(dir, 'twice');
    const fd = openSync(path, 'w');
    try {
      writeAllSync(fd, 'first\n');
      writeAllSync(fd, 'second 🔑\n');
    } finally {
      closeSync(fd);
    }
    expect(readFileSync(path, 'utf8')).toBe('first\nsecond 🔑\n');
  });

  it('a non-blocking pipe whose reader waits: partial writes and EAGAIN, every byte arrives once, in order', async () => {
    // 4 MiB into a 64 KiB pipe that nobody reads for 300 ms. Touching process.stdout makes fd 1
    // non-blocking (libuv), as sshd's pipe may be: the first write is partial, then EAGAIN until read.
    const mod = new URL('../../../host-agent/stdio.ts', import.meta.url).pathname;
    const code = [
      `const { writeAllSync } = await import(${JSON.stringify(mod)});`,
      'process.stdout;',
      "writeAllSync(1, 'ключ key 🔑 '.repeat(256 * 1024));",
    ].join('\n');
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    child.stdout.pause();
    await new Promise((r) => setTimeout(r, 300));
    const chunks: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => chunks.push(c));
    child.stdout.resume();
    const status = await new Promise((r) => child.on('close', r));
    expect(status).toBe(0);
    expect(Buffer.concat(chunks).equals(Buffer.from('ключ key 🔑 '.repeat(256 * 1024)))).toBe(true);
  });

  it('throws on a descriptor it cannot write (nothing swallowed but EAGAIN)', () => {
    const path = join(dir, 'read-only');
    closeSync(openSync(path, 'w'));
    const fd = openSync(path, 'r');
    try {
      expect(() => writeAllSync(fd, 'x')).toThrow(expect.objectContaining({ code: 'EBADF' }));
    } finally {
      closeSync(fd);
    }
  });
});

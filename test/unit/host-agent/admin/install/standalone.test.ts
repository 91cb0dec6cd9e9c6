// install and uninstall with the standalone executable (dist/iam-authorized-keys-linux-*):
// installed byte for byte (no interpreter line to rewrite, no node to check), and
// the pure rules that pick what to install and where.
import { describe, expect, it } from 'vitest';
import { install } from '../../../../../host-agent/admin/install/apply.js';
import {
  agentFileToInstall,
  defaultBinPath,
  isCompiledProgram,
  isStandaloneExecutable,
} from '../../../../../host-agent/admin/install/plan.js';
import { uninstall } from '../../../../../host-agent/admin/install/uninstall.js';
import { DROP, eicHost, opts, paths } from './fixtures.js';

/** An ELF header and bytes that are not UTF-8: any text decoding on the way would change them. */
const ELF = Buffer.concat([
  Buffer.from([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0]),
  Buffer.from([0xff, 0xfe, 0x80, 0x00, 0xc3]),
]);

describe('what install writes, and where', () => {
  it.each([
    [ELF, true],
    [Buffer.from('#!/usr/bin/env node\n'), false],
    [Buffer.from([0x7f, 0x45, 0x4c]), false],
    [Buffer.alloc(0), false],
  ])('isStandaloneExecutable(%j) = %s', (file, expected) => {
    expect(isStandaloneExecutable(file)).toBe(expected);
  });

  it('a standalone executable goes as it is, with no interpreter; a script gets an absolute node', () => {
    expect(agentFileToInstall(ELF, '/usr/bin/node')).toEqual({ bytes: ELF, interpreter: undefined });
    const s = agentFileToInstall(Buffer.from('#!/usr/bin/env node\nx\n'), '/usr/bin/node');
    expect([s.bytes.toString(), s.interpreter]).toEqual(['#!/usr/bin/node\nx\n', '/usr/bin/node']);
  });

  it.each([
    ['/$bunfs/root/iam-authorized-keys-linux-x64', true],
    ['/usr/local/bin/iam-authorized-keys', false],
    ['/tmp/$bunfs/x', false],
    [undefined, false],
  ])('isCompiledProgram(%j) = %s', (argv1, expected) => {
    expect(isCompiledProgram(argv1)).toBe(expected);
  });

  const FALLBACK = '/usr/local/bin/iam-authorized-keys';
  it.each([
    // The package's binary is what sshd runs: an upgrade takes effect at the next login.
    [true, '/usr/bin/iam-authorized-keys', '/usr/bin/iam-authorized-keys'],
    [true, '/usr/local/sbin/iak', '/usr/local/sbin/iak'],
    [true, '/root/Downloads/iam-authorized-keys-linux-x64', FALLBACK],
    [true, '/usr/bin/sub/iam-authorized-keys', FALLBACK],
    // The script is run by node: always copied (its interpreter line is rewritten).
    [false, '/usr/bin/iam-authorized-keys', FALLBACK],
  ])('defaultBinPath(standalone %s, %s) = %s', (standalone, path, expected) => {
    expect(defaultBinPath({ standalone, path }, FALLBACK)).toBe(expected);
  });
});

describe('install and uninstall of a standalone executable', () => {
  it('writes its bytes exactly, checks no interpreter, re-installs as a no-op and uninstall removes it', async () => {
    const h = eicHost();
    const o = { ...opts, source: ELF, nodePath: '/nonexistent/node' };
    expect((await install(o, h.sys, false)).code).toBe(0);
    expect(await h.sys.readBytes(paths.binPath)).toEqual(ELF);
    expect(h.files.get(paths.binPath)?.mode).toBe(0o755);
    // A second install finds the same bytes: nothing is written.
    h.log.length = 0;
    expect((await install(o, h.sys, false)).code).toBe(0);
    expect(h.log.filter((l) => l.startsWith(`write ${paths.binPath}`))).toEqual([]);
    expect(await uninstall(paths, h.sys, false)).toBe(0);
    expect(h.files.has(paths.binPath)).toBe(false);
  });

  it('the script form still refuses an interpreter sshd could not trust', async () => {
    const h = eicHost();
    const out: string[] = [];
    const sys = {
      ...h.sys,
      out: (l: string) => out.push(l),
      stat: (p: string) =>
        p === '/home/u/node'
          ? { uid: 1000, mode: 0o100755, isDirectory: () => false, isFile: () => true }
          : h.sys.stat(p),
    };
    expect((await install({ ...opts, nodePath: '/home/u/node' }, sys, false)).code).toBe(1);
    expect(out.at(-1)).toMatch(/unsafe path: \/home\/u\/node is owned by uid 1000/);
    // The same interpreter does not matter to a standalone executable.
    expect((await install({ ...opts, source: ELF, nodePath: '/home/u/node' }, sys, false)).code).toBe(0);
  });

  it('refuses a binary path that is a symlink into a directory sshd would not trust, and rolls back', async () => {
    const h = eicHost();
    // The same bytes are already there, through a link: install writes nothing at that path.
    h.files.set(paths.binPath, { text: ELF.toString('latin1'), mode: 0o755, uid: 0, gid: 0 });
    const out: string[] = [];
    const sys = {
      ...h.sys,
      out: (l: string) => out.push(l),
      realpath: (p: string) => (p === paths.binPath ? '/home/u/iak' : p),
      stat: (p: string) =>
        p === '/home/u'
          ? { uid: 1000, mode: 0o40755, isDirectory: () => true, isFile: () => false }
          : h.sys.stat(p),
    };
    expect((await install({ ...opts, source: ELF }, sys, false)).code).toBe(1);
    expect(out.at(-1)).toMatch(/resolves to \/home\/u\/iak: \/home\/u is owned by uid 1000.*rolled back/);
    expect(h.files.has(DROP)).toBe(false);
  });
});

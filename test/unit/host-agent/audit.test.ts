import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../../../dev/wait.js';
import {
  AuditError,
  auditCommand,
  auditMessage,
  type BunSpawn,
  DETACHED_LOGGER_SECONDS,
  LOGGER,
  preflightProblem,
  type SpawnOptions,
  startSyslogAuditor,
  TIMEOUT,
} from '../../../host-agent/audit.js';

describe('auditMessage', () => {
  it('names user, fingerprint, owner, principals and sources', () => {
    expect(
      auditMessage({
        user: 'ec2-user',
        fingerprint: 'SHA256:abc+/x',
        owner: 'bob+ops@example.com',
        principals: ['groups/Admins', 'users/bob+ops@example.com'],
        sources: ['cache', 'stale'],
      }),
    ).toBe(
      'key-matched user=ec2-user fingerprint=SHA256:abc+/x owner=bob+ops@example.com principal=groups/Admins,users/bob+ops@example.com source=cache,stale',
    );
  });
  it('names the key by its fingerprint only: hosts read no key ids (operators join them from index.json)', () => {
    const m = auditMessage({
      user: 'alice',
      fingerprint: 'SHA256:f',
      owner: 'alice',
      principals: ['users/alice'],
      sources: ['s3'],
    });
    expect(m).toBe('key-matched user=alice fingerprint=SHA256:f owner=alice principal=users/alice source=s3');
    expect(m).not.toMatch(/ key=/);
  });
  it('cannot be split into two syslog lines or fake a field', () => {
    const m = auditMessage({ user: 'a\nb c', fingerprint: 'f', owner: 'o x=y', principals: [], sources: [] });
    expect(m).not.toMatch(/[\n\r]/);
    expect(m).toContain('user=a?b?c');
    expect(m).toContain('owner=o?x=y');
  });
});

describe('startSyslogAuditor', () => {
  let dir: string;
  let socket: string;
  let server: Server;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'iak-audit-'));
    socket = join(dir, 'log.sock');
    // Any unix socket passes send()'s pre-check; the stand-ins below never connect to it.
    server = createServer();
    await new Promise<void>((r) => server.listen(socket, r));
  });
  afterAll(() => {
    server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('send: hands the messages to a detached timeout+logger and resolves before it exits', async () => {
    const out = join(dir, 'got.txt');
    let seen: { cmd: string; args: string[]; opts: SpawnOptions } | undefined;
    let child: ChildProcess | undefined;
    const auditor = startSyslogAuditor(socket, (cmd, args, opts) => {
      seen = { cmd, args, opts };
      // Stand-in for logger: a real process that reads its stdin only after a while.
      child = spawn('/bin/sh', ['-c', `sleep 0.3; cat > ${out}.tmp && mv ${out}.tmp ${out}`], opts);
      return child;
    });
    await auditor.send(['m1', 'm2']);
    // Resolved while the stand-in still sleeps: the login does not wait for logger.
    expect(child?.exitCode).toBeNull();
    expect(seen).toEqual({
      cmd: TIMEOUT,
      args: [
        '-s',
        'KILL',
        String(DETACHED_LOGGER_SECONDS),
        LOGGER,
        '-p',
        'authpriv.info',
        '-t',
        'iam-authorized-keys',
        '-u',
        socket,
        '--socket-errors=on',
      ],
      opts: { detached: true, stdio: ['pipe', 'ignore', 'ignore'] },
    });
    // The messages were in the pipe: the stand-in reads them after send() returned.
    const got = await waitFor(() => existsSync(out) && readFileSync(out, 'utf8'), { what: out });
    expect(got).toBe('m1\nm2\n');
  });

  it('send on Bun: the same command through Bun.spawn, detached, stdout/stderr ignored, messages in the closed pipe', async () => {
    // Bun itself runs this path in the integration tests with IAK_E2E_AGENT=standalone; here a
    // stand-in with Bun.spawn's shape over a real process checks what is asked of it.
    const out = join(dir, 'bun-got.txt');
    const calls: { argv: string[]; opts: unknown }[] = [];
    let ended = false;
    let unrefd = false;
    const bun: BunSpawn = {
      spawn(argv, opts) {
        calls.push({ argv, opts });
        const child = spawn('/bin/sh', ['-c', `cat > ${out}.tmp && mv ${out}.tmp ${out}`], {
          stdio: ['pipe', 'ignore', 'ignore'],
        });
        return {
          stdin: {
            write: (d: string) => child.stdin?.write(d),
            end: () => {
              ended = true;
              return new Promise<void>((r) => child.stdin?.end(r));
            },
          },
          unref: () => {
            unrefd = true;
          },
        };
      },
    };
    await startSyslogAuditor(socket, undefined, bun).send(['m1', 'm2']);
    expect(calls).toEqual([
      {
        argv: [TIMEOUT, ...auditCommand(socket)[1]],
        opts: { stdin: 'pipe', stdout: 'ignore', stderr: 'ignore', detached: true },
      },
    ]);
    expect({ ended, unrefd }).toEqual({ ended: true, unrefd: true });
    const got = await waitFor(() => existsSync(out) && readFileSync(out, 'utf8'), { what: out });
    expect(got).toBe('m1\nm2\n');
  });

  it('send on Bun: a spawn or pipe failure is an AuditError', async () => {
    const failing = (where: 'spawn' | 'end'): BunSpawn => ({
      spawn() {
        if (where === 'spawn') throw Object.assign(new Error('ENOENT: no such file'), { code: 'ENOENT' });
        return {
          stdin: { write: () => 0, end: () => Promise.reject(new Error('EPIPE: broken pipe')) },
          unref: () => {},
        };
      },
    });
    await expect(startSyslogAuditor(socket, undefined, failing('spawn')).send(['m'])).rejects.toThrow(
      /audit log not written: \/usr\/bin\/logger: ENOENT/,
    );
    const err = await startSyslogAuditor(socket, undefined, failing('end'))
      .send(['m'])
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AuditError);
    expect((err as Error).message).toMatch(/EPIPE/);
  });

  it('send: refuses without spawning when the syslog socket does not exist', async () => {
    let spawned = false;
    const auditor = startSyslogAuditor(join(dir, 'missing.sock'), (c, a, o) => {
      spawned = true;
      return spawn(c, a, o);
    });
    const err = await auditor.send(['m']).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AuditError);
    expect((err as Error).message).toMatch(/missing\.sock: ENOENT/);
    expect(spawned).toBe(false);
  });

  it('send: rejects with AuditError when logger cannot be started', async () => {
    const auditor = startSyslogAuditor(socket, (_c, a, o) => spawn(join(dir, 'no-such-program'), a, o));
    await expect(auditor.send(['m'])).rejects.toThrow(/audit log not written: .*ENOENT/);
  });

  it('send: rejects when logger dies without reading the messages (no silent loss)', async () => {
    // The stand-in exits without reading stdin. Node's stdin "pipe" is a socketpair with large buffers:
    // 4 MiB cannot all be buffered, so the rest of the write fails (EPIPE) once the reader is gone.
    const auditor = startSyslogAuditor(socket, (_c, _a, opts) => spawn('/bin/sh', ['-c', 'exit 0'], opts));
    const big = Array.from({ length: 60_000 }, (_, i) => `message ${i} ${'x'.repeat(60)}`);
    await expect(auditor.send(big)).rejects.toThrow(AuditError);
  });

  it('sendChecked: runs the same timeout+logger command and feeds the messages on stdin', async () => {
    let seen: { cmd: string; args: string[] } | undefined;
    const auditor = startSyslogAuditor(socket, (cmd, args, opts) => {
      seen = { cmd, args };
      // Stand-in for logger: a real process that checks its stdin (non-zero exit fails sendChecked).
      return spawn('/bin/sh', ['-c', 'test "$(cat)" = "$(printf "m1\\nm2")"'], opts);
    });
    await auditor.sendChecked(['m1', 'm2']);
    expect(seen).toEqual({ cmd: TIMEOUT, args: auditCommand(socket)[1] });
    // And a stand-in that sees other input fails it.
    const wrong = startSyslogAuditor(socket, (_c, _a, opts) =>
      spawn('/bin/sh', ['-c', 'test "$(cat)" = "other"'], opts),
    );
    await expect(wrong.sendChecked(['m1'])).rejects.toThrow(AuditError);
  });

  it('sendChecked: rejects when the real logger cannot write to the socket', async () => {
    // A stream socket nobody accepts on stays a socket for the pre-check; logger then fails to send.
    const dead = join(dir, 'dead.sock');
    const s = createServer();
    await new Promise<void>((r) => s.listen(dead, r));
    await new Promise<void>((r) => s.close(() => r()));
    await expect(startSyslogAuditor(dead).sendChecked(['m'])).rejects.toThrow(/audit log not written: /);
  });

  it.each([
    ['missing socket', (d: string) => [join(d, 'nope.sock'), undefined], /nope\.sock: ENOENT$/],
    ['a regular file', (d: string) => [join(d, 'marker'), undefined], /marker is not a socket$/],
    [
      'no logger program',
      (d: string) => [join(d, 'log.sock'), [TIMEOUT, join(d, 'no-logger')]],
      /no-logger: ENOENT$/,
    ],
    [
      'a program that is not executable',
      (d: string) => [join(d, 'log.sock'), [join(d, 'marker')]],
      /marker: EACCES$/,
    ],
  ] as const)('preflightProblem: %s', (_name, args, expected) => {
    writeFileSync(join(dir, 'marker'), '', { mode: 0o644 });
    const [sock, programs] = args(dir);
    expect(preflightProblem(sock as string, programs as string[] | undefined)).toMatch(expected);
  });

  it('preflightProblem: nothing to say with a socket and both programs present', () => {
    expect(preflightProblem(socket)).toBeUndefined();
  });
});

import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { auditMessage, LOGGER, startSyslogAuditor } from '../../../host-agent/audit.js';

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
  it('cannot be split into two syslog lines or fake a field', () => {
    const m = auditMessage({ user: 'a\nb c', fingerprint: 'f', owner: 'o x=y', principals: [], sources: [] });
    expect(m).not.toMatch(/[\n\r]/);
    expect(m).toContain('user=a?b?c');
    expect(m).toContain('owner=o?x=y');
  });
});

describe('startSyslogAuditor', () => {
  it('passes priority, tag and socket to logger and the messages on stdin', async () => {
    let seen: { cmd: string; args: string[] } | undefined;
    const auditor = startSyslogAuditor('/run/test.sock', (cmd, args) => {
      seen = { cmd, args };
      // Stand-in for logger: a real process that checks its stdin.
      return spawn('/bin/sh', ['-c', 'test "$(cat)" = "$(printf "m1\\nm2")"'], {
        stdio: ['pipe', 'ignore', 'pipe'],
      });
    });
    await auditor.finish(['m1', 'm2']);
    expect(seen).toEqual({
      cmd: LOGGER,
      args: [
        '-p',
        'authpriv.info',
        '-t',
        'iam-authorized-keys',
        '-u',
        '/run/test.sock',
        '--socket-errors=on',
      ],
    });
  });
  it('rejects when the real logger cannot reach the socket', async () => {
    await expect(startSyslogAuditor('/nonexistent/log.sock').finish(['m'])).rejects.toThrow(
      /audit log not written: \/usr\/bin\/logger: .*No such file or directory/,
    );
  });
});

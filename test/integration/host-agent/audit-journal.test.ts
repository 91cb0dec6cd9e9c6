// ship-audit's journal source on a real journal file: entries written by
// systemd-journal-remote (export format in, journal file out, trusted fields
// such as _UID kept) and read back by the real journalctl -o json, as
// collect() runs it (`journalctl --file` stands in for the system journal;
// no journald runs here).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAuditLines } from '../../../contract/audit.js';
import { type CollectDeps, collect } from '../../../host-agent/admin/audit/collect.js';
import { journalSource } from '../../../host-agent/admin/audit/sources.js';

const REMOTE = '/lib/systemd/systemd-journal-remote';
const FP = 'SHA256:5wTbBJzcHt/htLfaOUQXLZsKzRTdAK4MnPhGUA/KKhU';
const AGENT_UID = 990;
const SESSION_UID = 1000;

describe('collect with the journal source (real journalctl on a journal file)', () => {
  let dir: string;
  let journal: string;
  let wrapper: string;
  let mono = 1000;

  beforeAll(() => {
    if (!existsSync(REMOTE)) {
      throw new Error(`${REMOTE} not found: apt-get install systemd-journal-remote (refusing to skip)`);
    }
    dir = mkdtempSync(join(tmpdir(), 'iak-journal-'));
    journal = join(dir, 'system.journal');
    wrapper = join(dir, 'journalctl');
    writeFileSync(wrapper, `#!/bin/sh\nexec journalctl --file ${journal} "$@"\n`, { mode: 0o755 });
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  /** Appends entries (field maps) to the journal file, each with its trusted fields as journald would set them. */
  function write(entries: Record<string, string | number>[], at: number): void {
    const text = entries
      .map((e, i) =>
        Object.entries({
          __REALTIME_TIMESTAMP: (at + i) * 1000,
          __MONOTONIC_TIMESTAMP: mono++,
          _BOOT_ID: '0123456789abcdef0123456789abcdef',
          _TRANSPORT: 'syslog',
          ...e,
        })
          .map(([k, v]) => `${k}=${v}\n`)
          .join(''),
      )
      .join('\n');
    const input = join(dir, `in-${mono}.export`);
    writeFileSync(input, `${text}\n`);
    execFileSync(REMOTE, [`--output=${journal}`, input], { stdio: 'ignore' });
  }
  const sshd = (pid: number, uid: number, message: string) => ({
    SYSLOG_IDENTIFIER: 'sshd',
    _PID: pid,
    _UID: uid,
    _COMM: 'sshd',
    MESSAGE: message,
  });
  const agentLine = (sshdPid: number, uid: number, owner = 'alice') => ({
    SYSLOG_IDENTIFIER: 'iam-authorized-keys',
    _PID: 7000 + sshdPid,
    _UID: uid,
    _COMM: 'logger',
    MESSAGE: `key-matched user=ec2-user fingerprint=${FP} owner=${owner} principal=groups/admins source=s3 sshd_pid=${sshdPid}`,
  });
  const accepted = (pid: number, port: number) =>
    sshd(pid, 0, `Accepted publickey for ec2-user from 10.0.0.9 port ${port} ssh2: ED25519 ${FP}`);

  it('joins by the trusted _PID and _UID, ignores forged lines, and resumes after its cursor', async () => {
    const stateDir = join(dir, 'state');
    let now = Date.now();
    const deps: CollectDeps = {
      stateDir,
      source: journalSource(wrapper),
      host: { hostname: 'web-1', instanceId: null, accountId: null, region: null },
      join: {
        agentUid: AGENT_UID,
        uidOf: (u) => (u === 'ec2-user' ? SESSION_UID : undefined),
        ownerHolds: () => undefined,
        iamUserId: () => null,
        pidAlive: () => true,
      },
      spoolMaxBytes: 1024 * 1024,
      now: () => now,
    };
    // Before the first run: not part of the trail (it starts at the first run).
    write([agentLine(100, AGENT_UID), accepted(100, 1)], now - 60_000);
    expect(await collect(deps)).toEqual({ open: [] });

    write(
      [
        agentLine(200, AGENT_UID),
        accepted(200, 2),
        // A local user (uid 1001) running `logger -t iam-authorized-keys` to claim sshd 300's login for bob,
        // and `logger -t sshd` to invent a login: journald records their real uid.
        agentLine(300, 1001, 'bob'),
        accepted(300, 3),
        sshd(301, 1001, `Accepted publickey for root from 6.6.6.6 port 4 ssh2: ED25519 ${FP}`),
      ],
      now + 1000,
    );
    now += 20_000; // past the grace for sshd 300's (unclaimed) login
    const first = await collect(deps);
    expect(first.open.map((r) => [r.sshdPid, r.iamUser, r.keySource, r.verifiedBy])).toEqual([
      [200, 'alice', 'iam', 'journal'],
      [300, null, 'unknown', undefined],
    ]);

    // The logout comes from the session's own process (the user's uid); a third uid's "logout" is ignored.
    write(
      [
        sshd(401, 1001, 'Disconnected from user ec2-user 10.0.0.9 port 3'),
        sshd(201, SESSION_UID, 'Disconnected from user ec2-user 10.0.0.9 port 2'),
      ],
      now + 5000,
    );
    now += 10_000;
    const second = await collect(deps);
    expect(second.open.map((r) => r.sshdPid)).toEqual([300]);

    const outbox = readdirSync(join(stateDir, 'q'))
      .sort()
      .flatMap((n) => parseAuditLines(readFileSync(join(stateDir, 'q', n), 'utf8')).records);
    expect(outbox.map((r) => [r.event, r.sshdPid, r.iamUser])).toEqual([
      ['login', 200, 'alice'],
      ['login', 300, null],
      ['logout', 200, 'alice'],
    ]);
    expect(outbox[2]?.durationSeconds).toBe(24);
    // Nothing new: the cursor holds, nothing is read twice.
    await collect(deps);
    expect(readdirSync(join(stateDir, 'q'))).toHaveLength(2);
  });
});

import { describe, expect, it } from 'vitest';
import { type AuditRecord, auditRecordProblem } from '../../../../../contract/audit.js';
import type { Mapping, PrincipalKeys } from '../../../../../host-agent/admin/sessions/decide.js';
import type { ProcFs } from '../../../../../host-agent/admin/sessions/proc.js';
import { endRevoked, listSessions, type SessionsDeps } from '../../../../../host-agent/admin/sessions/run.js';

const fp = (c: string) => `SHA256:${c.repeat(43)}`;
const BOOT = Date.parse('2026-12-07T00:00:00Z');

const login = (iamUser: string, sshdPid: number, fingerprint: string): AuditRecord => ({
  id: `login-${sshdPid}`,
  time: '2026-12-07T01:00:00.000Z',
  event: 'login',
  instanceId: null,
  accountId: null,
  region: null,
  hostname: 'web-1',
  localUser: 'ec2-user',
  iamUser,
  iamUserId: null,
  keyId: null,
  fingerprint,
  principal: 'groups/admins',
  keySource: 'iam',
  verifiedBy: 'journal',
  fetchedFrom: 's3',
  sourceIp: '127.0.0.1',
  sourcePort: 40000 + sshdPid,
  sshdPid,
});

/** 127.0.0.1 and a port as /proc/net/tcp shows them. */
const tcpLine = (inode: number, port: number) =>
  `   0: 0100007F:0016 0100007F:${port.toString(16).toUpperCase().padStart(4, '0')} 01 00000000:00000000 00:00000000 00000000     0        0 ${inode} 1 0 20 4 30 10 -1`;

/**
 * Monitors 500 (alice), 600 (bob), each with one sshd child (pid + 1), started before the login;
 * each monitor's socket (inode pid * 10) is connected to 127.0.0.1:(40000 + pid).
 */
function procFs(alive: Set<number>): ProcFs {
  const parent = (pid: number) => (pid % 100 === 0 ? 1 : pid - 1);
  const pidOf = (path: string) => Number(/^\/proc\/(\d+)\//.exec(path)?.[1]);
  return {
    async readText(path) {
      const pid = pidOf(path);
      if (!alive.has(pid)) return undefined;
      if (path.endsWith('/status')) return `Uid:\t${pid % 100 === 0 ? 0 : 1001}\t0\t0\t0\n`;
      if (path.endsWith('/net/tcp'))
        return [
          'header',
          ...[...alive].filter((p) => p % 100 === 0).map((p) => tcpLine(p * 10, 40000 + p)),
        ].join('\n');
      if (path.endsWith('/net/tcp6')) return 'header\n';
      return `${pid} (sshd) S ${parent(pid)} ${'0 '.repeat(17)}${pid} 0\n`;
    },
    async readLink(path) {
      const pid = pidOf(path);
      if (!alive.has(pid)) return undefined;
      return path.endsWith('/fd/3') ? `socket:[${pid * 10}]` : '/usr/sbin/sshd';
    },
    async listDir(path) {
      return path.endsWith('/fd') && alive.has(pidOf(path)) && pidOf(path) % 100 === 0 ? ['0', '3'] : [];
    },
    async listPids() {
      return [...alive];
    },
  };
}

function rig(
  objects: Map<string, PrincipalKeys>,
  logins: AuditRecord[],
  mapped: Mapping = { principals: new Set(['groups/admins']) },
) {
  const alive = new Set([500, 501, 600, 601]);
  const out: string[] = [];
  const err: string[] = [];
  const recorded: AuditRecord[] = [];
  const signals: [number, string][] = [];
  const read: string[][] = [];
  const mappedFor: string[][] = [];
  const deps: SessionsDeps = {
    openLogins: async () => logins,
    record: async (r) => {
      recorded.push(...r);
    },
    proc: procFs(alive),
    bootAt: BOOT,
    readKeys: async (p) => {
      read.push(p);
      return objects;
    },
    readMappings: async (users) => {
      mappedFor.push(users);
      return new Map(users.map((u) => [u, mapped]));
    },
    end: {
      kill(pid, signal) {
        signals.push([pid, signal]);
        alive.delete(pid);
      },
      isSame: async (p) => alive.has(p.pid),
      sleep: async () => {},
      now: () => 0,
      self: 99,
    },
    graceMs: 5000,
    now: () => Date.parse('2026-12-07T01:10:00.000Z'),
    out: (l) => out.push(l),
    err: (l) => err.push(l),
  };
  return { deps, out, err, recorded, signals, alive, read, mappedFor };
}

const ALICE = fp('a');
const BOB = fp('b');
const logins = [login('alice', 500, ALICE), login('bob', 600, BOB), login('carol', 700, fp('c'))];
const opts = { json: false, dryRun: false, configPath: '/etc/iam-authorized-keys.json' } as const;

describe('sessions --end-revoked', () => {
  it('alice removed from the group: her session ends and is recorded, bob stays; a logged-out one is not live', async () => {
    const r = rig(
      new Map([['groups/admins', { state: 'found', lines: [{ owner: 'bob', fingerprint: BOB }] }]]),
      logins,
    );
    expect(await endRevoked(r.deps, { ...opts, mode: 'access' })).toBe(0);
    expect(r.signals).toEqual([
      [500, 'SIGHUP'],
      [501, 'SIGHUP'],
    ]);
    expect(r.alive).toEqual(new Set([600, 601]));
    expect(r.read).toEqual([['groups/admins']]);
    expect(r.recorded).toHaveLength(1);
    expect(auditRecordProblem(r.recorded[0])).toBeNull();
    expect(r.recorded[0]).toMatchObject({
      event: 'ended',
      iamUser: 'alice',
      reason: 'access-revoked',
      sshdPid: 500,
      durationSeconds: 600,
    });
    expect(r.out).toEqual([
      `ended alice as ec2-user from 127.0.0.1 (groups/admins, ${ALICE}, sshd pid 500): access-revoked; SIGHUP 2, SIGKILL 0`,
    ]);
    expect(r.err).toEqual([]);
  });

  it('S3 unreachable: nothing ended, nothing recorded, one line saying why, exit 1', async () => {
    const r = rig(
      new Map([['groups/admins', { state: 'unreadable', why: 'connect ECONNREFUSED 127.0.0.1:1' }]]),
      logins,
    );
    expect(await endRevoked(r.deps, { ...opts, mode: 'access' })).toBe(1);
    expect(r.signals).toEqual([]);
    expect(r.recorded).toEqual([]);
    expect(r.err).toEqual([
      'cannot read the current keys (cannot read groups/admins: connect ECONNREFUSED 127.0.0.1:1): 2 of 2 sessions left running, none of them ended',
    ]);
  });

  it('the principal no longer maps the local user (iamUsers: out of allowGroups): ended though its key is still published', async () => {
    const still = new Map<string, PrincipalKeys>([
      [
        'groups/admins',
        {
          state: 'found',
          lines: [
            { owner: 'alice', fingerprint: ALICE },
            { owner: 'bob', fingerprint: BOB },
          ],
        },
      ],
    ]);
    const r = rig(still, logins, { principals: new Set() });
    expect(await endRevoked(r.deps, { ...opts, mode: 'access' })).toBe(0);
    expect(r.mappedFor).toEqual([['ec2-user']]);
    expect(r.recorded.map((x) => [x.iamUser, x.reason])).toEqual([
      ['alice', 'access-revoked'],
      ['bob', 'access-revoked'],
    ]);
  });

  it('directory.json unreadable: nothing ended for principals only it maps, exit 1', async () => {
    const r = rig(new Map([['groups/admins', { state: 'absent' }]]), logins, {
      principals: new Set(),
      unreadable: 'directory.json: connect ECONNREFUSED 127.0.0.1:1',
    });
    expect(await endRevoked(r.deps, { ...opts, mode: 'access' })).toBe(1);
    expect(r.signals).toEqual([]);
    expect(r.recorded).toEqual([]);
    expect(r.err).toEqual([
      'cannot read the current keys (cannot read directory.json: connect ECONNREFUSED 127.0.0.1:1): 2 of 2 sessions left running, none of them ended',
    ]);
  });

  it('--dry-run: decides and shows, ends and records nothing', async () => {
    const r = rig(new Map([['groups/admins', { state: 'absent' }]]), logins);
    expect(await endRevoked(r.deps, { ...opts, dryRun: true, mode: 'key' })).toBe(0);
    expect(r.signals).toEqual([]);
    expect(r.recorded).toEqual([]);
    expect(r.out[0]).toMatch(/^START +LOCAL USER +IAM USER +KEY +PRINCIPAL +SOURCE +SSHD PID +ACTION$/);
    expect(r.out.slice(1).map((l) => l.split(/ {2,}/).at(-1))).toEqual([
      'end: access-revoked',
      'end: access-revoked',
    ]);
  });

  it('mode off: says so and does nothing', async () => {
    const r = rig(new Map(), logins);
    expect(await endRevoked(r.deps, { ...opts, mode: 'off' })).toBe(0);
    expect(r.read).toEqual([]);
    expect(r.out).toEqual([
      'sessions.endRevoked is "off" in /etc/iam-authorized-keys.json: no session ended (set it to "access" or "key")',
    ]);
  });

  it('--json: every live session with its action', async () => {
    const r = rig(
      new Map([['groups/admins', { state: 'found', lines: [{ owner: 'alice', fingerprint: fp('z') }] }]]),
      logins,
    );
    expect(await endRevoked(r.deps, { ...opts, json: true, mode: 'key' })).toBe(0);
    const view = JSON.parse(r.out.join('\n')) as {
      iamUser: string;
      action: string;
      reason?: string;
      pids: number[];
    }[];
    expect(view.map((v) => [v.iamUser, v.action, v.reason, v.pids])).toEqual([
      ['alice', 'end', 'key-revoked', [500, 501]],
      ['bob', 'end', 'access-revoked', [600, 601]],
    ]);
  });
});

describe('sessions (list)', () => {
  it('a login record naming a live sshd pid that is connected to another client is not that session', async () => {
    // A forged (or stale) record: bob's sshd pid with alice's key, from an address bob's sshd is not connected to.
    const forged = { ...login('alice', 600, ALICE), sourcePort: 1234 };
    const r = rig(new Map(), [forged, login('bob', 600, BOB)]);
    expect(await listSessions(r.deps, true)).toBe(0);
    const view = JSON.parse(r.out.join('\n')) as { iamUser: string; sourcePort: number }[];
    expect(view.map((v) => [v.iamUser, v.sourcePort])).toEqual([['bob', 40600]]);
  });

  it('a table of the live sessions; a name with a control character is shown escaped', async () => {
    const r = rig(new Map(), [
      login('alice', 500, ALICE),
      { ...login('bob', 600, BOB), localUser: 'ec2\u001buser' },
    ]);
    expect(await listSessions(r.deps, false)).toBe(0);
    expect(r.out).toEqual([
      `START                 LOCAL USER  IAM USER  KEY${' '.repeat(49)}PRINCIPAL      SOURCE           SSHD PID`,
      `2026-12-07T01:00:00Z  ec2-user    alice     ${ALICE}  groups/admins  127.0.0.1:40500  500`,
      `2026-12-07T01:00:00Z  ec2?user    bob       ${BOB}  groups/admins  127.0.0.1:40600  600`,
    ]);
  });
});

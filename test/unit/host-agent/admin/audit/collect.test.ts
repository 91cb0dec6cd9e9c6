// collect/enqueue on the real file system with a syslog file as the source.
import {
  appendFileSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseAuditLines } from '../../../../../contract/audit.js';
import {
  type CollectDeps,
  collect,
  endRecord,
  enqueue,
} from '../../../../../host-agent/admin/audit/collect.js';
import { fileSource } from '../../../../../host-agent/admin/audit/sources.js';
import { loadState, segmentName, writeSegment } from '../../../../../host-agent/admin/audit/spool.js';

const FP = 'SHA256:5wTbBJzcHt/htLfaOUQXLZsKzRTdAK4MnPhGUA/KKhU';
const host = { hostname: 'web-1', instanceId: null, accountId: null, region: null };

describe('collect (file source, real files)', () => {
  let dir: string;
  let log: string;
  let stateDir: string;
  let now: number;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'iak-collect-'));
    log = join(dir, 'auth.log');
    stateDir = join(dir, 'state');
    writeFileSync(log, '');
    now = Date.now();
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const deps = (over: Partial<CollectDeps> = {}): CollectDeps => ({
    stateDir,
    source: fileSource(log),
    host,
    join: {
      agentUid: null,
      uidOf: () => undefined,
      ownerHolds: () => true,
      iamUserId: () => null,
      pidAlive: () => true,
    },
    spoolMaxBytes: 1024 * 1024,
    now: () => now,
    ...over,
  });
  const stamp = () => {
    const d = new Date(now);
    const mon = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'][
      d.getMonth()
    ];
    const p = (n: number) => String(n).padStart(2, '0');
    return `${mon} ${String(d.getDate()).padStart(2, ' ')} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
  };
  const login = (pid: number, port: number) =>
    appendFileSync(
      log,
      `${stamp()} h iam-authorized-keys: key-matched user=ec2-user fingerprint=${FP} owner=alice principal=groups/admins source=s3 sshd_pid=${pid}\n` +
        `${stamp()} h sshd[${pid}]: Accepted publickey for ec2-user from 10.0.0.9 port ${port} ssh2: ED25519 ${FP}\n`,
    );
  const outbox = () =>
    readdirSync(join(stateDir, 'q'))
      .sort()
      .flatMap((n) => parseAuditLines(readFileSync(join(stateDir, 'q', n), 'utf8')).records);

  it('starts at the end of the log, then turns new lines into outbox records; state and outbox root-only', async () => {
    login(100, 1);
    expect(await collect(deps())).toEqual({ open: [] });
    login(200, 2);
    const r = await collect(deps());
    expect(r.open.map((x) => [x.sshdPid, x.iamUser, x.verifiedBy])).toEqual([[200, 'alice', 'cache']]);
    expect(outbox().map((x) => x.sshdPid)).toEqual([200]);
    expect(statSync(stateDir).mode & 0o777).toBe(0o700);
    expect(statSync(join(stateDir, 'state.json')).mode & 0o777).toBe(0o600);
    expect(statSync(join(stateDir, 'q', segmentName(1))).mode & 0o777).toBe(0o600);
    // Nothing new: nothing added, the session is still open.
    expect((await collect(deps())).open).toHaveLength(1);
    expect(outbox()).toHaveLength(1);
  });

  it('a half-written line waits for the next run', async () => {
    await collect(deps());
    appendFileSync(
      log,
      `${stamp()} h sshd[7]: Accepted publickey for ec2-user from 10.0.0.9 port 9 ssh2: ED25519`,
    );
    await collect(deps());
    appendFileSync(log, ` ${FP}\n`);
    now += 60_000;
    await collect(deps());
    expect(outbox().map((x) => [x.sshdPid, x.keySource])).toEqual([[7, 'unknown']]);
  });

  it('follows a logrotate rename: the rest of PATH.1, then the new file', async () => {
    await collect(deps());
    login(300, 3);
    renameSync(log, `${log}.1`);
    writeFileSync(log, '');
    login(400, 4);
    await collect(deps());
    expect(outbox().map((x) => x.sshdPid)).toEqual([300, 400]);
  });

  it('an outbox file a crashed run wrote before saving its state is removed; the lines come again', async () => {
    await collect(deps());
    login(500, 5);
    const s = await loadState(stateDir);
    await writeSegment(stateDir, s.nextSeq, []); // what the crashed run left (its state was never saved)
    appendFileSync(join(stateDir, 'q', segmentName(s.nextSeq)), '{"partial":');
    await collect(deps());
    expect(outbox().map((x) => x.sshdPid)).toEqual([500]);
    expect(readdirSync(join(stateDir, 'q'))).toEqual([segmentName(s.nextSeq)]);
  });

  it('enqueue adds an ended record and the session is no longer open (its later logout gives no record)', async () => {
    await collect(deps());
    login(600, 6);
    const [open] = (await collect(deps())).open;
    if (!open) throw new Error('no open session');
    await enqueue(deps(), [endRecord(open, 'ended', now + 5000, 'web-1', 'access-revoked')]);
    appendFileSync(log, `${stamp()} h sshd[601]: Connection reset by user ec2-user 10.0.0.9 port 6\n`);
    expect((await collect(deps())).open).toEqual([]);
    expect(outbox().map((x) => x.event)).toEqual(['login', 'ended']);
  });

  it('a full spool drops the oldest outbox files and counts their records', async () => {
    await collect(deps());
    for (let i = 0; i < 5; i++) {
      login(700 + i, 70 + i);
      await collect(deps({ spoolMaxBytes: 1500 }));
    }
    const s = await loadState(stateDir);
    const kept = outbox();
    expect(kept.length + s.droppedTotal).toBe(5);
    expect(s.droppedTotal).toBeGreaterThan(0);
    expect(kept.map((x) => x.sshdPid)).toEqual([700, 701, 702, 703, 704].slice(s.droppedTotal));
  });
});

// ship() on the real file system, with a bucket stand-in that keeps S3's If-None-Match: * rule.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type AuditRecord, parseAuditLines, parseAuditObjectKey } from '../../../../../contract/audit.js';
import { ship } from '../../../../../host-agent/admin/audit/ship.js';
import {
  enforceLimit,
  ensureStateDir,
  loadState,
  saveState,
  segments,
  writeSegment,
} from '../../../../../host-agent/admin/audit/spool.js';
import { FetchError } from '../../../../../host-agent/errors.js';

const rec = (n: number): AuditRecord => ({
  id: `id-${n}`,
  time: new Date(Date.UTC(2026, 11, 7, 5, 0, n)).toISOString(),
  event: 'login',
  instanceId: 'i-0abc',
  accountId: '123456789012',
  region: 'eu-west-1',
  hostname: 'web-1',
  localUser: 'ec2-user',
  iamUser: 'alice',
  iamUserId: null,
  keyId: null,
  fingerprint: 'SHA256:5wTbBJzcHt/htLfaOUQXLZsKzRTdAK4MnPhGUA/KKhU',
  principal: 'groups/admins',
  keySource: 'iam',
  fetchedFrom: 'cache',
  sourceIp: '10.0.0.9',
  sourcePort: 1000 + n,
  sshdPid: 100 + n,
});

describe('ship (write-ahead batch, If-None-Match)', () => {
  let dir: string;
  let bucket: Map<string, string>;
  beforeEach(async () => {
    dir = join(mkdtempSync(join(tmpdir(), 'iak-ship-')), 'state');
    await ensureStateDir(dir);
    bucket = new Map();
  });
  afterEach(() => rmSync(join(dir, '..'), { recursive: true, force: true }));

  const put = async (key: string, body: string): Promise<'created' | 'exists'> => {
    if (bucket.has(key)) return 'exists';
    bucket.set(key, body);
    return 'created';
  };
  const deps = (over: Partial<Parameters<typeof ship>[0]> = {}) => ({
    stateDir: dir,
    now: () => Date.UTC(2026, 11, 7, 6, 0, 0),
    uploader: async () => 'AROAEXAMPLEROLEID01:i-0abc1234def56789',
    put,
    ...over,
  });
  const add = async (records: AuditRecord[]) => {
    const s = await loadState(dir);
    await writeSegment(dir, s.nextSeq, records);
    await saveState(dir, { ...s, nextSeq: s.nextSeq + 1 });
  };
  const shipped = () => [...bucket.values()].flatMap((b) => parseAuditLines(b).records);

  it('uploads the outbox in order under the uploader and day, then empties it', async () => {
    await add([rec(1), rec(2)]);
    await add([rec(3)]);
    expect(await ship(deps())).toEqual({ objects: 1, records: 3, alreadyThere: 0 });
    expect(shipped().map((r) => r.id)).toEqual(['id-1', 'id-2', 'id-3']);
    const [key] = [...bucket.keys()];
    expect(parseAuditObjectKey(key ?? '')).toEqual({
      date: '2026-12-07',
      uploader: 'AROAEXAMPLEROLEID01:i-0abc1234def56789',
      instanceId: 'i-0abc1234def56789',
    });
    expect(await segments(dir)).toEqual([]);
    expect(existsSync(join(dir, 'ship.json'))).toBe(false);
  });

  it('a run that died after the PUT sends the same object again: 412, nothing doubled', async () => {
    await add([rec(1)]);
    // The first run's PUT lands, then the process dies before it learns.
    await expect(
      ship(
        deps({
          put: async (k, b) => {
            await put(k, b);
            throw new FetchError('killed');
          },
        }),
      ),
    ).rejects.toThrow('killed');
    expect(existsSync(join(dir, 'ship.json'))).toBe(true);
    expect(await ship(deps())).toEqual({ objects: 1, records: 1, alreadyThere: 1 });
    expect(shipped().map((r) => r.id)).toEqual(['id-1']);
  });

  it('a 403 drops the written-ahead batch and the cached uploader id: nothing was stored', async () => {
    await add([rec(1)]);
    await saveState(dir, { ...(await loadState(dir)), uploader: 'AROAOLDROLEID000001:i-0abc' });
    const refused = async () => {
      throw new FetchError('S3 PUT answered 403 AccessDenied', 403);
    };
    await expect(ship(deps({ put: refused }))).rejects.toThrow('403');
    expect(existsSync(join(dir, 'ship.json'))).toBe(false);
    expect((await loadState(dir)).uploader).toBeUndefined();
    expect(await ship(deps())).toMatchObject({ objects: 1, records: 1 });
  });

  it('records dropped for the spool limit are reported once, on the next batch, even when that batch is sent twice', async () => {
    for (let i = 0; i < 4; i++) await add(Array.from({ length: 20 }, (_, j) => rec(i * 20 + j)));
    const s = await enforceLimit(dir, await loadState(dir), 4000);
    expect(s.droppedTotal).toBeGreaterThan(0);
    await expect(
      ship(
        deps({
          put: async (k, b) => {
            await put(k, b);
            throw new FetchError('killed');
          },
        }),
      ),
    ).rejects.toThrow('killed');
    await ship(deps());
    await add([rec(99)]);
    await ship(deps());
    const all = shipped();
    expect(all.filter((r) => r.droppedBefore !== undefined).map((r) => r.droppedBefore)).toEqual([
      s.droppedTotal,
    ]);
    expect(all.length + s.droppedTotal).toBe(81);
  });
});

import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { realRunner, realSystemFs } from '../../../../host-agent/admin/sys.js';

describe('realSystemFs.listMatches (real directory, the glob install uses)', () => {
  const fsys = realSystemFs(realRunner);
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'iak-glob-'));
    for (const f of [
      '60-a.conf',
      '61-b.conf',
      '60-a.conf.bak',
      'x.conf',
      '.h.conf',
      'a+b.conf',
      'aXb.conf',
    ]) {
      writeFileSync(join(dir, f), '');
    }
    mkdirSync(join(dir, 'sub.conf'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it.each([
    ['*.conf', ['.h.conf', '60-a.conf', '61-b.conf', 'a+b.conf', 'aXb.conf', 'sub.conf', 'x.conf']],
    ['6?-*.conf', ['60-a.conf', '61-b.conf']],
    ['a+b.conf', ['a+b.conf']],
    ['a?b.conf', ['a+b.conf', 'aXb.conf']],
    ['60-a.conf', ['60-a.conf']],
  ])('%s', async (pattern, names) => {
    expect(await fsys.listMatches(join(dir, pattern))).toEqual(names.map((n) => join(dir, n)));
  });

  it('a missing directory matches nothing', async () => {
    expect(await fsys.listMatches(join(dir, 'nope', '*.conf'))).toEqual([]);
  });
});

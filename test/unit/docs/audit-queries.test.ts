// docs/audit.md's Athena queries: they read the table the stack defines (its name,
// its columns) and take the instance from "$path" with a pattern that finds the
// instance in a key as contract/audit.ts makes it, and nothing in a key that is not
// one (a non-instance uploader).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { auditObjectKey } from '../../../contract/audit.js';
import { AUDIT_COLUMNS } from '../../../lib/audit-trail.js';

const ROOT = join(import.meta.dirname, '..', '..', '..');
const doc = readFileSync(join(ROOT, 'docs/audit.md'), 'utf8');
const sql = [...doc.matchAll(/```sql\n([\s\S]*?)```/g)].map((m) => m[1] as string).join('\n');
const code = sql.replace(/--[^\n]*/g, '');
const patterns = [
  ...new Set([...sql.matchAll(/regexp_extract\("\$path", '([^']+)', 1\)/g)].map((m) => m[1] as string)),
];

describe("docs/audit.md's queries", () => {
  it('are there, and all use one "$path" pattern', () => {
    expect(sql.match(/^SELECT/gm)?.length).toBeGreaterThanOrEqual(3);
    expect(patterns).toHaveLength(1);
  });

  it.each<[string, string, string | null]>([
    ['an instance role session', 'AROAEXAMPLEROLEID0001:i-0123456789abcdef0', 'i-0123456789abcdef0'],
    ['a short instance id', 'AROAEXAMPLEROLEID0001:i-01234567', 'i-01234567'],
    ['a user, not an instance', 'AIDAEXAMPLEUSERID0001', null],
    ['a role session that is not an instance', 'AROAEXAMPLEROLEID0001:operator', null],
  ])('the pattern finds the writer of %s', (_what, uploader, expected) => {
    const path = `s3://company-audit/${auditObjectKey(new Date('2026-12-07T00:00:00Z'), uploader, '1-2')}`;
    const m = new RegExp(patterns[0] as string).exec(path);
    expect(m?.[1] ?? null).toBe(expected);
  });

  it("name the stack's table and only its columns", () => {
    expect(sql).toContain('FROM iam_ssh_keys.logins');
    const columns = new Set([...Object.keys(AUDIT_COLUMNS).map((c) => c.toLowerCase()), 'dt']);
    const used = [...code.matchAll(/\b(?:SELECT|AND|WHERE|BY|,)\s+([a-z_0-9]+)\b/g)].map(
      (m) => m[1] as string,
    );
    const words = new Set(['date_format', 'regexp_extract', 'from_iso8601_timestamp', 'event', 'interval']);
    for (const u of used) if (!words.has(u)) expect(columns, u).toContain(u);
    expect(used.length).toBeGreaterThan(5);
  });
});

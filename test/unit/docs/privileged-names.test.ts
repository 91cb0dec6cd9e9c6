// docs/host-agent.md's table of privileged names (sync-users refuses them) lists
// exactly the names and prefixes of the one constant, each with its reason.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PRIVILEGED_NAMES, PRIVILEGED_PREFIXES } from '../../../host-agent/admin/sync-users/privileged.js';

const PAGE = join(import.meta.dirname, '..', '..', '..', 'docs', 'host-agent.md');

/** Names in the first cell of the rows after the `| Name | Why |` header. */
function documentedNames(markdown: string): string[] {
  const lines = markdown.split('\n').map((l) => l.trim());
  const start = lines.indexOf('| Name | Why |');
  if (start < 0) throw new Error('docs/host-agent.md has no "| Name | Why |" table');
  const names: string[] = [];
  for (const line of lines.slice(start + 2)) {
    if (!line.startsWith('|')) break;
    const [first = '', why = ''] = line.split('|').slice(1);
    expect(why.trim(), line).not.toBe('');
    names.push(...[...first.matchAll(/`([^`]+)`/g)].map((m) => m[1] as string));
  }
  return names;
}

describe('privileged names in docs/host-agent.md', () => {
  it('the table lists exactly PRIVILEGED_NAMES and the prefixes (as `prefix*`), each with a reason', () => {
    const names = documentedNames(readFileSync(PAGE, 'utf8'));
    expect([...names].sort()).toEqual(
      [...PRIVILEGED_NAMES, ...PRIVILEGED_PREFIXES.map((p) => `${p}*`)].sort(),
    );
  });
});

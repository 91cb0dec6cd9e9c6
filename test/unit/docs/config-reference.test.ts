// docs/host-agent.md's configuration table lists exactly the keys the host
// agent's config parsers accept (the login's and the admin-only sections'), each
// with the default the parser applies, and its example (every key) parses.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  CONFIG_FILE_KEYS as CONFIG_KEYS,
  parseAdminConfig as parseConfig,
} from '../../../host-agent/admin/config.js';
import { ConfigError } from '../../../host-agent/config.js';

const PAGE = join(import.meta.dirname, '..', '..', '..', 'docs', 'host-agent.md');

interface Row {
  readonly key: string;
  readonly defaultCell: string;
  readonly line: number;
}

/** The "## Configuration reference" section: its table rows and its json example. */
function section(markdown: string): { rows: Row[]; example: string } {
  const lines = markdown.split('\n');
  const start = lines.findIndex((l) => l.trim() === '## Configuration reference');
  if (start < 0) throw new Error('docs/host-agent.md has no "## Configuration reference" section');
  const endRel = lines.slice(start + 1).findIndex((l) => /^## /.test(l));
  const body = lines.slice(start + 1, endRel < 0 ? undefined : start + 1 + endRel);
  const rows: Row[] = [];
  body.forEach((l, i) => {
    const m = /^\|\s*`([^`]+)`\s*\|\s*(.*?)\s*\|/.exec(l);
    if (m) rows.push({ key: m[1] as string, defaultCell: m[2] as string, line: start + 2 + i });
  });
  const open = body.findIndex((l) => l.trim() === '```json');
  const close = body.findIndex((l, i) => i > open && l.trim() === '```');
  if (open < 0 || close < 0) throw new Error('the configuration section has no ```json example');
  return { rows, example: body.slice(open + 1, close).join('\n') };
}

const { rows, example } = section(readFileSync(PAGE, 'utf8'));

/** The objects whose keys the parser checks (`cache`, `iamUsers`, ...): every group of CONFIG_KEYS but `top`. */
const NESTED = Object.keys(CONFIG_KEYS).filter((g) => g !== 'top');
const parserKeys = Object.entries(CONFIG_KEYS).flatMap(([group, keys]) =>
  group === 'top' ? [...keys] : keys.map((k) => `${group}.${k}`),
);

const MINIMAL = { bucket: 'company-ssh-keys', region: 'eu-west-1' };
/** A section with a required key of its own: what it needs to parse at all (its other defaults are asked with it). */
const SECTION_MINIMAL: Readonly<Record<string, Record<string, unknown>>> = {
  audit: { bucket: 'company-ssh-audit' },
};
const sectionMinimal = (parent: string) => ({
  ...(Object.hasOwn(SECTION_MINIMAL, parent) ? SECTION_MINIMAL[parent] : {}),
});

/** The parsed value at a dotted path of a config where each parent object is present but empty. */
function parsedDefault(key: string): unknown {
  const [parent, child] = key.split('.') as [string, string | undefined];
  const raw: Record<string, unknown> = { ...MINIMAL };
  if (child !== undefined) raw[parent] = sectionMinimal(parent);
  const config = parseConfig(JSON.stringify(raw), 'test') as unknown as Record<string, unknown>;
  const top = config[parent];
  return child === undefined ? top : (top as Record<string, unknown>)[child];
}

describe('docs/host-agent.md configuration reference', () => {
  it('lists exactly the keys the parser accepts, once each', () => {
    const documented = rows.map((r) => r.key);
    const twice = documented.filter((k, i) => documented.indexOf(k) !== i);
    expect(twice.map((k) => `${k} has two rows in docs/host-agent.md`)).toEqual([]);
    expect([
      ...parserKeys
        .filter((k) => !documented.includes(k))
        .map(
          (k) =>
            `${k} (host-agent/admin/config.ts CONFIG_FILE_KEYS) is missing from docs/host-agent.md's configuration table`,
        ),
      ...rows
        .filter((r) => !parserKeys.includes(r.key))
        .map((r) => `${r.key} is in docs/host-agent.md:${r.line} but the parser accepts no such key`),
    ]).toEqual([]);
  });

  it('every nested group is a top-level key, and there is more than one', () => {
    expect(NESTED.length).toBeGreaterThan(1);
    expect(NESTED.filter((g) => !(CONFIG_KEYS.top as readonly string[]).includes(g))).toEqual([]);
  });

  it('the parser refuses a key the table does not list, at every level', () => {
    const cases: [string, Record<string, unknown>][] = [
      ['top', { ...MINIMAL, bogus: 1 }],
      ...NESTED.map((g): [string, Record<string, unknown>] => [g, { ...MINIMAL, [g]: { bogus: 1 } }]),
    ];
    for (const [where, raw] of cases) {
      expect(() => parseConfig(JSON.stringify(raw), where), where).toThrow(/unknown setting "bogus"/);
    }
  });

  it('the example sets every documented key and parses', () => {
    const raw = JSON.parse(example) as Record<string, unknown>;
    const present = Object.entries(raw).flatMap(([k, v]) =>
      NESTED.includes(k) ? [k, ...Object.keys(v as object).map((c) => `${k}.${c}`)] : [k],
    );
    expect(present.sort()).toEqual([...parserKeys].sort());
    expect(() => parseConfig(example, 'example')).not.toThrow();
  });

  it.each(rows.map((r) => [r.key, r.defaultCell, r.line] as const))(
    '%s: default "%s" (line %i) is what the parser applies',
    (key, cell) => {
      if (cell === 'required') {
        const [parent, child] = key.split('.') as [string, string | undefined];
        const raw: Record<string, unknown> = { ...MINIMAL };
        if (child !== undefined) {
          const section = sectionMinimal(parent);
          delete section[child];
          raw[parent] = section;
        }
        delete raw[key];
        expect(() => parseConfig(JSON.stringify(raw), 'test')).toThrow(ConfigError);
        return;
      }
      if (cell.startsWith('none') || cell === 'see below') {
        // Absent unless set (an object whose parts have their own rows).
        const v = parsedDefault(key);
        if (cell === 'see below') expect(v).toBeTypeOf('object');
        else expect(v).toBeUndefined();
        return;
      }
      const literal = /^`([^`]+)`/.exec(cell);
      expect(literal, `default cell of ${key} must start with a JSON literal in backticks`).not.toBeNull();
      expect(parsedDefault(key)).toEqual(JSON.parse((literal as RegExpExecArray)[1] as string));
    },
  );
});

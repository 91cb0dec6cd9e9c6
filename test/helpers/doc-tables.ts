// Reads the reference tables and the `code spans` of markdown pages, for the
// doc checks that compare them with the code. Pure: text in, rows out.

export interface Section {
  readonly file: string;
  /** 1-based line of the first line after the heading. */
  readonly line: number;
  readonly lines: readonly string[];
}

/** The body of the section under `heading` (e.g. `## Metrics`), up to the next heading of its level or above. */
export function section(file: string, markdown: string, heading: string): Section {
  const lines = markdown.split('\n');
  const start = lines.findIndex((l) => l.trim() === heading);
  if (start < 0) throw new Error(`${file} has no "${heading}" section`);
  const level = (/^#+/.exec(heading)?.[0] ?? '').length;
  const end = lines.findIndex((l, i) => i > start && new RegExp(`^#{1,${level}} `).test(l));
  return { file, line: start + 2, lines: lines.slice(start + 1, end < 0 ? undefined : end) };
}

export interface Row {
  readonly cells: readonly string[];
  /** file:line of the row. */
  readonly at: string;
}

function cellsOf(line: string): string[] {
  // `|` inside a code span (`CODE|-`) is not a column separator.
  const cells: string[] = [];
  let cur = '';
  let inCode = false;
  for (const c of line.trim().replace(/^\|/, '').replace(/\|$/, '')) {
    if (c === '`') inCode = !inCode;
    if (c === '|' && !inCode) {
      cells.push(cur.trim());
      cur = '';
    } else cur += c;
  }
  cells.push(cur.trim());
  return cells;
}

/** The rows of the one table of the section whose header starts with the cell `firstHeader`. */
export function table(s: Section, firstHeader: string): Row[] {
  const starts = s.lines.flatMap((l, i) =>
    l.trim().startsWith('|') &&
    cellsOf(l)[0] === firstHeader &&
    /^\s*\|[\s:|-]+\|\s*$/.test(s.lines[i + 1] ?? '')
      ? [i]
      : [],
  );
  if (starts.length !== 1)
    throw new Error(
      `${s.file}:${s.line}: expected one table headed "${firstHeader}", found ${starts.length}`,
    );
  const rows: Row[] = [];
  for (let i = (starts[0] as number) + 2; i < s.lines.length && s.lines[i]?.trim().startsWith('|'); i++) {
    rows.push({ cells: cellsOf(s.lines[i] as string), at: `${s.file}:${s.line + i}` });
  }
  return rows;
}

/** The texts of the `code spans` of a piece of markdown. */
export function codeSpans(text: string): string[] {
  return [...text.matchAll(/`([^`\n]+)`/g)].map((m) => m[1] as string);
}

/** The names a table cell gives in code spans, each span's first word (`--bucket NAME` gives `--bucket`). */
export function cellNames(cell: string): string[] {
  return codeSpans(cell).map((c) => c.split(/[\s=]/)[0] as string);
}

export interface Span {
  readonly text: string;
  /** file:line of the span. */
  readonly at: string;
}

/** Every code span of the page's prose and tables (a span may wrap a line; fenced code blocks are left out). */
export function proseSpans(file: string, markdown: string): Span[] {
  const out: Span[] = [];
  let fence: string | undefined;
  let para: { first: number; lines: string[] } | undefined;
  const flush = () => {
    if (!para) return;
    const text = para.lines.join('\n');
    for (const m of text.matchAll(/`([^`]+)`/g)) {
      const line = para.first + (text.slice(0, m.index).match(/\n/g)?.length ?? 0);
      out.push({ text: (m[1] as string).replace(/\s*\n\s*/g, ' '), at: `${file}:${line}` });
    }
    para = undefined;
  };
  markdown.split('\n').forEach((l, i) => {
    const f = /^\s*(```+|~~~+)/.exec(l)?.[1];
    if (fence !== undefined) {
      if (f?.startsWith(fence)) fence = undefined;
      return;
    }
    if (f !== undefined) {
      flush();
      fence = f;
    } else if (l.trim() === '' || /^\s*\|/.test(l)) {
      // A table row is a paragraph of its own: spans never cross rows.
      flush();
      if (l.trim() !== '') para = { first: i + 1, lines: [l] };
      flush();
    } else {
      if (!para) para = { first: i + 1, lines: [] };
      para.lines.push(l);
    }
  });
  flush();
  return out;
}

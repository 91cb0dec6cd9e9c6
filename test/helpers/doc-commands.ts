// Reads the shell commands shown in markdown (fenced code blocks) so the docs
// tests can check each one. Pure: text in, commands out.

export interface CodeBlock {
  readonly file: string;
  /** 1-based line of the block's first content line. */
  readonly line: number;
  readonly lang: string;
  readonly lines: readonly string[];
}

export interface ShellCommand {
  readonly file: string;
  /** 1-based line where the command starts. */
  readonly line: number;
  /** The command as written (continuations joined). */
  readonly text: string;
  /** Words after quote removal; `$(...)` stays inside its word. */
  readonly argv: readonly string[];
}

/** Languages whose blocks are shell commands. */
export const SHELL_LANGS = new Set(['sh', 'bash', 'shell', 'console']);

/** Every fenced block (``` or ~~~) of a markdown file, with its info string's first word. */
export function codeBlocks(file: string, markdown: string): CodeBlock[] {
  const out: CodeBlock[] = [];
  const lines = markdown.split('\n');
  let open: { fence: string; lang: string; line: number; lines: string[] } | undefined;
  lines.forEach((l, i) => {
    if (open) {
      if (l.trim().startsWith(open.fence) && l.trim().replace(/[`~]/g, '') === '') {
        out.push({ file, line: open.line, lang: open.lang, lines: open.lines });
        open = undefined;
      } else open.lines.push(l);
      return;
    }
    const m = /^\s*(```+|~~~+)\s*([^\s`]*)/.exec(l);
    if (m) open = { fence: m[1] as string, lang: (m[2] ?? '').toLowerCase(), line: i + 2, lines: [] };
  });
  if (open) throw new Error(`${file}:${open.line - 1}: code block never closed`);
  return out;
}

/**
 * Splits one command line into words like a POSIX shell would for our purpose:
 * quotes removed, `$(...)` kept whole inside its word, and the control operators
 * `&&`, `||`, `;`, `|` returned as their own words.
 */
export function shellWords(text: string): string[] {
  const words: string[] = [];
  let cur = '';
  let inWord = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i] as string;
    if (c === "'") {
      const end = text.indexOf("'", i + 1);
      if (end < 0) throw new Error(`unclosed ' in: ${text}`);
      cur += text.slice(i + 1, end);
      inWord = true;
      i = end;
    } else if (c === '"') {
      let j = i + 1;
      for (; j < text.length && text[j] !== '"'; j++) {
        if (text[j] === '\\' && j + 1 < text.length) cur += text[++j];
        else cur += text[j];
      }
      if (j >= text.length) throw new Error(`unclosed " in: ${text}`);
      inWord = true;
      i = j;
    } else if (c === '$' && text[i + 1] === '(') {
      let depth = 0;
      let j = i + 1;
      for (; j < text.length; j++) {
        if (text[j] === '(') depth++;
        else if (text[j] === ')' && --depth === 0) break;
      }
      if (j >= text.length) throw new Error(`unclosed $( in: ${text}`);
      cur += text.slice(i, j + 1);
      inWord = true;
      i = j;
    } else if (c === '<' && /^<[^\s<>][^<>]*>/.test(text.slice(i))) {
      // A <placeholder> (spaces allowed) for the reader to fill in; `< file` is a redirection.
      const end = text.indexOf('>', i);
      cur += text.slice(i, end + 1);
      inWord = true;
      i = end;
    } else if (c === '\\' && i + 1 < text.length) {
      cur += text[++i];
      inWord = true;
    } else if (/\s/.test(c)) {
      if (inWord) words.push(cur);
      cur = '';
      inWord = false;
    } else if (c === '#' && !inWord) {
      break; // a comment
    } else if (c === '&' || c === '|' || c === ';') {
      if (inWord) words.push(cur);
      cur = '';
      inWord = false;
      const two = text.slice(i, i + 2);
      if (two === '&&' || two === '||') {
        words.push(two);
        i++;
      } else words.push(c);
    } else {
      cur += c;
      inWord = true;
    }
  }
  if (inWord) words.push(cur);
  return words;
}

const OPERATORS = new Set(['&&', '||', ';', '|', '&']);

/**
 * The simple commands of a shell block: comments and blank lines skipped,
 * `\` continuations joined, here-document bodies skipped, and in `console`
 * blocks only `$ ` / `# ` prompt lines read (the rest is output).
 */
export function shellCommands(block: CodeBlock): ShellCommand[] {
  const out: ShellCommand[] = [];
  let heredoc: string | undefined;
  for (let i = 0; i < block.lines.length; i++) {
    const start = i;
    let line = block.lines[i] as string;
    if (heredoc !== undefined) {
      if (line.trim() === heredoc) heredoc = undefined;
      continue;
    }
    if (block.lang === 'console') {
      const m = /^\s*[$#] (.*)$/.exec(line);
      if (!m) continue;
      line = m[1] as string;
    }
    while (line.trimEnd().endsWith('\\') && i + 1 < block.lines.length) {
      line = `${line.trimEnd().slice(0, -1)} ${(block.lines[++i] as string).trim()}`;
    }
    const text = line.trim();
    if (text === '' || text.startsWith('#')) continue;
    const here = /<<-?\s*['"]?([A-Za-z_][A-Za-z0-9_]*)['"]?/.exec(text);
    if (here) heredoc = here[1];
    const words = shellWords(text.replace(/<<-?\s*['"]?[A-Za-z_][A-Za-z0-9_]*['"]?/, ''));
    let argv: string[] = [];
    const flush = () => {
      if (argv.length > 0) out.push({ file: block.file, line: block.line + start, text, argv });
      argv = [];
    };
    for (const w of words) {
      if (OPERATORS.has(w)) flush();
      else argv.push(w);
    }
    flush();
  }
  return out;
}

/**
 * The program a command runs and its arguments, with what only sets up the
 * run peeled off: `VAR=value` prefixes, `sudo [-u USER] [-E]`, `npx`, `node`
 * running a file, and a path to one of our programs (dist/iam-ssh-keys,
 * /usr/local/bin/iam-authorized-keys). Redirections (`> file`, `< file`) are dropped.
 */
export function program(argv: readonly string[]): { name: string; args: string[] } {
  let a = [...argv];
  const dropRedirections = (xs: string[]) => {
    const kept: string[] = [];
    for (let i = 0; i < xs.length; i++) {
      const w = xs[i] as string;
      if (/^\d?(>>?|<)$/.test(w)) i++;
      else if (/^\d?(>>?|<)./.test(w) || w === '2>&1') continue;
      else kept.push(w);
    }
    return kept;
  };
  a = dropRedirections(a);
  for (;;) {
    const w = a[0];
    if (w === undefined) return { name: '', args: [] };
    if (/^[A-Za-z_][A-Za-z0-9_]*=/.test(w)) a = a.slice(1);
    else if (w === 'sudo') {
      a = a.slice(1);
      while (a[0]?.startsWith('-')) a = a.slice(a[0] === '-u' ? 2 : 1);
    } else if (w === 'npx') a = a.slice(1);
    else if (w === 'node' && a[1] !== undefined && !a[1].startsWith('-')) a = a.slice(1);
    else break;
  }
  const first = a[0] as string;
  const base = first.slice(first.lastIndexOf('/') + 1);
  const ours = /^(iam-ssh-keys|iam-authorized-keys)$/.test(base);
  return { name: ours ? base : first, args: a.slice(1) };
}

/** A value written as a placeholder for the reader to fill in. */
export function isPlaceholder(value: string): boolean {
  return /<[^>]*>|\$\(|\$\{|\.\.\./.test(value);
}

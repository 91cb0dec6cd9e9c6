// Another AuthorizedKeysCommand (e.g. EC2 Instance Connect's) whose output is
// appended to ours. Trust decision: its lines are printed as-is, because they
// are that command's responsibility (it may legitimately use options such as
// expiry-time=); we only bound its time and size and drop its output when it
// fails. It runs without a shell, with the agent's environment and user.

import { ChainCommandError } from './errors.js';

export type ChainResult = { ok: true; stdout: string } | { ok: false; reason: string };

export const MAX_CHAIN_OUTPUT = 1024 * 1024;

/**
 * sshd's AuthorizedKeysCommand tokens the agent can give a chained command. sshd
 * runs the agent as `-- %u %f`: the user and the key's fingerprint are all it
 * receives, so the others (what sshd_config(5) lists for AuthorizedKeysCommand)
 * are refused when the chain is configured, never passed on empty or literal.
 */
const UNAVAILABLE_TOKENS: ReadonlyMap<string, string> = new Map([
  ['C', 'the connection endpoints'],
  ['D', 'the routing domain'],
  ['U', "the user's uid"],
  ['h', "the user's home directory"],
  ['k', 'the key itself'],
  ['t', 'the key type'],
]);

/**
 * Splits a command line the way sshd splits AuthorizedKeysCommand (argv_split in
 * OpenSSH's misc.c): words separated by spaces or tabs; '...' and "..." group
 * (and may join) parts of a word; a backslash escapes a quote, a backslash, or a
 * space outside quotes, and is kept before anything else. Throws
 * ChainCommandError on an unclosed quote, as sshd refuses such a line.
 */
export function splitCommandLine(s: string): string[] {
  const argv: string[] = [];
  let i = 0;
  while (i < s.length) {
    if (s[i] === ' ' || s[i] === '\t') {
      i++;
      continue;
    }
    let arg = '';
    let quote: string | undefined;
    for (; i < s.length; i++) {
      const c = s[i] as string;
      const next = s[i + 1];
      if (c === '\\') {
        if (next === "'" || next === '"' || next === '\\' || (quote === undefined && next === ' ')) {
          arg += next;
          i++;
        } else arg += c; // an unrecognised escape keeps its backslash
      } else if (quote === undefined && (c === ' ' || c === '\t')) break;
      else if (quote === undefined && (c === '"' || c === "'")) quote = c;
      else if (c === quote) quote = undefined;
      else arg += c;
    }
    if (quote !== undefined)
      throw new ChainCommandError(`unclosed ${quote} in command line ${JSON.stringify(s)}`);
    argv.push(arg);
  }
  return argv;
}

/**
 * Expands sshd's %-tokens in one argument; `value` answers the ones the agent has (u, f). A loop, not
 * arg.replace(/%([\s\S]?)/g, ...): the config's chain is checked at every login, and a cache hit runs
 * no regular expression (contract/charset.ts).
 */
function expandTokens(arg: string, position: number, value: (token: string) => string | undefined): string {
  let out = '';
  let from = 0;
  for (let at = arg.indexOf('%'); at !== -1; at = arg.indexOf('%', from)) {
    // The one UTF-16 unit after %, as the pattern took it; '' at the end.
    const t = arg.charAt(at + 1);
    out += arg.slice(from, at) + tokenValue(t, position, value);
    from = at + 1 + t.length;
  }
  return out + arg.slice(from);
}

function tokenValue(t: string, position: number, value: (token: string) => string | undefined): string {
  if (t === '%') return '%';
  const v = t === '' ? undefined : value(t);
  if (v !== undefined) return v;
  const what = UNAVAILABLE_TOKENS.get(t);
  throw new ChainCommandError(
    t === ''
      ? `chain argument ${position} ends with a lone %: write %% for a literal %`
      : what
        ? `chain argument ${position}: %${t} (${what}) cannot be given to a chained command: sshd passes the agent only %u and %f`
        : `chain argument ${position}: unknown token %${t} (sshd would refuse it too): use %u, %f or %%`,
  );
}

/**
 * Checks a chain argv the way sshd checks AuthorizedKeysCommand's: every
 * argument after the command expands (%u, %f, %%), nothing else. Throws
 * ChainCommandError naming the first one that does not.
 */
export function checkChainTokens(argv: readonly string[]): void {
  substituteChain(argv, 'user', 'SHA256:x');
}

/**
 * %u -> user, %f -> fingerprint ('' without one), %% -> %, in every argument but
 * the command itself (as sshd does); each argv item stays one item.
 */
export function substituteChain(
  argv: readonly string[],
  user: string,
  fingerprint: string | undefined,
): string[] {
  const value = (t: string) => (t === 'u' ? user : t === 'f' ? (fingerprint ?? '') : undefined);
  return argv.map((a, i) => (i === 0 ? a : expandTokens(a, i, value)));
}

export interface ChainOptions {
  readonly signal?: AbortSignal;
  readonly env: NodeJS.ProcessEnv;
  readonly maxBytes?: number;
}

export async function runChain(argv: readonly string[], opts: ChainOptions): Promise<ChainResult> {
  const [cmd, ...args] = argv;
  const limit = opts.maxBytes ?? MAX_CHAIN_OUTPUT;
  // child_process costs ~8 ms to load: only when a chain is configured.
  const { spawn } = await import('./lazy-spawn.js');
  return new Promise((resolve) => {
    if (!cmd) return resolve({ ok: false, reason: 'empty command' });
    if (opts.signal?.aborted) return resolve({ ok: false, reason: 'deadline reached before it started' });
    // Its own process group, so the deadline kills what it started too (EC2 Instance
    // Connect's script runs curl under `timeout`): a surviving grandchild holding the
    // pipe open would otherwise keep us waiting, and sshd with us.
    const child = spawn(cmd, args, {
      stdio: ['ignore', 'pipe', 'inherit'],
      env: opts.env,
      shell: false,
      detached: true,
    });
    const chunks: Buffer[] = [];
    let size = 0;
    let failure: string | undefined;
    const kill = (reason: string) => {
      failure ??= reason;
      try {
        if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
      } catch {
        child.kill('SIGKILL'); // the group is gone already
      }
    };
    const onAbort = () => {
      kill('deadline reached');
      // Do not wait for 'close': a process that escaped the group may still hold the pipe.
      child.stdout?.destroy();
      resolve({ ok: false, reason: `${cmd}: deadline reached` });
    };
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    child.stdout?.on('data', (c: Buffer) => {
      size += c.length;
      if (size > limit) kill(`output over ${limit} bytes`);
      else chunks.push(c);
    });
    child.once('error', (e) => {
      // A spawn failure may not be followed by 'close': answer now.
      opts.signal?.removeEventListener('abort', onAbort);
      resolve({ ok: false, reason: `cannot run ${cmd}: ${(e as NodeJS.ErrnoException).code ?? e.message}` });
    });
    child.once('close', (code, signal) => {
      opts.signal?.removeEventListener('abort', onAbort);
      if (failure) return resolve({ ok: false, reason: `${cmd}: ${failure}` });
      if (code !== 0) return resolve({ ok: false, reason: `${cmd} exited with ${code ?? signal}` });
      const out = Buffer.concat(chunks).toString('utf8');
      resolve({ ok: true, stdout: out === '' || out.endsWith('\n') ? out : `${out}\n` });
    });
  });
}

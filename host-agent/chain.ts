// Another AuthorizedKeysCommand (e.g. EC2 Instance Connect's) whose output is
// appended to ours. Trust decision: its lines are printed as-is, because they
// are that command's responsibility (it may legitimately use options such as
// expiry-time=); we only bound its time and size and drop its output when it
// fails. It runs without a shell, with the agent's environment and user.

export type ChainResult = { ok: true; stdout: string } | { ok: false; reason: string };

export const MAX_CHAIN_OUTPUT = 1024 * 1024;

/** %u -> user, %f -> fingerprint ('' without one), %% -> %; each argv item stays one item. */
export function substituteChain(
  argv: readonly string[],
  user: string,
  fingerprint: string | undefined,
): string[] {
  return argv.map((a) =>
    a.replace(/%([%uf])/g, (_, t: string) => (t === 'u' ? user : t === 'f' ? (fingerprint ?? '') : '%')),
  );
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

import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkChainTokens, runChain, splitCommandLine, substituteChain } from '../../../host-agent/chain.js';
import { ChainCommandError } from '../../../host-agent/errors.js';
import { variants } from '../../helpers/strings.js';

describe('substituteChain', () => {
  it.each([
    [['/x', '%u', '%f'], 'alice', 'SHA256:abc', ['/x', 'alice', 'SHA256:abc']],
    [['/x', '--user=%u'], 'alice', undefined, ['/x', '--user=alice']],
    [['/x', '%f'], 'alice', undefined, ['/x', '']],
    [['/x', '100%%'], 'a', undefined, ['/x', '100%']],
    [['/x', '%%u'], 'a', undefined, ['/x', '%u']],
    [['/x', '%u %u'], 'a', undefined, ['/x', 'a a']],
    // Like sshd: the command itself is never expanded.
    [['/opt/%u/cmd', '%u'], 'a', undefined, ['/opt/%u/cmd', 'a']],
    // A value is inserted once, never expanded again.
    [['/x', '%u'], '%f', 'SHA256:abc', ['/x', '%f']],
  ] as [string[], string, string | undefined, string[]][])('%j', (argv, user, fp, expected) => {
    expect(substituteChain(argv, user, fp)).toEqual(expected);
  });
});

describe('checkChainTokens: only what sshd passes the agent (%u %f), refused otherwise', () => {
  it.each([['/x'], ['/x', '%u', '%f'], ['/x', '--fp=%f', '100%%'], ['/opt/%k/x', '%u']])(
    '%j is fine',
    (...argv) => {
      expect(() => checkChainTokens(argv)).not.toThrow();
    },
  );
  it.each<[string[], RegExp]>([
    [
      ['/x', '%k'],
      /^chain argument 1: %k \(the key itself\) cannot be given to a chained command: sshd passes the agent only %u and %f$/,
    ],
    [['/x', '%u', '%t'], /^chain argument 2: %t \(the key type\)/],
    [['/x', '%U'], /%U \(the user's uid\)/],
    [['/x', '%h'], /%h \(the user's home directory\)/],
    [['/x', '%C'], /%C \(the connection endpoints\)/],
    [['/x', '%D'], /%D \(the routing domain\)/],
    [['/x', '%z'], /^chain argument 1: unknown token %z \(sshd would refuse it too\): use %u, %f or %%$/],
    [['/x', '100%'], /^chain argument 1 ends with a lone %: write %% for a literal %$/],
  ])('%j', (argv, message) => {
    expect(() => checkChainTokens(argv)).toThrow(ChainCommandError);
    expect(() => checkChainTokens(argv)).toThrow(message);
  });
});

describe('splitCommandLine: as sshd splits AuthorizedKeysCommand (OpenSSH misc.c argv_split)', () => {
  it.each<[string, string[]]>([
    ['/opt/aws/bin/eic_run_authorized_keys %u %f', ['/opt/aws/bin/eic_run_authorized_keys', '%u', '%f']],
    ['  /x \t a   b  ', ['/x', 'a', 'b']],
    ['', []],
    ['/x "a b" \'c d\'', ['/x', 'a b', 'c d']],
    ['/x a"b c"d', ['/x', 'ab cd']],
    ['/x ""', ['/x', '']],
    ['/x "it\'s"', ['/x', "it's"]],
    ['/x \'say "hi"\'', ['/x', 'say "hi"']],
    ['/x a\\ b', ['/x', 'a b']],
    ['/x "a\\ b"', ['/x', 'a\\ b']],
    ['/x \\"q\\" \\\'', ['/x', '"q"', "'"]],
    ["/x '\\''", ['/x', "'"]],
    ['/x a\\\\b', ['/x', 'a\\b']],
    ['/x a\\nb c\\', ['/x', 'a\\nb', 'c\\']],
    ['/x "%u" \'%f\'', ['/x', '%u', '%f']],
  ])('%j', (line, argv) => {
    expect(splitCommandLine(line)).toEqual(argv);
  });
  it.each(['/x "a', "/x 'a", '/x "a\\"'])('%j: an unclosed quote is refused', (line) => {
    expect(() => splitCommandLine(line)).toThrow(ChainCommandError);
  });
});

describe('runChain (real processes)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'iak-chain-'));
  const script = (name: string, body: string) => {
    const p = join(dir, name);
    writeFileSync(p, `#!/bin/sh\n${body}\n`);
    chmodSync(p, 0o755);
    return p;
  };
  const env = { PATH: '/usr/bin:/bin' };

  it('returns stdout and passes argv items unsplit, without a shell', async () => {
    const p = script('echo', 'printf "%s|" "$@"; echo');
    expect(await runChain([p, 'a b', '$(id)', ';x'], { env })).toEqual({
      ok: true,
      stdout: 'a b|$(id)|;x|\n',
    });
  });
  it('adds a missing final newline', async () => {
    const p = script('nonl', 'printf x');
    expect(await runChain([p], { env })).toEqual({ ok: true, stdout: 'x\n' });
  });
  it('reports a non-zero exit', async () => {
    const p = script('fail', 'echo partial; exit 3');
    expect(await runChain([p], { env })).toEqual({ ok: false, reason: `${p} exited with 3` });
  });
  it('reports a missing command', async () => {
    const r = await runChain([join(dir, 'missing')], { env });
    expect(r).toMatchObject({ ok: false, reason: expect.stringMatching(/ENOENT/) });
  });
  it('kills it at the deadline', async () => {
    const p = script('slow', 'sleep 30');
    const r = await runChain([p], { env, signal: AbortSignal.timeout(200) });
    expect(r).toEqual({ ok: false, reason: `${p}: deadline reached` });
  });
  it('kills what it started too, and answers without waiting for a grandchild holding the pipe', async () => {
    const pidFile = join(dir, 'grandchild.pid');
    // Old behaviour waited for the pipe: 100 s, past the test timeout. Like EC2 Instance Connect's script: the real work runs in a child process.
    const p = script('spawner', `sleep 100 & echo $! > ${pidFile}; wait`);
    const r = await runChain([p], { env, signal: AbortSignal.timeout(300) });
    expect(r).toEqual({ ok: false, reason: `${p}: deadline reached` });
    const pid = Number(readFileSync(pidFile, 'utf8'));
    // Gone, or a zombie nobody has reaped yet (this container's pid 1 may not reap).
    const state = () => {
      try {
        return readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.[0];
      } catch {
        return 'gone';
      }
    };
    for (let i = 0; i < 50 && !['gone', 'Z'].includes(state() ?? ''); i++)
      await new Promise((res) => setTimeout(res, 20));
    expect(['gone', 'Z']).toContain(state());
  });
  it('kills it when its output is too large', async () => {
    const p = script('big', 'yes keyline | head -c 100000');
    const r = await runChain([p], { env, maxBytes: 1000 });
    expect(r).toEqual({ ok: false, reason: `${p}: output over 1000 bytes` });
  });
});

describe('%-token expansion without a regular expression', () => {
  // What expandTokens did with arg.replace(/%([\s\S]?)/g, ...): the reference the loop must match.
  const byPattern = (argv: readonly string[], user: string, fp: string) =>
    argv.map((a, i) =>
      i === 0
        ? a
        : a.replace(/%([\s\S]?)/g, (_m, t: string) => {
            if (t === '%') return '%';
            if (t === 'u') return user;
            if (t === 'f') return fp;
            throw new ChainCommandError(t);
          }),
    );
  const outcome = (f: () => readonly string[]) => {
    try {
      return f();
    } catch (e) {
      return e instanceof ChainCommandError ? 'refused' : 'other error';
    }
  };

  it('substituteChain expands and refuses as the pattern did', () => {
    const args = variants(13, 4000, (r) => {
      const parts = ['%u', '%f', '%%', '%', 'x', '%k', '%\n', '🔑', '%\ud83d\udd11', ' '];
      let s = '';
      for (let i = Math.floor(r() * 6); i > 0; i--) s += parts[Math.floor(r() * parts.length)];
      return s;
    });
    for (const a of args) {
      const argv = ['/bin/cmd', a, `-${a}`];
      expect(outcome(() => substituteChain(argv, 'al$ice', 'SHA256:abc'))).toEqual(
        outcome(() => byPattern(argv, 'al$ice', 'SHA256:abc')),
      );
    }
  });
});

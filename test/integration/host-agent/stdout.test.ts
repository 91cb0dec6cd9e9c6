// stdout is what sshd reads as authorized_keys: the built agent (script, or the
// standalone executable with IAK_E2E_AGENT=standalone) writes nothing else there,
// whatever it is asked. Help and usage go to stderr; in a login's shape they are
// an error (exit 2); `--` makes any USER a user, never an option.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AGENT_KIND, STANDALONE_NAME, withoutNode } from '../../../dev/agent-kind.js';

const ROOT = new URL('../../..', import.meta.url).pathname;
const AGENT = join(ROOT, 'dist', AGENT_KIND === 'standalone' ? STANDALONE_NAME : 'iam-authorized-keys');
const FP = 'SHA256:RPLynQ5OREsukid9Hhg0+NQ7gmeTcFl+SqLmiEDLpu4';
let work: string;
let config: string;

function agent(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const [cmd, argv] = withoutNode(AGENT, args);
  return new Promise((resolve) => {
    execFile(
      cmd,
      argv,
      { env: { PATH: '/usr/bin:/bin', HOME: work }, encoding: 'utf8', timeout: 20_000 },
      (err, stdout, stderr) => resolve({ code: err ? Number(err.code ?? 1) : 0, stdout, stderr }),
    );
  });
}

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'iak-stdout-'));
  config = join(work, 'config.json');
  // No users mapped: any USER gets no keys, and no request is ever made.
  writeFileSync(
    config,
    JSON.stringify({ bucket: 'stdout-keys', region: 'us-east-1', cache: { dir: join(work, 'cache') } }),
  );
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('nothing but key lines on stdout', () => {
  it.each([
    ['--config F -h (sshd-shaped help)', () => ['--config', config, '-h'], 2],
    ['--config F --help USER', () => ['--config', config, '--help', 'alice'], 2],
    ['-h USER FINGERPRINT', () => ['-h', 'alice', FP], 2],
    ['an unknown option', () => ['--config', config, '--verbose', 'alice'], 2],
    ['three positionals', () => ['--config', config, 'a', 'b', 'c'], 2],
  ])('%s: usage on stderr, exit %i, stdout empty', async (_name, args, code) => {
    const r = await agent(args());
    expect(r.stdout).toBe('');
    expect(r.code).toBe(code);
    expect(r.stderr).toMatch(/usage: iam-authorized-keys/);
  });

  it('-h alone (a person asking): usage and help on stderr, exit 0, stdout empty', async () => {
    const r = await agent(['-h']);
    expect(r).toMatchObject({ code: 0, stdout: '' });
    expect(r.stderr).toMatch(/usage: iam-authorized-keys[\s\S]*-- %u %f/);
  });

  it.each(['-h', '--help', '--config', '--', 'doctor'])(
    'after --, %j is a USER (no keys for it), never an option or a command',
    async (user) => {
      const r = await agent(['--config', config, '--', user, FP]);
      expect(r.stdout).toBe('');
      expect(r.stderr).not.toMatch(/usage:/);
    },
  );
});

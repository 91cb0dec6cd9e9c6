// Every command shown in README.md and docs/*.md is exercised: our programs'
// command lines parse with their real argument parsers, npm scripts exist,
// cdk context names are ones lib/config.ts reads, and anything else is on the
// allow-list below, which names what runs it (a test, the demo) or why nothing can.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  UsageError as CliUsageError,
  parseArgs as cliParseArgs,
  splitGlobalOptions,
} from '../../../cli/args.js';
import { parsePrincipalsFrom } from '../../../host-agent/admin/main.js';
import { type ADMIN_OPTIONS, parseAdminOptions } from '../../../host-agent/admin/options.js';
import { parseArgs as agentParseArgs } from '../../../host-agent/args.js';
import { FORWARDER_STACK, MAIN_STACK, READER_STACK } from '../../../lib/build-app.js';
import { parseAppConfig } from '../../../lib/config.js';
import { contextNamesRead } from '../../helpers/code-names.js';
import {
  type CodeBlock,
  codeBlocks,
  isPlaceholder,
  program,
  SHELL_LANGS,
  type ShellCommand,
  shellCommands,
  shellWords,
} from '../../helpers/doc-commands.js';

const ROOT = join(import.meta.dirname, '..', '..', '..');

/** Commands that are not ours, and what exercises each (or why nothing here can). */
const ALLOWED: Record<string, string> = {
  ssh: 'test/e2e/login.test.ts and test/e2e/migration.test.ts log in with the real ssh client',
  useradd: 'test/e2e/migration.test.ts creates accounts exactly as aws-ec2-ssh does',
  usermod: 'test/e2e/migration.test.ts renumbers an adopted account (usermod -u)',
  groupadd: "test/e2e/migration.test.ts creates aws-ec2-ssh's marker group",
  sha256sum: 'test/e2e/user-data.test.ts: the rendered user data checks the pinned SHA-256 the same way',
  cat: 'the package user-data snippet writes the config first: test/e2e/package.test.ts ("with the config written first, dpkg -i configures sshd itself")',
  chmod: 'the same snippet (test/e2e/package.test.ts writes the config before installing the package)',
  'apt-get':
    'installs the .deb from a repository; test/e2e/package.test.ts installs the same .deb with dpkg -i (the same maintainer scripts run)',
  set: 'shell builtin of the user-data snippet',
  install:
    'coreutils install: the rendered user data installs the agent this way (test/e2e/user-data.test.ts)',
  aws: "AWS's own CLI against a real AWS account: not exercisable here (no AWS); the same calls run through the SDK against moto in test/integration and test/e2e",
};

const NPM_BUILTINS = new Set(['ci', 'test', 'install']);
const CDK_COMMANDS = new Set(['synth', 'deploy', 'bootstrap', 'diff', 'destroy']);
const CDK_OPTIONS_WITH_VALUE = new Set(['-o', '--output', '--require-approval', '--profile']);

function docFiles(): string[] {
  const docs = readdirSync(join(ROOT, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .sort()
    .map((f) => join('docs', f));
  return ['README.md', ...docs];
}

function allBlocks(): CodeBlock[] {
  return docFiles().flatMap((f) => codeBlocks(f, readFileSync(join(ROOT, f), 'utf8')));
}

const CONTEXT_NAMES = contextNamesRead();
/** Stand-ins for placeholders, so the other values of a command can still be validated together. */
const SAMPLE: Record<string, string> = {
  readerBucket: 'example-keys-bucket',
  bucketName: 'example-keys-bucket',
  agentSha256: `x64:${'0'.repeat(64)},arm64:${'0'.repeat(64)}`,
  agentS3Uri: 's3://release-artifacts/iam-ssh-keys/0.1.0/',
};

const scripts = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: object })
  .scripts as Record<string, string>;

/** Why a command is not acceptable, or undefined when it is. */
function problem(cmd: ShellCommand): string | undefined {
  const { name, args } = program(cmd.argv);
  switch (name) {
    case 'iam-ssh-keys':
      try {
        // As cli/run.ts: global options (--profile, --region, --mfa-code) anywhere, then the command.
        cliParseArgs(splitGlobalOptions(args).rest);
        return undefined;
      } catch (e) {
        if (e instanceof CliUsageError) return `iam-ssh-keys refuses it: ${e.message}`;
        throw e;
      }
    case 'iam-authorized-keys': {
      try {
        const c = agentParseArgs(args);
        if (c.kind !== 'admin') return undefined;
        const values = parseAdminOptions(c.command as keyof typeof ADMIN_OPTIONS, c.args) as Record<
          string,
          unknown
        >;
        const from = values['principals-from'];
        if (typeof from === 'string' && !isPlaceholder(from)) parsePrincipalsFrom(from);
        return undefined;
      } catch (e) {
        return `iam-authorized-keys refuses it: ${(e as Error).message}`;
      }
    }
    case 'npm':
      if (args[0] === 'run') {
        return args[1] !== undefined && args[1] in scripts
          ? undefined
          : `no npm script ${JSON.stringify(args[1])} in package.json`;
      }
      return NPM_BUILTINS.has(args[0] ?? '') ? undefined : `npm ${args[0]} is not checked`;
    case 'cdk':
      return cdkProblem(args);
    case 'tsx':
      return args[0] !== undefined && existsSync(join(ROOT, args[0])) ? undefined : `no file ${args[0]}`;
    case 'vitest': {
      if (args[0] !== 'run') return 'only `vitest run` is checked';
      const missing = args.slice(1).filter((a) => !a.startsWith('-') && !existsSync(join(ROOT, a)));
      return missing.length > 0 ? `no test path ${missing.join(', ')}` : undefined;
    }
    case 'eval': {
      // eval "$(iam-ssh-keys credentials ...)": check the command whose output is evaluated.
      const inner = /^\$\((.*)\)$/s.exec(args.join(' '))?.[1];
      return inner === undefined
        ? 'eval is checked only as eval "$(COMMAND)"'
        : problem({ ...cmd, argv: shellWords(inner) });
    }
    default:
      return name in ALLOWED
        ? undefined
        : `${JSON.stringify(name)} is not one of our commands and not on the allow-list of test/unit/docs/commands.test.ts (add it there with the test or demo that runs it)`;
  }
}

function cdkProblem(args: readonly string[]): string | undefined {
  const [sub, ...rest] = args;
  if (!CDK_COMMANDS.has(sub ?? '')) return `cdk ${sub} is not checked`;
  const context = new Map<string, string>();
  for (let i = 0; i < rest.length; i++) {
    const a = rest[i] as string;
    if (a === '-c' || a === '--context') {
      const kv = rest[++i] ?? '';
      const eq = kv.indexOf('=');
      if (eq <= 0) return `context ${JSON.stringify(kv)} is not name=value`;
      context.set(kv.slice(0, eq), kv.slice(eq + 1));
    } else if (CDK_OPTIONS_WITH_VALUE.has(a)) i++;
    else if (a.startsWith('-')) return `cdk option ${a} is not checked`;
    else if (sub === 'bootstrap') {
      if (!/^aws:\/\/\d{12}\/[a-z0-9-]+$/.test(a)) return `bootstrap target ${a} is not aws://ACCOUNT/REGION`;
    } else if (a !== MAIN_STACK && a !== READER_STACK && a !== FORWARDER_STACK) return `no stack named ${a}`;
  }
  const unknown = [...context.keys()].filter((k) => !CONTEXT_NAMES.has(k));
  if (unknown.length > 0) return `lib/config.ts reads no context setting ${unknown.join(', ')}`;
  // Validate the values together, placeholders replaced by samples (or left out).
  try {
    parseAppConfig((name) => {
      const v = context.get(name);
      return v === undefined || !isPlaceholder(v) ? v : SAMPLE[name];
    });
  } catch (e) {
    return `lib/config.ts refuses these settings: ${(e as Error).message}`;
  }
  return undefined;
}

describe('the command checker itself', () => {
  const cmd = (text: string): ShellCommand => ({
    file: 'x.md',
    line: 1,
    text,
    argv: shellWords(text),
  });
  it.each([
    ['iam-ssh-keys status --bucket b', undefined],
    ['iam-ssh-keys status --bucket b --dry-run', /--dry-run does not apply to status/],
    ['sudo node dist/iam-authorized-keys install --dry-run', undefined],
    ['iam-authorized-keys install --no-such-flag', /iam-authorized-keys refuses it/],
    ['iam-authorized-keys install --principals-from sm:x', /--principals-from must be/],
    ['iam-authorized-keys -- ec2-user', undefined],
    ['npm run demo', undefined],
    ['npm run no-such-script', /no npm script/],
    ['npx cdk deploy IamSshKeys -c keyPrefix=ssh/', undefined],
    ['npx cdk deploy IamSshKeys -c keyPrefx=ssh/', /reads no context setting keyPrefx/],
    ['npx cdk deploy IamSshKeys -c scheduleMinutes=0', /refuses these settings/],
    ['npx cdk deploy NoSuchStack', /no stack named NoSuchStack/],
    ['npx cdk deploy IamSshKeysReader -c readerBucket=<BucketName output>', undefined],
    ['curl https://example.com', /not on the allow-list/],
  ] as const)('%s', (text, expected) => {
    const p = problem(cmd(text));
    if (expected === undefined) expect(p).toBeUndefined();
    else expect(p).toMatch(expected);
  });

  it.each([
    ['a && b -x | c; d', [['a'], ['b', '-x'], ['c'], ['d']]],
    [
      "FOO=1 sudo -u u iam-ssh-keys status --bucket 'a b' # note",
      [['FOO=1', 'sudo', '-u', 'u', 'iam-ssh-keys', 'status', '--bucket', 'a b']],
    ],
    ['x -c k=$(sha256sum < f | cut -d" " -f1),y', [['x', '-c', 'k=$(sha256sum < f | cut -d" " -f1),y']]],
  ] as const)('splits %s', (text, expected) => {
    const block: CodeBlock = { file: 'x.md', line: 1, lang: 'sh', lines: [text] };
    expect(shellCommands(block).map((c) => c.argv)).toEqual(expected);
  });

  it('joins continuations, skips here-documents, comments and console output', () => {
    const sh: CodeBlock = {
      file: 'x.md',
      line: 10,
      lang: 'sh',
      lines: ['# c', 'a \\', '  --b', "cat > f <<'EOF'", 'not a command', 'EOF', 'c'],
    };
    expect(shellCommands(sh).map((c) => [c.line, c.argv])).toEqual([
      [11, ['a', '--b']],
      [13, ['cat', '>', 'f']],
      [16, ['c']],
    ]);
    const console: CodeBlock = { file: 'x.md', line: 1, lang: 'console', lines: ['$ a 1', 'output', '# b'] };
    expect(shellCommands(console).map((c) => c.argv)).toEqual([['a', '1'], ['b']]);
  });
});

describe('commands in README.md and docs/*.md', () => {
  const blocks = allBlocks();

  it('reads README.md and every page under docs/', () => {
    expect(docFiles()).toContain('README.md');
    expect(docFiles()).toContain(join('docs', 'host-agent.md'));
    expect(blocks.length).toBeGreaterThan(10);
  });

  it('every fenced block says what it holds (sh for commands; text, json, sshd... for the rest)', () => {
    const untagged = blocks.filter((b) => b.lang === '').map((b) => `${b.file}:${b.line - 1}`);
    expect(untagged, 'give these blocks a language').toEqual([]);
  });

  const commands = blocks.filter((b) => SHELL_LANGS.has(b.lang)).flatMap(shellCommands);

  it('finds the commands (the two of the quick start among them)', () => {
    const texts = commands.filter((c) => c.file === 'README.md').map((c) => c.text);
    expect(texts.some((t) => t.startsWith('npm ci && npm run demo'))).toBe(true);
    expect(texts.some((t) => t.startsWith('npm ci && npm test'))).toBe(true);
  });

  it('each one parses with the real parser, exists, or is on the allow-list', () => {
    const problems = commands.flatMap((c) => {
      const p = problem(c);
      return p ? [`${c.file}:${c.line}: ${c.text}\n    ${p}`] : [];
    });
    expect(problems.join('\n')).toBe('');
  });

  it('the allow-list has no entry the docs no longer use', () => {
    const used = new Set(commands.map((c) => program(c.argv).name));
    expect(Object.keys(ALLOWED).filter((n) => !used.has(n))).toEqual([]);
  });
});

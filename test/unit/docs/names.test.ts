// Docs that cannot drift: every name the code gives operators is documented,
// and every one the docs give exists. Metrics, alarms, environment variables,
// CLI and host agent options, CDK context settings. Each list comes from the
// code (a synthesized app, the parsers' own tables, a scan of what each program
// reads and emits), never from a copy kept here; a failure names what is
// missing and where. (The host agent's config keys: config-reference.test.ts.)
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type { IConstruct } from 'constructs';
import { afterAll, describe, expect, it } from 'vitest';
import {
  FLAGS as CLI_FLAGS,
  OPTIONS as CLI_OPTIONS,
  USAGE as CLI_USAGE,
  UsageError as CliUsageError,
  parseArgs as cliParseArgs,
  GLOBAL_OPTIONS,
  splitGlobalOptions,
} from '../../../cli/args.js';
import {
  METRICS_NAMESPACE,
  PUBLISHER_ENV_VARS,
  PUBLISHER_METRICS,
  PUBLISHER_SERVICE_NAME,
  type PublisherMetric,
} from '../../../contract/publisher-settings.js';
import { ADMIN_OPTIONS } from '../../../host-agent/admin/options.js';
import {
  ADMIN_COMMANDS,
  USAGE as AGENT_USAGE,
  parseArgs as agentParseArgs,
  HELP,
} from '../../../host-agent/args.js';
import { buildApp, MAIN_STACK } from '../../../lib/build-app.js';
import type { IamSshKeysStack } from '../../../lib/stacks.js';
import { contextNamesRead, emittedMetrics, envReads, importClosure, ROOT } from '../../helpers/code-names.js';
import { codeBlocks, program } from '../../helpers/doc-commands.js';
import { cellNames, proseSpans, type Row, section, table } from '../../helpers/doc-tables.js';
import { logicalIdOf, type TestApp, testApp } from '../lib/cdk-helpers.js';

const read = (f: string) => readFileSync(join(ROOT, f), 'utf8');
const DOCS = [
  'README.md',
  ...readdirSync(join(ROOT, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .sort()
    .map((f) => `docs/${f}`),
];

/** name -> where it is (file:line, or what defines it). */
type Names = ReadonlyMap<string, string>;

function names(entries: Iterable<readonly [string, string]>): Map<string, string> {
  const m = new Map<string, string>();
  for (const [n, at] of entries) if (!m.has(n)) m.set(n, at);
  return m;
}

/** Names on one side only, each saying where it is and where it is missing. */
function oneSided(code: Names, docs: Names, docPlace: string, what: string): string[] {
  return [
    ...[...code]
      .filter(([n]) => !docs.has(n))
      .map(([n, at]) => `${what} ${n} (${at}) is missing from ${docPlace}`),
    ...[...docs]
      .filter(([n]) => !code.has(n))
      .map(([n, at]) => `${what} ${n} is documented at ${at} but the code has none by that name`),
  ];
}

/** The names of the first column of a table's rows (a cell may name several: `AWS_REGION`, `AWS_DEFAULT_REGION`). */
function firstColumn(rows: readonly Row[]): Map<string, string> {
  return names(rows.flatMap((r) => cellNames(r.cells[0] ?? '').map((n) => [n, r.at] as const)));
}

// ---- The app as `npx cdk synth` builds it, every optional stack on ----

const apps: TestApp[] = [];
afterAll(() => {
  for (const a of apps) a.cleanup();
});

function synthApp(): Stack[] {
  const t = testApp(
    {
      readerAccountIds: '222222222222',
      readerBucket: 'example-keys-bucket',
      forwardIamEventsTo: 'eu-west-1',
    },
    { bundle: false },
  );
  apps.push(t);
  buildApp(t.app);
  return t.app.node.children.filter((c): c is Stack => c instanceof Stack);
}
const STACKS = synthApp();
const MAIN = STACKS.find((s) => s.stackName === MAIN_STACK) as IamSshKeysStack;

interface SynthAlarm {
  /** The construct id (`ErrorsAlarm`): stable, and what the console shows in the alarm's name. */
  readonly id: string;
  readonly at: string;
  readonly metrics: { namespace?: string; name: string }[];
}

type Json = Record<string, unknown>;

function alarms(): SynthAlarm[] {
  return STACKS.flatMap((stack) => {
    const resources = Template.fromStack(stack).findResources('AWS::CloudWatch::Alarm') as Record<
      string,
      { Properties: Json }
    >;
    const constructs = stack.node
      .findAll()
      .filter((c: IConstruct): c is cloudwatch.Alarm => c instanceof cloudwatch.Alarm);
    const byLogicalId = new Map(constructs.map((c) => [logicalIdOf(stack, c), c.node.id]));
    return Object.entries(resources).map(([logicalId, r]) => {
      const id = byLogicalId.get(logicalId);
      if (id === undefined)
        throw new Error(`${stack.stackName}: alarm ${logicalId} is no cloudwatch.Alarm construct`);
      const p = r.Properties;
      const single =
        p.MetricName === undefined
          ? []
          : [{ namespace: p.Namespace as string, name: p.MetricName as string }];
      const math = ((p.Metrics as Json[] | undefined) ?? []).flatMap((m) => {
        const metric = (m.MetricStat as Json | undefined)?.Metric as Json | undefined;
        return metric ? [{ namespace: metric.Namespace as string, name: metric.MetricName as string }] : [];
      });
      return { id, at: `${stack.stackName}/${id}`, metrics: [...single, ...math] };
    });
  });
}
const ALARMS = alarms();

// ---- Metrics ----

const EMITTED = names(emittedMetrics('lambda/handler.ts').map((m) => [m.name, m.at] as const));

describe('metrics: what lambda/handler.ts emits', () => {
  it('the scan finds the metrics the stack alarms on, among others', () => {
    const alarmed: PublisherMetric[] = ['PublishSucceeded', 'PublishIncomplete', 'ImportProgressed'];
    for (const m of [...alarmed, 'PublishFailed']) expect(EMITTED.has(m), m).toBe(true);
  });

  it('contract/publisher-settings.ts PUBLISHER_METRICS is exactly what the handler emits', () => {
    const listed = names(PUBLISHER_METRICS.map((m) => [m, 'contract/publisher-settings.ts'] as const));
    expect(oneSided(EMITTED, listed, 'PUBLISHER_METRICS', 'metric')).toEqual([]);
  });

  it(`every ${METRICS_NAMESPACE} metric an alarm watches is one the publisher emits`, () => {
    const watched = ALARMS.flatMap((a) =>
      a.metrics.filter((m) => m.namespace === METRICS_NAMESPACE).map((m) => `${a.at}: ${m.name}`),
    );
    expect(watched.length).toBeGreaterThan(0);
    expect(watched.filter((w) => !EMITTED.has(w.slice(w.lastIndexOf(' ') + 1)))).toEqual([]);
  });

  it('docs/publisher.md "## Metrics" lists exactly those, with the namespace and dimension', () => {
    const s = section('docs/publisher.md', read('docs/publisher.md'), '## Metrics');
    expect(
      oneSided(EMITTED, firstColumn(table(s, 'Metric')), 'docs/publisher.md "## Metrics"', 'metric'),
    ).toEqual([]);
    const text = s.lines.join('\n');
    expect(text).toContain(`\`${METRICS_NAMESPACE}\``);
    expect(text).toContain(`\`service=${PUBLISHER_SERVICE_NAME}\``);
  });

  it('docs/operations.md names every metric, and none or no alarm that does not exist', () => {
    const known = new Set([
      ...EMITTED.keys(),
      ...ALARMS.map((a) => a.id),
      ...ALARMS.flatMap((a) => a.metrics.map((m) => m.name)),
      METRICS_NAMESPACE,
    ]);
    // A CamelCase word in a code span: a metric, an alarm or the namespace on this page.
    const unknown = proseSpans('docs/operations.md', read('docs/operations.md'))
      .filter((s) => /^[A-Z][a-z0-9]+(?:[A-Z][a-z0-9]*)*$/.test(s.text) && !known.has(s.text))
      .map((s) => `${s.at}: \`${s.text}\` is no metric, alarm or namespace of the code`);
    expect(unknown).toEqual([]);
    const named = new Set(proseSpans('docs/operations.md', read('docs/operations.md')).map((s) => s.text));
    const unnamed = [...EMITTED].filter(([m]) => !named.has(m));
    expect(unnamed.map(([m, at]) => `metric ${m} (${at}) is missing from docs/operations.md`)).toEqual([]);
  });
});

// ---- Alarms ----

describe('alarms: the CloudWatch alarms of the synthesized app', () => {
  it('finds them (the publisher has more than one)', () => {
    expect(ALARMS.map((a) => a.id)).toContain('ErrorsAlarm');
    expect(new Set(ALARMS.map((a) => a.id)).size).toBe(ALARMS.length);
  });

  it("docs/operations.md's alarm table lists exactly them", () => {
    const s = section('docs/operations.md', read('docs/operations.md'), '## Metrics, logs and alarms');
    const code = names(ALARMS.map((a) => [a.id, a.at] as const));
    expect(
      oneSided(code, firstColumn(table(s, 'Alarm')), "docs/operations.md's alarm table", 'alarm'),
    ).toEqual([]);
  });

  it('no page names an alarm that does not exist', () => {
    const ids = new Set(ALARMS.map((a) => a.id));
    const unknown = DOCS.flatMap((f) => proseSpans(f, read(f)))
      .filter((s) => /^[A-Z]\w*Alarm$/.test(s.text) && !ids.has(s.text))
      .map((s) => `${s.at}: the synthesized app has no alarm ${s.text}`);
    expect(unknown).toEqual([]);
  });
});

// ---- Environment variables ----

/** Variables every program reads that are not settings of ours. */
const NOT_OURS = new Set(['HOME']);

function readsOf(entry: string): Map<string, string> {
  return names(
    envReads(importClosure(entry))
      .filter((r) => !NOT_OURS.has(r.name))
      .map((r) => [r.name, r.at] as const),
  );
}

/** The names of environment variables in a text: AWS's namespace (which the SDKs read) and ours. */
function envNamesIn(text: string): string[] {
  return [...text.matchAll(/\b(?:AWS|IAM_SSH_KEYS)_[A-Z0-9_]*[A-Z0-9]\b|\bTAG_KEY_PREFIX\b/g)].map(
    (m) => m[0],
  );
}

describe('environment variables', () => {
  it('the scan finds what each program reads', () => {
    expect(readsOf('cli/main.ts').has('IAM_SSH_KEYS_MFA_CODE')).toBe(true); // through a constant
    expect(readsOf('host-agent/main.ts').has('AWS_ENDPOINT_URL_SSM')).toBe(true); // a template of a parameter
    expect(readsOf('lambda/handler.ts').has('DRY_RUN')).toBe(true); // a parameter given by its callers
  });

  it('the publisher: docs/publisher.md "## Environment" lists what the stack sets and what the function reads', () => {
    const fn = Template.fromStack(MAIN).toJSON().Resources[logicalIdOf(MAIN, MAIN.publisher.function)] as {
      Properties: { Environment: { Variables: Record<string, unknown> } };
    };
    const set = fn.Properties.Environment.Variables;
    const code = readsOf('lambda/handler.ts');
    for (const k of Object.keys(set))
      if (!code.has(k)) code.set(k, `the function's environment (lib/publisher/function.ts)`);
    const s = section('docs/publisher.md', read('docs/publisher.md'), '## Environment');
    const rows = table(s, 'Variable');
    expect(oneSided(code, firstColumn(rows), 'docs/publisher.md "## Environment"', 'variable')).toEqual([]);
    // The second column gives the value the stack sets, or says "not set".
    const wrong = rows.flatMap((r) =>
      cellNames(r.cells[0] ?? '').flatMap((n) => {
        const v = set[n];
        const cell = r.cells[1] ?? '';
        if (v === undefined)
          return cell.startsWith('not set')
            ? []
            : [`${r.at}: ${n}: the stack does not set it: say "not set"`];
        if (typeof v === 'string' && v !== '' && !cell.includes(`\`${v}\``))
          return [`${r.at}: ${n}: the stack sets \`${v}\`, the table does not say so`];
        return cell.startsWith('not set') ? [`${r.at}: ${n}: the stack sets it`] : [];
      }),
    );
    expect(wrong).toEqual([]);
  });

  it('contract/publisher-settings.ts PUBLISHER_ENV_VARS is exactly what the function reads, AWS_* aside', () => {
    const ours = names([...readsOf('lambda/handler.ts')].filter(([n]) => !n.startsWith('AWS_')));
    const listed = names(PUBLISHER_ENV_VARS.map((v) => [v, 'contract/publisher-settings.ts'] as const));
    expect(oneSided(ours, listed, 'PUBLISHER_ENV_VARS', 'variable')).toEqual([]);
  });

  it('the CLI: docs/cli.md "## Environment" lists what it reads and what its usage names', () => {
    const code = readsOf('cli/main.ts');
    for (const n of envNamesIn(CLI_USAGE)) if (!code.has(n)) code.set(n, 'cli/usage.ts USAGE');
    const s = section('docs/cli.md', read('docs/cli.md'), '## Environment');
    expect(
      oneSided(code, firstColumn(table(s, 'Variable')), 'docs/cli.md "## Environment"', 'variable'),
    ).toEqual([]);
    const named = ['docs/cli.md', 'docs/cli-credentials.md'].flatMap((f) =>
      proseSpans(f, read(f)).flatMap((sp) => envNamesIn(sp.text).map((n) => [n, sp.at] as const)),
    );
    expect(
      named.filter(([n]) => !code.has(n)).map(([n, at]) => `${at}: ${n} is not read by the CLI`),
    ).toEqual([]);
  });

  it('the host agent: docs/host-agent.md names exactly the variables it reads', () => {
    const code = readsOf('host-agent/main.ts');
    const docs = names(
      proseSpans('docs/host-agent.md', read('docs/host-agent.md')).flatMap((sp) =>
        envNamesIn(sp.text).map((n) => [n, sp.at] as const),
      ),
    );
    expect(oneSided(code, docs, 'docs/host-agent.md', 'variable')).toEqual([]);
  });
});

// ---- CLI options ----

const CLI_UNIVERSE = new Set([...CLI_FLAGS, ...CLI_OPTIONS, ...Object.keys(GLOBAL_OPTIONS)]);

/** The commands USAGE shows (`keys upload` is one), with the arguments each needs (`--bucket NAME`, `FILE`). */
function cliCommands(): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const line of CLI_USAGE.split('\n')) {
    const m = /^\s*iam-ssh-keys\s+(.*)$/.exec(line);
    if (!m) continue;
    const words = (m[1] as string)
      .replace(/\[[^\]]*\]|\([^)]*\)/g, ' ')
      .split(/\s+/)
      .filter((w) => w !== '');
    const end = words.indexOf('|');
    const [cmd, ...rest] = end < 0 ? words : words.slice(0, end);
    const action =
      rest[0] !== undefined && /^[a-z]+$/.test(rest[0]) && !rest[0].startsWith('-')
        ? rest.shift()
        : undefined;
    // A `list|upload FILE|...` line names several actions: USAGE gives one line per action.
    out.set(
      action ? `${cmd} ${action}` : (cmd as string),
      rest.map((w) => (/^[A-Z_]+$/.test(w) ? 'X' : w)),
    );
  }
  return out;
}
const CLI_COMMANDS = cliCommands();

/** Whether `iam-ssh-keys COMMAND FLAG [value]` gets past the parser's "unknown/does not apply" checks. */
function cliAccepts(command: string, flag: string): boolean {
  const argv = [
    ...command.split(' '),
    ...(CLI_COMMANDS.get(command) ?? []),
    flag,
    ...(CLI_OPTIONS.has(flag) || flag in GLOBAL_OPTIONS ? ['1'] : []),
  ];
  try {
    cliParseArgs(splitGlobalOptions(argv).rest);
    return true;
  } catch (e) {
    if (!(e instanceof CliUsageError)) throw e;
    // Any other complaint (a value out of range) comes after the option was accepted.
    return !/does not apply to|unknown option/.test(e.message);
  }
}

/** `iam-ssh-keys --help` asks for the usage. */
function cliIsHelp(flag: string): boolean {
  try {
    return cliParseArgs([flag]).cmd === 'help';
  } catch {
    return false;
  }
}

function fenced(file: string, heading: string, lang: string): string[] {
  const s = section(file, read(file), heading);
  return codeBlocks(file, s.lines.join('\n'))
    .filter((b) => b.lang === lang)
    .map((b) => b.lines.join('\n'));
}

describe('CLI options: cli/args.ts', () => {
  it('USAGE shows the commands, each parsing with the arguments USAGE gives it', () => {
    expect([...CLI_COMMANDS.keys()]).toEqual(
      expect.arrayContaining(['publish', 'status', 'keys upload', 'keys delete', 'credentials']),
    );
    for (const [c, args] of CLI_COMMANDS)
      expect(() => cliParseArgs([...c.split(' '), ...args]), c).not.toThrow();
  });

  it('docs/cli.md "## Usage" shows exactly what `iam-ssh-keys help` prints', () => {
    expect(
      fenced('docs/cli.md', '## Usage', 'text'),
      'docs/cli.md "## Usage" must hold one ```text block equal to cli/usage.ts USAGE',
    ).toEqual([CLI_USAGE]);
  });

  it('USAGE names every option the parser accepts, and no other', () => {
    const named = names(
      [...CLI_USAGE.matchAll(/--[a-z][a-z-]*/g)].map((m) => [m[0], 'cli/usage.ts USAGE'] as const),
    );
    const parser = names(
      [...CLI_UNIVERSE].map((f) => [f, 'cli/args.ts FLAGS, OPTIONS, GLOBAL_OPTIONS'] as const),
    );
    expect(oneSided(parser, named, 'cli/usage.ts USAGE', 'option')).toEqual([]);
  });

  it('docs/cli.md "## Options" gives every option once, with exactly the commands that take it', () => {
    const rows = table(section('docs/cli.md', read('docs/cli.md'), '## Options'), 'Option');
    const documented = firstColumn(rows);
    const parser = names([...CLI_UNIVERSE].map((f) => [f, 'cli/args.ts'] as const));
    expect(oneSided(parser, documented, 'docs/cli.md "## Options"', 'option')).toEqual([]);
    const wrong = rows.flatMap((r) => {
      const cell = r.cells[1] ?? '';
      const listed =
        cell === 'every command'
          ? [...CLI_COMMANDS.keys()]
          : cell
              .split(/,\s*/)
              .flatMap((c) => [...CLI_COMMANDS.keys()].filter((k) => k === c || k.startsWith(`${c} `)));
      return cellNames(r.cells[0] ?? '').flatMap((flag) => {
        const takes = [...CLI_COMMANDS.keys()].filter((c) => cliAccepts(c, flag));
        return [...takes].sort().join(', ') === [...new Set(listed)].sort().join(', ')
          ? []
          : [`${r.at}: ${flag}: the row says "${cell}", the parser takes it for: ${takes.join(', ')}`];
      });
    });
    expect(wrong).toEqual([]);
  });
});

// ---- Host agent options ----

const AGENT_LOGIN_FLAGS = names(
  [...`${AGENT_USAGE}\n${HELP}`.matchAll(/--[a-z][a-z-]*/g)].map(
    (m) => [m[0], 'host-agent/args.ts USAGE'] as const,
  ),
);

/** Whether the login path's parser takes FLAG (with or without a value). */
function loginAccepts(flag: string): boolean {
  return [
    [flag, 'user'],
    [flag, 'x', 'user'],
  ].some((argv) => {
    try {
      agentParseArgs(argv);
      return true;
    } catch (e) {
      return !/unknown option/.test((e as Error).message);
    }
  });
}

const adminTakes = (command: string, flag: string) =>
  Object.hasOwn(ADMIN_OPTIONS, command) &&
  Object.hasOwn(ADMIN_OPTIONS[command as keyof typeof ADMIN_OPTIONS], flag.slice(2));

describe('host agent options: host-agent/args.ts and host-agent/admin/options.ts', () => {
  it('the login path: every option its usage shows is in docs/host-agent.md "## Login path"', () => {
    expect(AGENT_LOGIN_FLAGS.has('--config')).toBe(true);
    const text = section('docs/host-agent.md', read('docs/host-agent.md'), '## Login path').lines.join('\n');
    const missing = [...AGENT_LOGIN_FLAGS.keys()].filter((f) => !text.includes(`\`${f}`));
    expect(missing.map((f) => `${f} is missing from docs/host-agent.md "## Login path"`)).toEqual([]);
  });

  it('docs/host-agent.md "## Admin commands" gives every option once, with exactly the commands that take it', () => {
    const rows = table(
      section('docs/host-agent.md', read('docs/host-agent.md'), '## Admin commands'),
      'Option',
    );
    const code = names(
      Object.entries(ADMIN_OPTIONS).flatMap(([c, o]) =>
        Object.keys(o).map((k) => [`--${k}`, `host-agent/admin/options.ts (${c})`] as const),
      ),
    );
    expect(oneSided(code, firstColumn(rows), 'docs/host-agent.md "## Admin commands"', 'option')).toEqual([]);
    const wrong = rows.flatMap((r) => {
      const cell = r.cells[1] ?? '';
      const listed = cell.split(/,\s*/).sort().join(', ');
      return cellNames(r.cells[0] ?? '').flatMap((flag) => {
        const takes = ADMIN_COMMANDS.filter((c) => adminTakes(c, flag))
          .sort()
          .join(', ');
        return takes === listed
          ? []
          : [`${r.at}: ${flag}: the row says "${cell}", the commands that take it: ${takes}`];
      });
    });
    expect(wrong).toEqual([]);
  });
});

// ---- Options named anywhere in README.md and docs/ ----

const CLI_WORDS = new Set([...CLI_COMMANDS.keys()].map((c) => c.split(' ')[0] as string));

/** Why an option a page names in a code span is wrong, or undefined. */
function optionProblem(file: string, text: string): string | undefined {
  const words = text.split(/\s+/).filter((w) => w !== '');
  const { name, args } = program(words);
  const flagsIn = (ws: readonly string[]) =>
    ws.flatMap((w) => /^[[(]*(--[a-z][a-z0-9-]*)/.exec(w)?.[1] ?? []).map((f) => f.replace(/-+$/, ''));
  const bad = (flags: string[], ok: (f: string) => boolean, whose: string) => {
    const no = flags.filter((f) => !ok(f));
    return no.length > 0 ? `${whose} takes no ${no.join(', ')}` : undefined;
  };
  const cli = (ws: readonly string[]) => {
    const rest = (() => {
      try {
        return splitGlobalOptions(ws).rest;
      } catch {
        return [...ws];
      }
    })();
    const action =
      rest[0] === 'keys' && rest[1] !== undefined && !rest[1].startsWith('-') ? `keys ${rest[1]}` : rest[0];
    const cmds =
      action !== undefined && CLI_COMMANDS.has(action)
        ? [action]
        : [...CLI_COMMANDS.keys()].filter(
            (c) => c.startsWith(`${action} `) || action === undefined || action.startsWith('-'),
          );
    return bad(flagsIn(ws), (f) => cmds.some((c) => cliAccepts(c, f)), `iam-ssh-keys ${action ?? ''}`.trim());
  };
  const admin = (cmd: string, ws: readonly string[]) =>
    bad(flagsIn(ws), (f) => adminTakes(cmd, f), `iam-authorized-keys ${cmd}`);
  if (name === 'iam-ssh-keys') return cli(args);
  if (name === 'iam-authorized-keys') {
    const cmd = args[0];
    return cmd !== undefined && (ADMIN_COMMANDS as readonly string[]).includes(cmd)
      ? admin(cmd, args.slice(1))
      : bad(flagsIn(args), loginAccepts, 'iam-authorized-keys (login)');
  }
  if (CLI_WORDS.has(name)) return cli(words);
  if ((ADMIN_COMMANDS as readonly string[]).includes(name)) return admin(name, args);
  if (!name.startsWith('--')) return undefined; // another program's options (useradd --user-group)
  // A bare option, on a page about one of our programs; elsewhere it may be another tool's (bun, node, bench/).
  const flags = flagsIn(words);
  if (/^docs\/cli[-.]/.test(file))
    return bad(flags, (f) => CLI_UNIVERSE.has(f) || cliIsHelp(f), 'iam-ssh-keys');
  if (file === 'docs/host-agent.md')
    return bad(
      flags,
      (f) => loginAccepts(f) || ADMIN_COMMANDS.some((c) => adminTakes(c, f)),
      'iam-authorized-keys',
    );
  return undefined;
}

describe('options named in the prose of README.md and docs/*.md', () => {
  it.each([
    ['docs/x.md', 'iam-ssh-keys publish --bucket b --event f', undefined],
    ['docs/x.md', 'iam-ssh-keys status --event f', /iam-ssh-keys status takes no --event/],
    ['docs/x.md', 'keys upload --label x', undefined],
    ['docs/x.md', 'keys list --label x', /takes no --label/],
    ['docs/x.md', 'sync-users --renumber', undefined],
    ['docs/x.md', 'install --renumber', /install takes no --renumber/],
    ['docs/x.md', 'sudo iam-authorized-keys --config F -- alice', undefined],
    ['docs/x.md', 'iam-authorized-keys --bogus', /login\) takes no --bogus/],
    ['docs/host-agent.md', '--max-age', /iam-authorized-keys takes no --max-age/],
    ['docs/cli.md', '--max-age SECONDS', undefined],
    ['docs/x.md', 'useradd --user-group', undefined],
    ['docs/scale.md', '--rate N', undefined],
    ['docs/host-agent.md', 'sync-users --dry-run: would renumber 3 accounts', undefined],
  ] as const)('%s: `%s`', (file, text, expected) => {
    const p = optionProblem(file, text);
    if (expected === undefined) expect(p).toBeUndefined();
    else expect(p).toMatch(expected);
  });

  it('each is an option of the program (and command) it is given for', () => {
    const problems = DOCS.flatMap((f) =>
      proseSpans(f, read(f)).flatMap((s) => {
        const p = optionProblem(f, s.text);
        return p ? [`${s.at}: \`${s.text}\`: ${p}`] : [];
      }),
    );
    expect(problems).toEqual([]);
  });

  it('so is each option of a synopsis (a ```text line of our programs, `[...]` continuation lines joined)', () => {
    const lines = DOCS.flatMap((f) =>
      codeBlocks(f, read(f))
        .filter((b) => b.lang === 'text')
        .flatMap((b) => synopses(b.lines).map((l) => ({ ...l, at: `${f}:${b.line + l.index}`, f }))),
    );
    expect(lines.length).toBeGreaterThan(5);
    const problems = lines.flatMap((l) => {
      const p = optionProblem(l.f, l.text);
      return p ? [`${l.at}: ${l.text}\n    ${p}`] : [];
    });
    expect(problems).toEqual([]);
  });
});

/** The lines of a text block that run one of our programs, each with its `[...]` continuation lines. */
function synopses(lines: readonly string[]): { text: string; index: number }[] {
  const out: { text: string; index: number }[] = [];
  lines.forEach((l, index) => {
    const last = out[out.length - 1];
    if (/^\s+\[/.test(l) && last) last.text += ` ${l.trim()}`;
    else if (/^\s*(?:sudo\s+)?(?:\S*\/)?(iam-ssh-keys|iam-authorized-keys)\s/.test(l))
      out.push({ text: l.trim(), index });
  });
  return out;
}

// ---- CDK context settings ----

describe('CDK context settings: lib/config.ts', () => {
  it("docs/deploy.md's context table lists exactly the settings parseAppConfig reads", () => {
    const code = names([...contextNamesRead()].map((n) => [n, 'lib/config.ts parseAppConfig'] as const));
    expect(code.size).toBeGreaterThan(10);
    const rows = table(section('docs/deploy.md', read('docs/deploy.md'), '## Publishing account'), 'Context');
    expect(oneSided(code, firstColumn(rows), "docs/deploy.md's context table", 'context setting')).toEqual(
      [],
    );
  });
});

// iam-authorized-keys entry point: wiring only (argv, config, clock, process).
// sshd runs this at every login attempt: keep the cache-hit path free of
// network and signing code (store.ts loads s3-fetch.ts on a miss only) and
// admin commands behind a lazy import.
import { readFileSync } from 'node:fs';
import { type Command, HELP, parseArgs, USAGE } from './args.js';
import { startSyslogAuditor } from './audit.js';
import { type AgentDeps, authorizedKeys, deriveObject, uidFromPasswd } from './authorized-keys.js';
import { bunSwitchesSet } from './bun-env.js';
import { runChain, substituteChain } from './chain.js';
import { type AgentConfig, ConfigError, loadConfig } from './config.js';
import { checkEnvEndpoints } from './endpoint.js';
import { EndpointError, errorMessage, UsageError } from './errors.js';
import { exitWhenSettled } from './exit.js';
import { checkFipsEndpoints } from './fips.js';
import { hardStop } from './hard-stop.js';
import { writeAllSync } from './stdio.js';
import { createStore } from './store.js';

type LoginCommand = Extract<Command, { kind: 'login' }>;

const diag = (m: string) => {
  try {
    writeAllSync(2, `iam-authorized-keys: ${m}\n`);
  } catch {
    // stderr closed: diagnostics are best effort
  }
};

function refuse(what: string): number {
  diag(`refusing to run with ${what}`);
  return 2;
}

/** The config, the environment's endpoints checked by its rule (up front, even for a cache hit); else the problem. */
function checkedConfig(path: string): AgentConfig | string {
  try {
    const config = loadConfig(path);
    checkEnvEndpoints(process.env);
    return checkFipsEndpoints(config, process.env);
  } catch (e) {
    if (!(e instanceof ConfigError) && !(e instanceof EndpointError)) throw e;
    return e.message;
  }
}

async function main(argv: string[]): Promise<number> {
  const switches = bunSwitchesSet(process.env);
  if (switches.length > 0) return refuse(`Bun runtime switches in the environment: ${switches.join(', ')}`);
  let cmd: Command;
  try {
    cmd = parseArgs(argv);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    diag(`${e.message}\n${USAGE}`);
    return 2;
  }
  if (cmd.kind === 'help') {
    // Never stdout: sshd reads stdout as authorized_keys. A help request in a login's shape
    // (`--config F -h`, `-h USER`) is an error sshd must see as one.
    diag(`${USAGE}\n${HELP}`);
    return cmd.alone ? 0 : 2;
  }
  if (cmd.kind === 'admin') {
    const { runAdmin } = await import('./admin/main.js');
    return runAdmin(cmd.command, cmd.args);
  }
  return login(cmd);
}

/** sshd's question (this user, this key?): the answer on stdout, decided within the deadline. */
async function login(cmd: LoginCommand): Promise<number> {
  const config = checkedConfig(cmd.configPath);
  if (typeof config === 'string') {
    diag(config);
    return 2;
  }
  const deadlineAt = Date.now() + config.deadlineMs;
  const stop = hardStop(deadlineAt, 1500, () => {
    diag(`deadline of ${config.deadlineMs} ms exceeded: no answer`);
    process.exit(1);
  });

  const { user, fingerprint } = cmd;
  const outcome = await authorizedKeys(
    config,
    { user, ...(fingerprint !== undefined ? { fingerprint } : {}) },
    loginDeps(config, cmd, deadlineAt, stop.arm),
  );
  for (const d of outcome.diagnostics) diag(d);
  // One write at the end: nothing reaches sshd unless the whole answer is decided.
  if (outcome.exitCode === 0 && outcome.stdout) writeAllSync(1, outcome.stdout);
  // Answer given: from here only the hand-off to logger remains (it does not wait for logger).
  stop.disarm();
  if (outcome.audit.length > 0) await sendAudit(config, outcome.audit);
  return outcome.exitCode;
}

/** The login's store, clock, deadline, chain and local accounts, from this process. */
function loginDeps(
  config: AgentConfig,
  cmd: LoginCommand,
  deadlineAt: number,
  armHardStop: () => void,
): AgentDeps {
  // Created on first use (a fetch, the chain): a cache hit never needs it.
  let deadline: AbortSignal | undefined;
  const signal = () => {
    armHardStop();
    deadline ??= AbortSignal.timeout(Math.max(0, deadlineAt - Date.now()));
    return deadline;
  };
  const { user, fingerprint } = cmd;
  const chain = config.chain;
  return {
    store: createStore(config, {
      warn: diag,
      derive: deriveObject,
      deadlineAt,
      uid: process.getuid?.() ?? 0,
      pid: process.pid,
      // Waiting for another invocation's fetch (single flight) is a wait too.
      sleep: (ms) => {
        armHardStop();
        return new Promise((r) => setTimeout(r, ms));
      },
    }),
    now: Date.now,
    signal,
    sshdPid: process.ppid,
    localUid: (u: string) => {
      try {
        return uidFromPasswd(readFileSync(config.passwdFile, 'utf8'), u);
      } catch {
        return undefined;
      }
    },
    ...(chain
      ? {
          runChain: () =>
            runChain(substituteChain(chain, user, fingerprint), { signal: signal(), env: process.env }),
        }
      : {}),
  };
}

/** The audit lines to syslog (through logger). */
async function sendAudit(config: AgentConfig, audit: string[]): Promise<void> {
  try {
    await startSyslogAuditor(config.syslogSocket).send(audit);
  } catch (e) {
    // Keys are still served: locking everyone out because syslog is down would be worse.
    diag(errorMessage(e));
    for (const m of audit) diag(`audit: ${m}`);
  }
}

exitWhenSettled(main(process.argv.slice(2)), (code) => process.exit(code), diag);

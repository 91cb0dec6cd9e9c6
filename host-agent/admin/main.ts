// Admin commands of the host agent (install, uninstall, doctor, sync-users,
// refresh-principals). host-agent/main.ts imports this lazily so a login never loads it.
// This file only wires config, clients, the clock, the file system and the
// process runner into the modules that do the work (doctor's: doctor-deps.ts).
import { existsSync, statSync } from 'node:fs';
import { readFile, rename, unlink } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { errorMessage } from '../../contract/errors.js';
import { ADMIN_COMMANDS } from '../args.js';
import { baseCredentials, readFileOrUndefined } from '../credentials.js';
import { UsageError } from '../errors.js';
import { request } from '../http-client.js';
import { createStore } from '../store.js';
import { shipAuditCommand } from './audit/command.js';
import { type AdminConfig, loadAdminConfig } from './config.js';
import { formatCheck, runDoctor } from './doctor.js';
import { realDoctorDeps } from './doctor-deps.js';
import { install } from './install/apply.js';
import { chooseDefaults } from './install/defaults.js';
import {
  DEFAULT_AGENT_USER,
  defaultPaths,
  type InstallPaths,
  type InstallState,
  isCompiledProgram,
  type SysDeps,
} from './install/plan.js';
import { uninstall } from './install/uninstall.js';
import { acquireLock } from './lock.js';
import {
  DEFAULT_SYNC_LOCK,
  INSTALL_OPTIONS,
  PATH_OPTIONS,
  REFRESH_PRINCIPALS_OPTIONS,
  SYNC_USERS_OPTIONS,
} from './options.js';
import { type Source as PrincipalsSource, refreshPrincipals } from './principals-source.js';
import { sessionsCommand } from './sessions/command.js';
import { runSyncUsers, type SyncUsersDeps } from './sync-users/run.js';
import { realRunner, realSystemFs, splitCommand, writeFileAtomic } from './sys.js';

// One list and one UsageError, shared with the login path's argument parser.
export { ADMIN_COMMANDS, DEFAULT_SYNC_LOCK, UsageError };
export type AdminCommand = (typeof ADMIN_COMMANDS)[number];

export function isAdminCommand(command: string): command is AdminCommand {
  return (ADMIN_COMMANDS as readonly string[]).includes(command);
}

const out = (line: string) => process.stdout.write(`${line}\n`);
const err = (line: string) => process.stderr.write(`${line}\n`);

async function readOptional(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

function requireRoot(command: string): void {
  if (process.getuid?.() !== 0) throw new UsageError(`${command} must run as root (or use --dry-run)`);
}

async function syncUsersCommand(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: SYNC_USERS_OPTIONS, strict: true, allowPositionals: false });
  const dryRun = values['dry-run'];
  if (!dryRun) requireRoot('sync-users');
  const config = loadAdminConfig(values.config);
  // One run at a time (a timer and a manual run); a dry run changes nothing and needs no lock.
  const release = dryRun ? () => {} : acquireLock(values['lock-file']);
  try {
    return await syncUsersWith(config, values, dryRun);
  } finally {
    release();
  }
}

function syncUsersWith(
  config: AdminConfig,
  values: { 'allow-mass-removal': boolean; renumber: boolean; 'sudoers-file': string; visudo: string },
  dryRun: boolean,
): Promise<number> {
  return runSyncUsers({
    config,
    // Straight from S3: deletions need a fresh index, and root cannot use the agent user's cache anyway.
    store: createStore(
      { ...config, cache: { ...config.cache, ttlSeconds: 0 } },
      { uid: process.getuid?.() ?? 0, pid: process.pid },
    ),
    run: realRunner,
    now: Date.now,
    out,
    err,
    shell: existsSync('/bin/bash') ? '/bin/bash' : '/bin/sh',
    dryRun,
    allowMassRemoval: values['allow-mass-removal'],
    renumber: values.renumber,
    sudoers: sudoersDeps(values['sudoers-file'], values.visudo),
  });
}

/**
 * File access for the sudoers drop-in. The temp file goes through the atomic
 * writer (O_EXCL temp + rename, exact mode 0440, root): a symlink or an old
 * file left at the temp name is replaced, never written through.
 */
export function sudoersDeps(path: string, visudo: string): SyncUsersDeps['sudoers'] {
  return {
    path,
    visudo,
    readFile: readOptional,
    writeTemp: (p, c) => writeFileAtomic(p, c, { mode: 0o440, uid: 0, gid: 0 }),
    rename,
    remove: unlink,
  };
}

type PathValues = {
  root: string;
  bin?: string;
  config?: string;
  sshd?: string;
  'sshd-config'?: string;
  'drop-in-dir'?: string;
  'state-file'?: string;
  'reload-command'?: string;
  'no-reload': boolean;
  'agent-user'?: string;
};

/**
 * Every path can be overridden so tests (and image builds) work on a temp root.
 * Without --bin, --config or --agent-user, what the last install recorded in its
 * state file is used (chooseDefaults).
 */
async function installPaths(
  v: PathValues,
  command: 'install' | 'uninstall' | 'doctor',
): Promise<{ paths: InstallPaths; agentUser: string }> {
  const d = defaultPaths(v.root);
  const abs = (name: string, p: string | undefined, def: string) => {
    if (p === undefined) return def;
    if (!p.startsWith('/')) throw new UsageError(`--${name} must be an absolute path`);
    return p;
  };
  const stateFile = abs('state-file', v['state-file'], d.stateFile);
  const stateText = await realSystemFs(realRunner).readText(stateFile);
  const state = stateText ? (JSON.parse(stateText) as InstallState) : undefined;
  const chosen = chooseDefaults(
    command,
    { bin: v.bin, config: v.config, agentUser: v['agent-user'] },
    state,
    {
      bin: d.binPath,
      config: d.configPath,
      agentUser: DEFAULT_AGENT_USER,
      // On the real root, a standalone executable in a program directory (a package's) is run where it is.
      ...(v.root === '/'
        ? { running: { standalone: isCompiledProgram(process.argv[1]), path: process.execPath } }
        : {}),
    },
  );
  const paths = {
    binPath: abs('bin', chosen.bin, chosen.bin),
    configPath: abs('config', chosen.config, chosen.config),
    sshdConfig: abs('sshd-config', v['sshd-config'], d.sshdConfig),
    dropInDir: abs('drop-in-dir', v['drop-in-dir'], d.dropInDir),
    stateFile: abs('state-file', v['state-file'], d.stateFile),
    unitDir: d.unitDir,
    sshdBinary: abs('sshd', v.sshd, d.sshdBinary),
    reloadCommand: v['no-reload']
      ? null
      : v['reload-command'] !== undefined
        ? splitCommand(v['reload-command'])
        : d.reloadCommand,
  };
  return { paths, agentUser: chosen.agentUser };
}

function sysDeps(): SysDeps {
  return { ...realSystemFs(realRunner), run: realRunner, out };
}

/** install --principals-from could not read or accept the principals. */
export class PrincipalsNotResolvedError extends Error {
  override name = 'PrincipalsNotResolvedError';
}

/** `--principals-from` of install: `ssm` (the instance role's default parameter), `ssm:NAME` or `tag:KEY`. */
export function parsePrincipalsFrom(value: string): PrincipalsSource {
  if (value === 'ssm') return { kind: 'ssm' };
  if (value.startsWith('ssm:') && value.length > 4) return { kind: 'ssm', name: value.slice(4) };
  if (value.startsWith('tag:') && value.length > 4) return { kind: 'tag', tag: value.slice(4) };
  throw new UsageError(`--principals-from must be ssm, ssm:NAME or tag:KEY, not "${value}"`);
}

/** refresh-principals' work, shared with install --principals-from. */
function refreshPrincipalsInto(
  configPath: string,
  source: PrincipalsSource,
  opts: { dryRun: boolean; allowSystemAccounts: boolean; localUser?: string | undefined },
): Promise<number> {
  const fsys = realSystemFs(realRunner);
  const credDeps = {
    env: process.env,
    http: request,
    now: Date.now,
    readFile: readFileOrUndefined,
    warn: err,
  };
  return refreshPrincipals(
    source,
    {
      dryRun: opts.dryRun,
      allowSystemAccounts: opts.allowSystemAccounts,
      ...(opts.localUser ? { localUser: opts.localUser } : {}),
    },
    {
      configPath,
      run: realRunner,
      readText: fsys.readText,
      writeAtomic: fsys.writeAtomic,
      out,
      http: request,
      env: process.env,
      now: Date.now,
      // The parameter lives in the instance's own account: its own credentials, no roleArn.
      credentials: () => baseCredentials(credDeps),
    },
  );
}

async function installCommand(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: INSTALL_OPTIONS, strict: true, allowPositionals: false });
  const principals =
    values['principals-from'] !== undefined ? parsePrincipalsFrom(values['principals-from']) : undefined;
  if (!principals && (values['local-user'] !== undefined || values['allow-system-accounts'])) {
    throw new UsageError('--local-user and --allow-system-accounts go with --principals-from');
  }
  if (!values['dry-run']) requireRoot('install');
  // The running file is the agent itself (dist/iam-authorized-keys) unless --source says otherwise.
  // The running program is the agent: the standalone executable itself, or the script node runs.
  const sourcePath =
    values.source ?? (isCompiledProgram(process.argv[1]) ? process.execPath : process.argv[1]);
  if (!sourcePath) throw new UsageError('cannot tell which file to install: pass --source FILE');
  const source = await readFile(sourcePath);
  const { paths, agentUser } = await installPaths(values, 'install');
  let restoreConfig: (() => Promise<void>) | undefined;
  if (principals) {
    // Resolved once here (and by refresh-principals later), never per login; a failure stops install before any change.
    const fsys = realSystemFs(realRunner);
    const before = await fsys.readText(paths.configPath);
    const st = before !== undefined ? statSync(paths.configPath) : undefined;
    await refreshPrincipalsInto(paths.configPath, principals, {
      dryRun: values['dry-run'],
      allowSystemAccounts: values['allow-system-accounts'],
      localUser: values['local-user'],
    }).catch((e: unknown) => {
      throw new PrincipalsNotResolvedError(
        `principals not resolved, nothing was installed: ${errorMessage(e)}`,
        {
          cause: e,
        },
      );
    });
    // install's own rollback does not know about this write: undo it if install fails.
    if (before !== undefined && st && !values['dry-run']) {
      restoreConfig = async () => {
        if ((await fsys.readText(paths.configPath)) === before) return;
        await fsys.writeAtomic(paths.configPath, before, st.mode & 0o7777, { uid: st.uid, gid: st.gid });
        out(`restored ${paths.configPath}: the new principals are not kept when install fails`);
      };
    }
  }
  const nologin = ['/usr/sbin/nologin', '/sbin/nologin'].find((p) => existsSync(p)) ?? '/bin/false';
  let code: number;
  try {
    ({ code } = await install(
      {
        paths,
        agentUser,
        source,
        nodePath: values.node,
        nologin,
        agentUserSharedOk: values['agent-user-shared-ok'],
      },
      sysDeps(),
      values['dry-run'],
    ));
  } catch (e) {
    await restoreConfig?.();
    throw e;
  }
  if (code !== 0) await restoreConfig?.();
  return code;
}

async function uninstallCommand(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: PATH_OPTIONS, strict: true, allowPositionals: false });
  if (!values['dry-run']) requireRoot('uninstall');
  return uninstall((await installPaths(values, 'uninstall')).paths, sysDeps(), values['dry-run']);
}

async function doctorCommand(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: PATH_OPTIONS, strict: true, allowPositionals: false });
  // The user, binary and config install recorded win over the defaults.
  const { paths, agentUser } = await installPaths(values, 'doctor');
  const results = await runDoctor(realDoctorDeps(paths, agentUser));
  for (const r of results) out(formatCheck(r));
  return results.every((r) => r.ok) ? 0 : 1;
}

async function refreshPrincipalsCommand(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: REFRESH_PRINCIPALS_OPTIONS,
    strict: true,
    allowPositionals: false,
  });
  if (values.parameter !== undefined && values.tag !== undefined) {
    throw new UsageError('use either --parameter or --tag, not both');
  }
  if (!values['dry-run']) requireRoot('refresh-principals');
  return refreshPrincipalsInto(
    values.config,
    values.tag !== undefined
      ? { kind: 'tag', tag: values.tag }
      : { kind: 'ssm', ...(values.parameter !== undefined ? { name: values.parameter } : {}) },
    {
      dryRun: values['dry-run'],
      allowSystemAccounts: values['allow-system-accounts'],
      localUser: values['local-user'],
    },
  );
}

/**
 * Each admin command's handler. Typed by ADMIN_COMMANDS, so the compiler refuses a command
 * without one: a new command is an entry here and its options in options.ts.
 */
const COMMANDS: { readonly [C in AdminCommand]: (args: string[]) => Promise<number> } = {
  'sync-users': syncUsersCommand,
  install: installCommand,
  uninstall: uninstallCommand,
  doctor: doctorCommand,
  'refresh-principals': refreshPrincipalsCommand,
  'ship-audit': (args) => shipAuditCommand(args, out, err),
  sessions: sessionsCommand,
};

/** Runs one admin command; returns the process exit code (2: usage error). */
export async function runAdmin(command: string, args: string[]): Promise<number> {
  if (!isAdminCommand(command)) {
    err(
      `iam-authorized-keys: unknown admin command "${command}" (expected one of: ${ADMIN_COMMANDS.join(', ')})`,
    );
    return 2;
  }
  try {
    // Indexed only with a name from ADMIN_COMMANDS (checked above), never with raw argv.
    return await COMMANDS[command](args);
  } catch (e) {
    const error = e as Error;
    // parseArgs throws TypeErrors with ERR_PARSE_ARGS_* codes for bad options.
    const usage =
      error instanceof UsageError || String((e as { code?: unknown }).code).startsWith('ERR_PARSE_ARGS');
    err(`iam-authorized-keys ${command}: ${error.message}`);
    return usage ? 2 : 1;
  }
}

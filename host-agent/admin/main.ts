// Admin commands of the host agent (install, uninstall, doctor, sync-users,
// refresh-principals). host-agent/main.ts imports this lazily so a login never loads it.
// This file only wires config, clients, the clock, the file system and the
// process runner into the modules that do the work.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { readFile, rename, unlink } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { errorMessage } from '../../contract/errors.js';
import { ADMIN_COMMANDS } from '../args.js';
import { startSyslogAuditor } from '../audit.js';
import { loadConfig } from '../config.js';
import { baseCredentials, createCredentialProvider, readFileOrUndefined } from '../credentials.js';
import { UsageError } from '../errors.js';
import { fipsStsDeps } from '../fips.js';
import { request } from '../http.js';
import { createStore } from '../store.js';
import { type DoctorDeps, formatCheck, runDoctor } from './doctor.js';
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
import {
  findOwnedFile,
  lookupUser,
  processesOf,
  realRunner,
  realSystemFs,
  splitCommand,
  writeFileAtomic,
} from './sys.js';

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

const SETPRIV = '/usr/bin/setpriv';

async function syncUsersCommand(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: SYNC_USERS_OPTIONS, strict: true, allowPositionals: false });
  const dryRun = values['dry-run'];
  if (!dryRun) requireRoot('sync-users');
  const config = loadConfig(values.config);
  // One run at a time (a timer and a manual run); a dry run changes nothing and needs no lock.
  const release = dryRun ? () => {} : acquireLock(values['lock-file']);
  try {
    return await syncUsersWith(config, values, dryRun);
  } finally {
    release();
  }
}

function syncUsersWith(
  config: ReturnType<typeof loadConfig>,
  values: { 'allow-mass-removal': boolean; renumber: boolean; 'sudoers-file': string; visudo: string },
  dryRun: boolean,
): Promise<number> {
  return runSyncUsers({
    config,
    // Straight from S3: deletions need a fresh index, and root cannot use the agent user's cache anyway.
    store: createStore({ ...config, cache: { ...config.cache, ttlSeconds: 0 } }),
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

/** doctor's view of the agent user: what runs as it and what it owns (/proc, find), and sshd's own commands. */
function agentUserDeps(
  agentUser: string,
  binPath: string,
  realpath: (p: string) => string | undefined,
): Pick<DoctorDeps, 'agentUserActivity' | 'sshdPrograms'> {
  return {
    async agentUserActivity(uid, cacheDir) {
      const home = (await realRunner('getent', ['passwd', agentUser])).stdout.split(':')[5]?.trim();
      // Its own home counts as its own, unless that is / or a top-level directory (which would hide too much).
      const ownHome = home && home.split('/').filter(Boolean).length >= 2 ? [home] : [];
      return {
        processes: await processesOf(uid),
        ownedFile: await findOwnedFile(realRunner, uid, [cacheDir, ...ownHome]),
      };
    },
    sshdPrograms(config) {
      const both = (p: string) => [p, realpath(p) ?? p];
      return new Set([
        ...both(binPath),
        ...(config.chain?.[0] ? both(config.chain[0]) : []),
        // The audit's hand-off: timeout -s KILL 2 logger ...
        ...['/usr/bin/timeout', '/bin/timeout', '/usr/bin/logger', '/bin/logger'].flatMap(both),
      ]);
    },
  };
}

async function doctorCommand(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: PATH_OPTIONS, strict: true, allowPositionals: false });
  // The user, binary and config install recorded win over the defaults.
  const { paths, agentUser } = await installPaths(values, 'doctor');
  const fsys = realSystemFs(realRunner);
  const quiet = () => {};
  const results = await runDoctor({
    configPath: paths.configPath,
    binPath: paths.binPath,
    sshdBinary: paths.sshdBinary,
    sshdConfig: paths.sshdConfig,
    agentUser,
    loadConfig,
    async credentials(config) {
      const provider = createCredentialProvider(
        { region: config.region, ...(config.roleArn ? { roleArn: config.roleArn } : {}) },
        {
          env: process.env,
          http: request,
          now: Date.now,
          readFile: readFileOrUndefined,
          warn: quiet,
          ...fipsStsDeps(config, process.env),
        },
      );
      return (await provider()).accessKeyId;
    },
    async readObject(config, key) {
      const { createS3Fetcher } = await import('../s3-fetch.js');
      const res = await createS3Fetcher(config, { env: process.env, warn: quiet, now: Date.now }).get(
        key,
        {},
      );
      return res.status === 200 ? res.body : undefined;
    },
    run: realRunner,
    createRuntimeDir: fsys.createRuntimeDir,
    stat: fsys.stat,
    realpath: fsys.realpath,
    readBytes: fsys.readBytes,
    userUid: async (u) => (await lookupUser(realRunner, u))?.uid,
    ...agentUserDeps(agentUser, paths.binPath, fsys.realpath),
    now: Date.now,
    async auditCheck(config) {
      const ids = await lookupUser(realRunner, agentUser);
      if (!ids) throw new Error(`agent user ${agentUser} does not exist`);
      const env = { PATH: '/usr/bin:/bin' };
      // As sshd runs the agent: that user with its supplementary groups (initgroups), which
      // node's uid/gid options would drop; without setpriv, node's own switch is the fallback.
      const auditor = startSyslogAuditor(config.syslogSocket, (cmd, a, o) =>
        existsSync(SETPRIV)
          ? spawn(SETPRIV, [`--reuid=${ids.uid}`, `--regid=${ids.gid}`, '--init-groups', '--', cmd, ...a], {
              ...o,
              env,
            })
          : spawn(cmd, a, { ...o, uid: ids.uid, gid: ids.gid, env }),
      );
      await auditor.sendChecked(['doctor: audit channel check']);
    },
    async runAsAgent(cmdArgs) {
      const ids = await lookupUser(realRunner, agentUser);
      if (!ids) return { code: 127, stdout: '', stderr: `agent user ${agentUser} does not exist` };
      const home = (await realRunner('getent', ['passwd', agentUser])).stdout.split(':')[5] ?? '/';
      const r = spawnSync(paths.binPath, [...cmdArgs], {
        uid: ids.uid,
        gid: ids.gid,
        // As sshd runs the command: nothing but these.
        env: { PATH: '/usr/bin:/bin:/usr/sbin:/sbin', HOME: home, USER: agentUser, LOGNAME: agentUser },
        encoding: 'utf8',
        timeout: 15_000,
      });
      return { code: r.status ?? 1, stdout: r.stdout ?? '', stderr: r.stderr || (r.error?.message ?? '') };
    },
  });
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

/** Runs one admin command; returns the process exit code (2: usage error). */
export async function runAdmin(command: string, args: string[]): Promise<number> {
  if (!isAdminCommand(command)) {
    err(
      `iam-authorized-keys: unknown admin command "${command}" (expected one of: ${ADMIN_COMMANDS.join(', ')})`,
    );
    return 2;
  }
  try {
    switch (command) {
      case 'sync-users':
        return await syncUsersCommand(args);
      case 'install':
        return await installCommand(args);
      case 'uninstall':
        return await uninstallCommand(args);
      case 'doctor':
        return await doctorCommand(args);
      case 'refresh-principals':
        return await refreshPrincipalsCommand(args);
      case 'sessions':
        return await sessionsCommand(args);
      default:
        err(`iam-authorized-keys: ${command} is not implemented yet`);
        return 1;
    }
  } catch (e) {
    const error = e as Error;
    // parseArgs throws TypeErrors with ERR_PARSE_ARGS_* codes for bad options.
    const usage =
      error instanceof UsageError || String((e as { code?: unknown }).code).startsWith('ERR_PARSE_ARGS');
    err(`iam-authorized-keys ${command}: ${error.message}`);
    return usage ? 2 : 1;
  }
}

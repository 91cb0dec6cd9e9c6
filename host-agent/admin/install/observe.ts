// install's observation: everything planInstall decides from, read through SysDeps.
import { dirname, join } from 'node:path';
import { globToRegExp } from '../../secure-path.js';
import { type AdminConfig, parseAdminConfig } from '../config.js';
import {
  DROP_IN_NAME,
  type InstallPaths,
  InstallRefusedError,
  type InstallState,
  type Observed,
  type SysDeps,
} from './plan.js';
import { flattenConfig, includePatterns, parseSshdConfig, renderDropIn } from './sshd-config.js';
import { SCHEDULED_COMMANDS, type ScheduledCommand, unitFiles } from './units.js';

/** The config, or undefined when it does not parse (planInstall then refuses). */
function configOf(configText: string | undefined, source: string): AdminConfig | undefined {
  if (configText === undefined) return undefined;
  try {
    return parseAdminConfig(configText, source);
  } catch {
    return undefined;
  }
}

/** sshd's directives in reading order, with our drop-in where sshd would read it (whether or not it exists yet). */
async function sshdView(
  paths: InstallPaths,
  agentUser: string,
  sys: SysDeps,
): Promise<Pick<Observed, 'sshdConfigText' | 'directives' | 'fileTexts'>> {
  const sshdConfigText = await sys.readText(paths.sshdConfig);
  if (sshdConfigText === undefined) throw new InstallRefusedError(`${paths.sshdConfig} does not exist`);
  const dropInPath = join(paths.dropInDir, DROP_IN_NAME);
  const fileTexts = new Map<string, string>([[paths.sshdConfig, sshdConfigText]]);
  const matches = new Map<string, string[]>();
  for (const pattern of includePatterns(
    parseSshdConfig(paths.sshdConfig, sshdConfigText),
    dirname(paths.sshdConfig),
  )) {
    const found = new Set(await sys.listMatches(pattern));
    if (globToRegExp(pattern).test(dropInPath)) found.add(dropInPath);
    const sorted = [...found].sort();
    matches.set(pattern, sorted);
    for (const p of sorted) {
      const t =
        p === dropInPath ? renderDropIn(paths.binPath, paths.configPath, agentUser) : await sys.readText(p);
      fileTexts.set(p, t ?? '');
    }
  }
  const directives = flattenConfig(paths.sshdConfig, sshdConfigText, fileTexts, (p) => matches.get(p) ?? []);
  return { sshdConfigText, directives, fileTexts };
}

/** Reads everything planInstall needs. */
export async function observe(
  paths: InstallPaths,
  agentUser: string,
  sys: SysDeps,
  scheduled: readonly ScheduledCommand[] = SCHEDULED_COMMANDS,
): Promise<Observed> {
  const sshd = await sshdView(paths, agentUser, sys);
  const agentConfigText = await sys.readText(paths.configPath);
  const config = configOf(agentConfigText, paths.configPath);
  const unitTexts = new Map<string, string>();
  for (const u of config ? unitFiles(scheduled, config, paths) : []) {
    const text = await sys.readText(u.path);
    if (text !== undefined) unitTexts.set(u.path, text);
  }
  const stateText = await sys.readText(paths.stateFile);
  return {
    ...sshd,
    agentConfigText,
    agentUserExists: await sys.userExists(agentUser),
    agentUserUid: await sys.userUid?.(agentUser),
    cacheDirExists: config !== undefined && (await sys.dirExists(config.cache.dir)),
    binary: await sys.readBytes(paths.binPath),
    dropInText: await sys.readText(join(paths.dropInDir, DROP_IN_NAME)),
    unitTexts,
    state: stateText ? (JSON.parse(stateText) as InstallState) : undefined,
  };
}

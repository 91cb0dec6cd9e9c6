// The systemd timers install sets up for admin commands that run on a schedule.
// One table: a scheduled command is an entry in SCHEDULED_COMMANDS; planInstall
// writes its .service and .timer (journaled, recorded in the state file, so
// rolled back and uninstalled like every other file), install enables the
// timers once sshd is checked, and uninstall disables them before removing them.
import { basename, join } from 'node:path';
import type { AdminConfig } from '../config.js';

export interface ScheduledCommand {
  /** The units are iam-authorized-keys-NAME.service and .timer. */
  readonly name: string;
  /** What it does, for the units' Description=. */
  readonly description: string;
  /** The admin command line after the binary, e.g. ['sync-users']; --config is added. */
  readonly args: readonly string[];
  /** systemd time span between runs (OnUnitActiveSec=), e.g. '1min'. */
  readonly every: string;
  /** Whether this host's config asks for it (e.g. it names the bucket the command writes to). */
  readonly wanted: (config: AdminConfig) => boolean;
}

/** Commands install schedules when the config wants them. sync-users' timer comes with the packages. */
export const SCHEDULED_COMMANDS: readonly ScheduledCommand[] = [
  {
    name: 'ship-audit',
    description: 'Ship new SSH login records to the audit bucket',
    args: ['ship-audit'],
    every: '1min',
    // An "audit" section (parsed: it names a bucket).
    wanted: (c) => c.audit !== undefined,
  },
  {
    name: 'sessions',
    description: 'End SSH sessions whose IAM access was revoked',
    args: ['sessions', '--end-revoked'],
    every: '1min',
    // sessions.endRevoked "access" or "key" (install parses the section: a bad one is refused).
    wanted: (c) => (c.sessions?.endRevoked ?? 'off') !== 'off',
  },
];

const unitName = (c: ScheduledCommand, kind: 'service' | 'timer') => `iam-authorized-keys-${c.name}.${kind}`;

export function renderService(c: ScheduledCommand, binPath: string, configPath: string): string {
  return [
    '[Unit]',
    `Description=${c.description} (iam-authorized-keys ${c.args.join(' ')})`,
    'Documentation=man:iam-authorized-keys(8)',
    `ConditionPathExists=${configPath}`,
    'Wants=network-online.target',
    'After=network-online.target',
    '',
    '[Service]',
    'Type=oneshot',
    `ExecStart=${[binPath, ...c.args, '--config', configPath].join(' ')}`,
    '',
  ].join('\n');
}

export function renderTimer(c: ScheduledCommand): string {
  return [
    '[Unit]',
    `Description=Run iam-authorized-keys ${c.args.join(' ')} every ${c.every}`,
    'Documentation=man:iam-authorized-keys(8)',
    '',
    '[Timer]',
    'OnBootSec=1min',
    `OnUnitActiveSec=${c.every}`,
    // The default accuracy (1 min) would stretch a 1-minute period up to 2 minutes.
    'AccuracySec=1s',
    '',
    '[Install]',
    'WantedBy=timers.target',
    '',
  ].join('\n');
}

/** A unit file install writes. */
export interface UnitFile {
  readonly path: string;
  readonly content: string;
  readonly what: string;
}

/** The unit files of the commands this config wants, service before timer. */
export function unitFiles(
  commands: readonly ScheduledCommand[],
  config: AdminConfig,
  paths: { readonly unitDir: string; readonly binPath: string; readonly configPath: string },
): UnitFile[] {
  return commands
    .filter((c) => c.wanted(config))
    .flatMap((c) => [
      {
        path: join(paths.unitDir, unitName(c, 'service')),
        content: renderService(c, paths.binPath, paths.configPath),
        what: `systemd service for ${c.args.join(' ')}`,
      },
      {
        path: join(paths.unitDir, unitName(c, 'timer')),
        content: renderTimer(c),
        what: `systemd timer for ${c.args.join(' ')}`,
      },
    ]);
}

/** The timers among files install wrote (by name): what install enables and uninstall disables. */
export function timersOf(paths: readonly string[], unitDir: string): string[] {
  return paths
    .filter((p) => p.startsWith(`${unitDir}/iam-authorized-keys-`) && p.endsWith('.timer'))
    .map((p) => basename(p));
}

// Admin commands of the host agent (install, uninstall, doctor, sync-users,
// refresh-principals). main.ts imports this lazily so a login never loads it.

export const ADMIN_COMMANDS = ['install', 'uninstall', 'doctor', 'sync-users', 'refresh-principals'] as const;
export type AdminCommand = (typeof ADMIN_COMMANDS)[number];

export class UnknownAdminCommandError extends Error {
  override name = 'UnknownAdminCommandError';
}

export function isAdminCommand(command: string): command is AdminCommand {
  return (ADMIN_COMMANDS as readonly string[]).includes(command);
}

/** Runs one admin command; returns the process exit code (2: usage error). */
export async function runAdmin(command: string, args: string[]): Promise<number> {
  if (!isAdminCommand(command)) {
    process.stderr.write(
      `iam-authorized-keys: unknown admin command "${command}" (expected one of: ${ADMIN_COMMANDS.join(', ')})\n`,
    );
    return 2;
  }
  void args;
  process.stderr.write(`iam-authorized-keys: ${command} is not implemented yet\n`);
  return 1;
}

// Local user and group names that carry privilege on common distributions.
// sync-users creates a private group named after each account (useradd -U):
// an IAM user named `docker` would otherwise own a group `docker` that the
// Docker package later adopts (its socket is root). docs/host-agent.md lists
// why each name is here; keep the two in step.

/** Names refused as synced account names (and so as private group names). */
export const PRIVILEGED_NAMES: ReadonlySet<string> = new Set([
  'root',
  'admin',
  'sudo',
  'wheel',
  'adm',
  'staff',
  'docker',
  'lxd',
  'incus',
  'incus-admin',
  'libvirt',
  'kvm',
  'disk',
  'kmem',
  'shadow',
  'ssh_keys',
  'sshd',
  'video',
  'render',
  'input',
  'tty',
  'utmp',
  'lp',
  'dialout',
  'audio',
  'plugdev',
  'netdev',
  'daemon',
  'bin',
  'sys',
  'nobody',
  'nogroup',
  'iam-authorized-keys',
]);

/** Name prefixes refused the same way: every systemd-* account and group (systemd-journal reads all logs). */
export const PRIVILEGED_PREFIXES: readonly string[] = ['systemd-'];

/** Whether a local name carries privilege (exact, case-sensitive: local names are). */
export function isPrivilegedName(name: string): boolean {
  return PRIVILEGED_NAMES.has(name) || PRIVILEGED_PREFIXES.some((p) => name.startsWith(p));
}

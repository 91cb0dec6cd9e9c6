# Shared by every maintainer script of the .deb and the .rpm (scripts/package.mjs
# puts it first, then the package manager's condition, then the body).
BIN=/usr/bin/iam-authorized-keys
CONFIG=/etc/iam-authorized-keys.json
STATE=/var/lib/iam-authorized-keys/install.json
# Reload sshd if it runs (ssh.service on Debian/Ubuntu, sshd.service on RHEL/Amazon Linux); a stopped or
# socket-activated sshd reads the configuration when it next starts, so "not running" is no failure.
reload_sshd() {
  [ -d /run/systemd/system ] || return 0
  for unit in ssh.service sshd.service; do systemctl try-reload-or-restart "$unit" >/dev/null 2>&1 || true; done
}
daemon_reload() {
  if [ -d /run/systemd/system ]; then systemctl daemon-reload >/dev/null 2>&1 || true; fi
}

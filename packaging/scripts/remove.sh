# Before removal (not upgrade): take the agent out of sshd while the binary is still here; uninstall
# restores sshd's files byte for byte. The reload is ours: a stopped sshd must not make the package
# unremovable.
if [ -d /run/systemd/system ]; then
  systemctl disable --now iam-authorized-keys-sync-users.timer >/dev/null 2>&1 || true
  systemctl disable --now iam-authorized-keys-sessions.timer >/dev/null 2>&1 || true
fi
if [ -f "$STATE" ] && ! grep -q "\"binPath\": \"$BIN\"" "$STATE"; then
  # An install this package's binary did not make (e.g. a copy in /usr/local/bin): not ours to undo.
  echo "iam-authorized-keys: $STATE records an install of another copy of the agent: left as it is (iam-authorized-keys uninstall undoes it)" >&2
elif [ -f "$STATE" ]; then
  if "$BIN" uninstall --no-reload; then
    reload_sshd
  else
    # sshd would keep naming a binary that is about to disappear: stop the removal instead.
    echo "iam-authorized-keys: uninstall failed (above); not removing the package. Fix it, then remove it again." >&2
    exit 1
  fi
fi

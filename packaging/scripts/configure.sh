# After install or upgrade. Installing the package never edits sshd's configuration by itself: only
# when the admin has already written the agent config (an image build, config management) does it
# run `iam-authorized-keys install`, which checks sshd's view of the result and rolls every change
# back on failure. Not fatal either way: the package stays installed.
daemon_reload
if [ -f "$CONFIG" ]; then
  if "$BIN" install --no-reload; then
    reload_sshd
  else
    echo "iam-authorized-keys: 'iam-authorized-keys install' failed (above); sshd's configuration is unchanged. Fix it, then run: iam-authorized-keys install" >&2
  fi
else
  echo "iam-authorized-keys: sshd is not configured yet. Write $CONFIG (example: /usr/share/doc/iam-authorized-keys/examples/iam-authorized-keys.json), then run: iam-authorized-keys install" >&2
fi

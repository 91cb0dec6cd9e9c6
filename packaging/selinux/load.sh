# SELinux (rpm %post, install and upgrade): load the agent's policy module and label the binary
# before anything runs it. Only where SELinux is enabled. A failure is reported, not fatal: sshd
# then runs the agent in its own domain (sshd_t), as without the module, where S3 may be denied.
SELINUX_MODULE=/usr/share/selinux/packages/iam_authorized_keys.pp
SELINUX_LOADED=
if command -v selinuxenabled >/dev/null 2>&1 && selinuxenabled; then
  if semodule -i "$SELINUX_MODULE"; then
    SELINUX_LOADED=1
    restorecon -F "$BIN" || echo "iam-authorized-keys: restorecon $BIN failed (above)" >&2
  else
    echo "iam-authorized-keys: semodule -i $SELINUX_MODULE failed (above): sshd runs the agent without the module's domain" >&2
  fi
fi

# SELinux (rpm %post, after `install` may have made them): label the cache and state directories.
if [ -n "$SELINUX_LOADED" ]; then
  for dir in /var/cache/iam-authorized-keys /var/lib/iam-authorized-keys; do
    if [ -d "$dir" ]; then restorecon -RF "$dir" || echo "iam-authorized-keys: restorecon $dir failed (above)" >&2; fi
  done
fi

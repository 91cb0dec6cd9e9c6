# SELinux (rpm %postun): remove the policy module on erase only. On upgrade ($1 = 1) the new
# package's %post has already replaced it. Removed wherever it was loaded, even if SELinux has
# been disabled since.
if [ "$1" -eq 0 ] && command -v semodule >/dev/null 2>&1 && semodule -l 2>/dev/null | grep -Eq '^iam_authorized_keys([[:space:]]|$)'; then
  semodule -r iam_authorized_keys || echo "iam-authorized-keys: semodule -r iam_authorized_keys failed (above)" >&2
fi

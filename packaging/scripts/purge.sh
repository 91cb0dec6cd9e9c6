# Purge (rpm: erase, which has no purge): the cache and the install state go, unless removal left
# another copy's install in place (its state and cache stay with it).
if [ -f "$STATE" ]; then
  echo "iam-authorized-keys: $STATE remains (another install): not purging its state and cache" >&2
else
  rm -rf /var/cache/iam-authorized-keys /var/lib/iam-authorized-keys
fi

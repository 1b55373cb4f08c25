#!/usr/bin/env bash
# Checks deploy/kapstone.service with `systemd-analyze verify`, as it would be installed: the
# unit in /etc/systemd/system and the binary at /usr/local/bin/kapstone, inside a scratch root
# (--root), so no running systemd and no installed kapstone are needed (CI containers have
# neither). The root gets the host's own system units, which the unit's dependencies
# (network-online.target, multi-user.target...) must resolve against, and an executable stand-in
# for the binary: verify checks that ExecStart names an executable, not what it does.
# Any output fails the check: verify reports unknown keys and bad values as warnings only.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

if ! command -v systemd-analyze >/dev/null 2>&1; then
  echo "== installing systemd (for systemd-analyze)"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq systemd >/dev/null
fi

root="$(mktemp -d)"
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/etc/systemd/system" "$root/usr/lib/systemd" "$root/usr/local/bin"
for units in /usr/lib/systemd/system /lib/systemd/system; do
  if [ -d "$units" ]; then
    cp -a "$units" "$root/usr/lib/systemd/"
    break
  fi
done
printf '#!/bin/sh\n' >"$root/usr/local/bin/kapstone"
chmod 0755 "$root/usr/local/bin/kapstone"
install -m 0644 deploy/kapstone.service "$root/etc/systemd/system/kapstone.service"

out="$(systemd-analyze verify --root="$root" kapstone.service 2>&1)" || {
  echo "$out"
  echo "deploy/kapstone.service: systemd-analyze verify failed" >&2
  exit 1
}
if [ -n "$out" ]; then
  echo "$out"
  echo "deploy/kapstone.service: systemd-analyze verify warned (see above)" >&2
  exit 1
fi
echo "deploy/kapstone.service: verified"

#!/bin/sh
# nspawn-tree.sh DIR: debootstrap a Debian bookworm tree for the real-systemd
# boot test into DIR, once. The tree is reused between runs (the test boots it
# with --volatile=overlay, so it never changes); delete DIR to rebuild it.
# The package set is everything the test needs inside, because dpkg -i there
# cannot fetch dependencies without network.
set -eu
dir=${1:?usage: nspawn-tree.sh DIR}
if [ -x "$dir/usr/lib/systemd/systemd" ] && [ -f "$dir/.tpmkeyd-ci-complete" ]; then
	exit 0
fi
mirror=${DEBIAN_MIRROR:-}
if [ -z "$mirror" ]; then
	mirror=$(sed -n 's/^URIs: *\(http[^ ]*\/debian\)$/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -n1)
fi
if [ -z "$mirror" ]; then
	mirror=$(awk '$1 == "deb" && $2 ~ /\/debian\/?$/ { print $2; exit }' /etc/apt/sources.list 2>/dev/null || true)
fi
mirror=${mirror:-http://deb.debian.org/debian}
include=systemd,systemd-sysv,dbus,socat,swtpm,openssl,adduser,procps
tmp="$dir.tmp.$$"
rm -rf "$tmp"
mkdir -p "$(dirname "$dir")"
trap 'rm -rf "$tmp"' EXIT
debootstrap --variant=minbase --include="$include" bookworm "$tmp" "$mirror" >"$tmp.log" 2>&1 || {
	tail -n 30 "$tmp.log" >&2
	rm -f "$tmp.log"
	exit 1
}
rm -f "$tmp.log"
# No login prompt on the pipe console, and a fixed machine id is unnecessary:
# nspawn provides a transient one.
touch "$tmp/.tpmkeyd-ci-complete"
rm -rf "$dir"
mv "$tmp" "$dir"
trap - EXIT

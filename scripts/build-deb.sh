#!/bin/sh
# build-deb.sh: build dist/tpmkeyd_<version>_<arch>.deb from the repository
# with dpkg-deb, reproducibly: the same tree gives the same bytes.
#
# Environment (all optional):
#   GOARCH           target architecture (default: go env GOARCH)
#   DIST             output directory (default: dist)
#   SOURCE_DATE_EPOCH  timestamps; default: the date of packaging/debian/changelog
#   TPMKEYD_PKG, TPMKEY_PKG  Go packages of the two commands
#                    (default ./cmd/tpmkeyd and ./cmd/tpmkey)
# The version is the top entry of packaging/debian/changelog; its upstream
# part is stamped into both binaries as main.version.
set -eu
cd "$(dirname "$0")/.."

changelog=packaging/debian/changelog
deb_version=$(dpkg-parsechangelog -l "$changelog" -S Version)
version=${deb_version%-*}
: "${SOURCE_DATE_EPOCH:=$(dpkg-parsechangelog -l "$changelog" -S Timestamp)}"
export SOURCE_DATE_EPOCH
goarch=${GOARCH:-$(go env GOARCH)}
case $goarch in
amd64 | arm64 | riscv64 | ppc64le | s390x) arch=$goarch ;;
386) arch=i386 ;;
arm) arch=armhf ;;
*) echo "build-deb.sh: no Debian architecture for GOARCH=$goarch" >&2; exit 1 ;;
esac
dist=${DIST:-dist}
tpmkeyd_pkg=${TPMKEYD_PKG:-./cmd/tpmkeyd}
tpmkey_pkg=${TPMKEY_PKG:-./cmd/tpmkey}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
root=$work/root
umask 022

# --- binaries -------------------------------------------------------------
mkdir -p "$root/usr/bin"
ldflags="-s -w -buildid= -X main.version=$version"
for p in "tpmkeyd:$tpmkeyd_pkg" "tpmkey:$tpmkey_pkg"; do
	CGO_ENABLED=0 GOOS=linux GOARCH=$goarch go build -trimpath -buildvcs=false -buildmode=pie \
		-ldflags "$ldflags" -o "$root/usr/bin/${p%%:*}" "${p#*:}"
done

# --- systemd, config ----------------------------------------------------------
install -D -m 0644 systemd/tpmkeyd.service "$root/usr/lib/systemd/system/tpmkeyd.service"
install -D -m 0644 systemd/tpmkeyd.socket "$root/usr/lib/systemd/system/tpmkeyd.socket"
# The backup timer is an example, shipped disabled (docs/BACKUP.md).
install -D -m 0644 systemd/tpmkeyd-backup.service "$root/usr/lib/systemd/system/tpmkeyd-backup.service"
install -D -m 0644 systemd/tpmkeyd-backup.timer "$root/usr/lib/systemd/system/tpmkeyd-backup.timer"
install -D -m 0644 systemd/tpmkeyd-ssh.socket "$root/usr/lib/systemd/system/tpmkeyd-ssh.socket"
install -D -m 0644 systemd/tpmkeyd-pkcs11.socket "$root/usr/lib/systemd/system/tpmkeyd-pkcs11.socket"
install -D -m 0644 packaging/p11-kit/tpmkeyd.module "$root/usr/share/p11-kit/modules/tpmkeyd.module"
install -D -m 0644 systemd/sysusers.d/tpmkeyd.conf "$root/usr/lib/sysusers.d/tpmkeyd.conf"
install -D -m 0644 packaging/tpmkeyd.toml "$root/etc/tpmkeyd/tpmkeyd.toml"

# --- documentation ------------------------------------------------------------
doc=$root/usr/share/doc/tpmkeyd
install -D -m 0644 packaging/debian/copyright "$doc/copyright"
install -D -m 0644 docs/BACKUP.md "$doc/BACKUP.md"
gzip -9n <"$changelog" >"$doc/changelog.Debian.gz"
install -D -m 0644 packaging/tpmkeyd.8 "$root/usr/share/man/man8/tpmkeyd.8"
mkdir -p "$root/usr/share/man/man1"
manbin=$root/usr/bin/tpmkey
if [ "$goarch" != "$(go env GOHOSTARCH)" ]; then
	# A cross build cannot run its own binary; document a host build.
	manbin=$work/tpmkey-host
	CGO_ENABLED=0 go build -trimpath -buildvcs=false -buildmode=pie -ldflags "$ldflags" -o "$manbin" "$tpmkey_pkg"
fi
go run ./packaging/mangen -bin "$manbin" -name tpmkey -section 1 \
	-summary "use keys held by tpmkeyd, the TPM-backed keystore" -out "$root/usr/share/man/man1/tpmkey.1"
gzip -9n "$root/usr/share/man/man8/tpmkeyd.8" "$root/usr/share/man/man1/tpmkey.1"

# --- control ------------------------------------------------------------------
mkdir -p "$root/DEBIAN"
for s in postinst prerm postrm; do
	install -m 0755 "packaging/debian/$s" "$root/DEBIAN/$s"
done
echo /etc/tpmkeyd/tpmkeyd.toml >"$root/DEBIAN/conffiles"
chmod 0644 "$root/DEBIAN/conffiles"
# Installed-Size as dpkg-gencontrol counts it: KiB per file, rounded up.
size=$(cd "$root" && find . -path ./DEBIAN -prune -o \( -type f -o -type l \) -printf '%s\n' |
	awk '{ s += int(($1 + 1023) / 1024) } END { print s + 0 }')
sed -e "s/@VERSION@/$deb_version/" -e "s/@ARCH@/$arch/" -e "s/@SIZE@/$size/" \
	packaging/debian/control.in >"$root/DEBIAN/control"
(cd "$root" && find . -path ./DEBIAN -prune -o -path ./etc -prune -o -type f -printf '%P\n' |
	LC_ALL=C sort | xargs md5sum) >"$root/DEBIAN/md5sums"
chmod 0644 "$root/DEBIAN/control" "$root/DEBIAN/md5sums"

# --- normalise and build --------------------------------------------------
find "$root" -type d -exec chmod 0755 {} +
find "$root" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
mkdir -p "$dist"
out=$dist/tpmkeyd_${deb_version}_$arch.deb
dpkg-deb --root-owner-group -Zxz --build "$root" "$out" >/dev/null
echo "$out"

#!/bin/sh
# Builds a signed RAUC bundle (verity format) of a root filesystem image,
# carrying the Cellbridge install-check hook.
#   make-bundle.sh COMPATIBLE VERSION ROOTFS_IMAGE CERT KEY OUTPUT
# RAUC defaults to `rauc` on the PATH; post-image.sh passes Buildroot's.
# MKSQUASHFS_ARGS (optional) goes to `rauc bundle --mksquashfs-args`, e.g.
# "-comp lz4" (the boot test's bundles: faster to make and to unpack under an
# emulated CPU than the default gzip).
set -eu

usage() {
	echo "usage: make-bundle.sh COMPATIBLE VERSION ROOTFS_IMAGE CERT KEY OUTPUT" >&2
	exit 2
}
[ "$#" -eq 6 ] || usage

compatible=$1
version=$2
image=$3
cert=$4
key=$5
output=$6
here=$(cd "$(dirname "$0")" && pwd)
hook="$here/../board/common/rauc/hook"
rauc=${RAUC:-rauc}

case "$compatible" in
"" | *[!A-Za-z0-9._-]*) echo "make-bundle: bad compatible '$compatible'" >&2; exit 2 ;;
esac
if ! printf '%s\n' "$version" | grep -Eq '^[0-9]{1,9}(\.[0-9]{1,9}){0,3}$'; then
	echo "make-bundle: version '$version' is not a dotted number" >&2
	exit 2
fi
for file in "$image" "$cert" "$key"; do
	[ -r "$file" ] || { echo "make-bundle: cannot read $file" >&2; exit 2; }
done

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT INT TERM
cp "$image" "$stage/rootfs.img"
cp "$hook" "$stage/hook"
chmod 0755 "$stage/hook"
cat >"$stage/manifest.raucm" <<MANIFEST
[update]
compatible=$compatible
version=$version

[bundle]
format=verity

[hooks]
filename=hook
hooks=install-check

[image.rootfs]
filename=rootfs.img
MANIFEST

rm -f "$output"
if [ -n "${MKSQUASHFS_ARGS:-}" ]; then
	"$rauc" bundle --cert="$cert" --key="$key" --mksquashfs-args="$MKSQUASHFS_ARGS" "$stage" "$output"
else
	"$rauc" bundle --cert="$cert" --key="$key" "$stage" "$output"
fi

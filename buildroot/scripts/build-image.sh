#!/bin/sh
# `make image`: configures and builds the tablet image with a Buildroot
# checkout the user fetched.
#   build-image.sh BOARD BUILDROOT OUTPUT DEPLOYMENT VERSION [RELEASE_KEYRING [TUF_ROOT]]
# BOARD is rpi4 or qemu; DEPLOYMENT is development or release (which needs
# RELEASE_KEYRING, the estate's release CA, and TUF_ROOT, the estate's TUF
# root metadata; a development image takes TUF_ROOT when given). With CELLBRIDGE_CONFIGURE_ONLY=1
# it stops once the configuration is written.
set -eu

die() {
	echo "cellbridge: $*" >&2
	exit 2
}

if [ "$#" -lt 5 ] || [ "$#" -gt 7 ]; then
	die "usage: build-image.sh BOARD BUILDROOT OUTPUT DEPLOYMENT VERSION [RELEASE_KEYRING [TUF_ROOT]]"
fi
board=$1
buildroot=$2
output=$3
deployment=$4
version=$5
keyring=${6:-}
tuf_root=${7:-}
external=$(cd "$(dirname "$0")/.." && pwd)

case "$board" in
rpi4) defconfig=cellbridge_rpi4_defconfig image=sdcard.img ;;
qemu) defconfig=cellbridge_qemu_aarch64_virt_defconfig image=disk.img ;;
*) die "BOARD must be rpi4 or qemu (got '$board')" ;;
esac

if [ -z "$buildroot" ] || [ ! -f "$buildroot/Makefile" ] || [ ! -d "$buildroot/support/kconfig" ]; then
	die "make image needs a Buildroot checkout: fetch one, e.g.
  git clone https://gitlab.com/buildroot.org/buildroot.git ~/buildroot
then run: make image BOARD=$board BUILDROOT=~/buildroot"
fi
buildroot=$(cd "$buildroot" && pwd)

printf '%s\n' "$version" | grep -Eq '^[0-9]{1,9}(\.[0-9]{1,9}){0,3}$' ||
	die "VERSION must be 1 to 4 dot-separated numbers (got '$version')"

fragment=$(mktemp)
trap 'rm -f "$fragment"' EXIT INT TERM
printf 'BR2_CELLBRIDGE_OS_VERSION="%s"\n' "$version" >"$fragment"
case "$deployment" in
development) ;;
release)
	[ -n "$keyring" ] || die "DEPLOYMENT=release needs RELEASE_KEYRING=<estate release CA, PEM>"
	[ -r "$keyring" ] || die "cannot read RELEASE_KEYRING $keyring"
	keyring=$(cd "$(dirname "$keyring")" && pwd)/$(basename "$keyring")
	cat "$external/board/common/release.fragment" >>"$fragment"
	printf 'BR2_CELLBRIDGE_RELEASE_KEYRING="%s"\n' "$keyring" >>"$fragment"
	[ -n "$tuf_root" ] || die "DEPLOYMENT=release needs TUF_ROOT=<the estate's TUF root.json>"
	;;
*) die "DEPLOYMENT must be development or release (got '$deployment')" ;;
esac

if [ -n "$tuf_root" ]; then
	[ -r "$tuf_root" ] || die "cannot read TUF_ROOT $tuf_root"
	tuf_root=$(cd "$(dirname "$tuf_root")" && pwd)/$(basename "$tuf_root")
	printf 'BR2_CELLBRIDGE_TUF_ROOT="%s"\n' "$tuf_root" >>"$fragment"
fi

# The one Buildroot release this tree is made for (buildroot.version): a git
# checkout must be at its commit; an unpacked release must say its version.
release=$(sed -n 's/^BUILDROOT_RELEASE=//p' "$external/buildroot.version")
commit=$(sed -n 's/^BUILDROOT_COMMIT=//p' "$external/buildroot.version")
if head=$(git -C "$buildroot" rev-parse --verify -q 'HEAD^{commit}' 2>/dev/null); then
	[ "$head" = "$commit" ] ||
		die "$buildroot is at $head; this tree is pinned to Buildroot $release ($commit): git -C $buildroot checkout $release"
else
	found=$(make -s -C "$buildroot" --no-print-directory print-version 2>/dev/null || true)
	[ "$found" = "$release" ] ||
		die "$buildroot is Buildroot '${found:-unknown}'; this tree is pinned to Buildroot $release ($commit)"
fi

mkdir -p "$output"
output=$(cd "$output" && pwd)
make -C "$buildroot" O="$output" BR2_EXTERNAL="$external" "$defconfig"
cat "$fragment" >>"$output/.config"
make -C "$buildroot" O="$output" olddefconfig

# Every line of the fragment must have survived olddefconfig.
while read -r line; do
	case "$line" in
	"# BR2_"*" is not set") symbol=${line#\# } symbol=${symbol%% *} ;;
	"#"* | "") continue ;;
	*) symbol=${line%%=*} ;;
	esac
	grep -qxF "$line" "$output/.config" ||
		die "the configuration did not take '$line' ($symbol has unmet dependencies?)"
done <"$fragment"

[ "${CELLBRIDGE_CONFIGURE_ONLY:-0}" = 1 ] && exit 0

make -C "$buildroot" O="$output"
echo "cellbridge: image ready:"
echo "  $output/images/$image"
find "$output/images" -maxdepth 1 -name 'update-*.raucb' -exec echo "  {}" \;

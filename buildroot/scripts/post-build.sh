#!/bin/sh
# Buildroot post-build: finishes the target tree for one board.
#   post-build.sh TARGET_DIR BOARD_DIR     (BR2_CONFIG in the environment)
# shellcheck source-path=SCRIPTDIR
set -eu

TARGET_DIR=$1
BOARD_DIR=$2
EXTERNAL=$(cd "$(dirname "$0")/.." && pwd)
: "${BR2_CONFIG:?post-build.sh runs from Buildroot (BR2_CONFIG is not set)}"

# shellcheck source=lib/br2-config.sh
. "$EXTERNAL/scripts/lib/br2-config.sh"
# shellcheck source=lib/rootfs.sh
. "$EXTERNAL/scripts/lib/rootfs.sh"
# shellcheck source=../board/rpi4/meta
. "$BOARD_DIR/meta"

make_mount_points
install_boot_files
install_rauc_config
install_rauc_keyring
install_tuf_root
write_os_release
lock_down_services
enforce_modes

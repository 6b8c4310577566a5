#!/bin/sh
# Buildroot post-image: the flashable disk image and, for development
# builds, an update bundle.
#   post-image.sh BINARIES_DIR BOARD_DIR   (BR2_CONFIG in the environment)
# shellcheck source-path=SCRIPTDIR
set -eu

BINARIES_DIR=$1
BOARD_DIR=$2
EXTERNAL=$(cd "$(dirname "$0")/.." && pwd)
: "${BR2_CONFIG:?post-image.sh runs from Buildroot (BR2_CONFIG is not set)}"

# shellcheck source=lib/br2-config.sh
. "$EXTERNAL/scripts/lib/br2-config.sh"
# shellcheck source=lib/image.sh
. "$EXTERNAL/scripts/lib/image.sh"
# shellcheck source=../board/rpi4/meta
. "$BOARD_DIR/meta"

make_data_partition
make_boot_state
make_disk_image
make_dev_bundle

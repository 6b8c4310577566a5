# shellcheck shell=sh
# Steps of post-image.sh. They use BINARIES_DIR, BOARD_DIR, EXTERNAL, the
# Buildroot environment (TARGET_DIR, HOST_DIR, BUILD_DIR) and the board's meta.

# The disk image: boot, root A (this build), root B (empty), data.
make_disk_image() {
	genimage_tmp="$BUILD_DIR/genimage-cellbridge.tmp"
	rm -rf "$genimage_tmp"
	"$HOST_DIR/bin/genimage" \
		--rootpath "$TARGET_DIR" \
		--tmppath "$genimage_tmp" \
		--inputpath "$BINARIES_DIR" \
		--outputpath "$BINARIES_DIR" \
		--config "$BOARD_DIR/genimage.cfg"
	rm -rf "$genimage_tmp"
}

# A development build also yields an update bundle signed with the
# development key; release bundles are signed by `cellbridge release os`.
make_dev_bundle() {
	[ "$(deployment)" = development ] || return 0
	RAUC="$HOST_DIR/bin/rauc" "$EXTERNAL/scripts/make-bundle.sh" \
		"$RAUC_COMPATIBLE" "$(os_version)" "$BINARIES_DIR/rootfs.squashfs" \
		"$EXTERNAL/board/common/rauc/dev/ca.cert.pem" \
		"$EXTERNAL/board/common/rauc/dev/ca.key.pem" \
		"$BINARIES_DIR/update-$BOARD_NAME-$(os_version).raucb"
}

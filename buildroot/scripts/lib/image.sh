# shellcheck shell=sh
# Steps of post-image.sh. They use BINARIES_DIR, BOARD_DIR, EXTERNAL, the
# Buildroot environment (TARGET_DIR, HOST_DIR, BUILD_DIR) and the board's meta.

# The data partition starts empty: ext4 labelled cbdata (what
# var-lib-cellbridge.mount mounts) whose root directory is root's alone.
make_data_partition() {
	[ -n "${DATA_SIZE:-}" ] || die "board meta sets no DATA_SIZE"
	data="$BINARIES_DIR/data.ext4"
	rm -f "$data"
	"$HOST_DIR/sbin/mkfs.ext4" -q -F -L cbdata -E root_owner=0:0 "$data" "$DATA_SIZE"
	"$HOST_DIR/sbin/debugfs" -w -R "set_inode_field / mode 040700" "$data" >/dev/null 2>&1 ||
		die "could not make the data partition's root 0700"
	# The installed apps' folder must exist before var-lib-cellbridge-apps.mount binds it:
	# root's, 0755 (the shell's user reads and runs apps, never writes them).
	if ! "$HOST_DIR/sbin/debugfs" -w -R "mkdir apps" "$data" >/dev/null 2>&1 ||
		! "$HOST_DIR/sbin/debugfs" -w -R "set_inode_field apps mode 040755" "$data" >/dev/null 2>&1; then
		die "could not make the data partition's apps folder"
	fi
}

# The boot state partition's first contents: both slots with 3 attempts, A first, in the
# U-Boot environment format fw_setenv and boot.cmd read (size: /etc/fw_env.config).
make_boot_state() {
	state_size=$(awk '!/^#/ && NF >= 3 { print $3; exit }' "$TARGET_DIR/etc/fw_env.config")
	[ -n "$state_size" ] || die "no environment size in /etc/fw_env.config"
	printf 'BOOT_ORDER=A B\nBOOT_A_LEFT=3\nBOOT_B_LEFT=3\n' >"$BINARIES_DIR/bootstate.txt"
	"$HOST_DIR/bin/mkenvimage" -s "$((state_size))" -o "$BINARIES_DIR/bootstate.bin" \
		"$BINARIES_DIR/bootstate.txt"
}

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

# shellcheck shell=sh
# Steps of post-build.sh, one job each. They use TARGET_DIR, EXTERNAL and
# the board's meta (RAUC_COMPATIBLE, ROOTFS_A, ROOTFS_B, BOARD_NAME).

DEV_KEYRING="$EXTERNAL/board/common/rauc/dev/ca.cert.pem"

# Units a release image must never start: every way to a shell.
RELEASE_MASKED_UNITS="autovt@.service console-getty.service container-getty@.service
ctrl-alt-del.target debug-shell.service dropbear.service emergency.service
getty@.service rescue.service serial-getty@.service sshd.service"

install_rauc_config() {
	[ -n "${RAUC_COMPATIBLE:-}" ] || die "board meta sets no RAUC_COMPATIBLE"
	if [ -z "${ROOTFS_A:-}" ] || [ -z "${ROOTFS_B:-}" ]; then
		die "board meta sets no ROOTFS_A/ROOTFS_B"
	fi
	mkdir -p "$TARGET_DIR/etc/rauc"
	sed -e "s|@BOARD@|$BOARD_NAME|g" \
		-e "s|@COMPATIBLE@|$RAUC_COMPATIBLE|g" \
		-e "s|@ROOTFS_A@|$ROOTFS_A|g" \
		-e "s|@ROOTFS_B@|$ROOTFS_B|g" \
		"$EXTERNAL/board/common/rauc/system.conf.in" >"$TARGET_DIR/etc/rauc/system.conf"
}

# The keyring follows the deployment: the development CA in this tree, or
# the estate's release CA, which must be given and must not be the dev one.
install_rauc_keyring() {
	if [ "$(deployment)" = release ]; then
		keyring=$(config_value BR2_CELLBRIDGE_RELEASE_KEYRING)
		[ -n "$keyring" ] || die "release image: set BR2_CELLBRIDGE_RELEASE_KEYRING to the estate's release CA"
		[ -r "$keyring" ] || die "release image: cannot read the release keyring $keyring"
		grep -q 'BEGIN CERTIFICATE' "$keyring" || die "release image: $keyring holds no PEM certificate"
		if cmp -s "$keyring" "$DEV_KEYRING"; then
			die "release image: refusing to trust the development keyring"
		fi
	else
		keyring=$DEV_KEYRING
	fi
	install -D -m 0644 "$keyring" "$TARGET_DIR/etc/rauc/keyring.pem"
}

# The agent's trust anchor for every update. Its path on the tablet is the
# agent's own default (agent.updates.config.TUF_ROOT_FILE; a test keeps them
# equal). A release image without one could never take an update: refuse it.
TUF_ROOT_ON_TABLET=/etc/cellbridge/tuf/root.json

install_tuf_root() {
	root=$(config_value BR2_CELLBRIDGE_TUF_ROOT)
	if [ -z "$root" ]; then
		[ "$(deployment)" = release ] &&
			die "release image: set BR2_CELLBRIDGE_TUF_ROOT to the estate's TUF root metadata (root.json)"
		echo "cellbridge: development image without a TUF root: it will take no updates" >&2
		return 0
	fi
	[ -r "$root" ] || die "cannot read the TUF root metadata $root"
	grep -q '"_type": *"root"' "$root" || die "$root is not TUF root metadata (no \"_type\": \"root\")"
	install -D -m 0644 "$root" "$TARGET_DIR$TUF_ROOT_ON_TABLET"
}

write_os_release() {
	version=$(os_version)
	variant=$(deployment)
	mkdir -p "$TARGET_DIR/usr/lib"
	cat >"$TARGET_DIR/usr/lib/os-release" <<-OS
		NAME="Cellbridge tablet OS"
		ID=cellbridge
		ID_LIKE=buildroot
		VERSION_ID=$version
		PRETTY_NAME="Cellbridge tablet OS $version ($BOARD_NAME, $variant)"
		VARIANT_ID=$variant
		CELLBRIDGE_COMPATIBLE=$RAUC_COMPATIBLE
	OS
	mkdir -p "$TARGET_DIR/etc"
	ln -sfn ../usr/lib/os-release "$TARGET_DIR/etc/os-release"
}

# A release image has no getty, no SSH, no emergency or debug shell.
lock_down_services() {
	[ "$(deployment)" = release ] || return 0
	mkdir -p "$TARGET_DIR/etc/systemd/system"
	for unit in $RELEASE_MASKED_UNITS; do
		ln -sfn /dev/null "$TARGET_DIR/etc/systemd/system/$unit"
	done
}

make_mount_points() {
	mkdir -p "$TARGET_DIR/var/lib/cellbridge"
}

# The slot carries the device tree and the overlays boot.cmd applies to it (cb_dtb,
# cb_overlays), so an update changes kernel, device tree and overlays together.
install_boot_files() {
	script="$BOARD_DIR/boot.cmd"
	dtb=$(sed -n 's/^setenv cb_dtb \([^ ]*\)$/\1/p' "$script")
	[ -n "$dtb" ] || return 0
	install -D -m 0644 "$BINARIES_DIR/$dtb" "$TARGET_DIR/boot/$dtb"
	overlays=$(sed -n 's/^setenv cb_overlays "\(.*\)"$/\1/p' "$script")
	for overlay in $overlays; do
		install -D -m 0644 "$BINARIES_DIR/rpi-firmware/overlays/$overlay.dtbo" \
			"$TARGET_DIR/boot/overlays/$overlay.dtbo"
	done
}

# Git records only the executable bit, so modes are set here: the
# permissions table first, then the rules that hold for every file.
enforce_modes() {
	table="$EXTERNAL/board/common/permissions.table"
	grep -v '^[[:space:]]*#' "$table" | while read -r name type mode _; do
		[ -n "$name" ] || continue
		case "$type" in
		f | d) [ -e "$TARGET_DIR$name" ] && chmod "$mode" "$TARGET_DIR$name" ;;
		esac
	done
	# Nothing world-writable except sticky directories such as /tmp.
	find "$TARGET_DIR" ! -type l -perm -0002 ! \( -type d -perm -1000 \) \
		-exec chmod o-w {} +
	# Private keys are root's alone.
	find "$TARGET_DIR" -type f \( -name '*.key' -o -name '*-key.pem' \
		-o -name '*.key.pem' -o -path '*/private/*' \) -exec chmod 0600 {} +
	# Helper scripts run; systemd units and configuration do not.
	if [ -d "$TARGET_DIR/usr/libexec/cellbridge" ]; then
		find "$TARGET_DIR/usr/libexec/cellbridge" -type f -exec chmod 0755 {} +
	fi
	for dir in etc/systemd usr/lib/systemd/system-preset usr/lib/tmpfiles.d etc/sysctl.d etc/modprobe.d; do
		[ -d "$TARGET_DIR/$dir" ] || continue
		find "$TARGET_DIR/$dir" -type f -exec chmod 0644 {} +
	done
}

# Cellbridge boot script for the Raspberry Pi 4 (boot.scr on the FAT partition).
# Board facts (partition numbers: genimage.cfg; the state size: fw_env.config):
setenv cb_devtype mmc
setenv cb_devnum 0
setenv cb_state_part 2
setenv cb_state_size 0x4000
setenv cb_root_a_part 3
setenv cb_root_b_part 4
# The PL011 UART on GPIO 14/15 once disable-bt has taken Bluetooth off it.
setenv cb_console "console=ttyAMA0,115200"
# The slot's device tree, with the overlays config.txt gives the firmware:
# the KMS driver, the official 7" DSI touch display, and the UART.
setenv cb_dtb bcm2711-rpi-4-b.dtb
setenv cb_overlays "vc4-kms-v3d-pi4 vc4-kms-dsi-7inch disable-bt"
# --- common to every board from here (tests/buildroot check the boards agree) ---
# A/B boot with RAUC's U-Boot boot counter. The boot state (BOOT_ORDER,
# BOOT_A_LEFT, BOOT_B_LEFT) lives in the raw partition cbstate, in U-Boot's
# environment format (CRC32 + data, CB_STATE_SIZE bytes): RAUC writes it with
# fw_setenv (/etc/fw_env.config) and this script reads and writes it with
# raw block I/O. No FAT file is written, and the boot partition never changes.
setenv BOOT_ORDER
setenv BOOT_A_LEFT
setenv BOOT_B_LEFT
part start ${cb_devtype} ${cb_devnum} ${cb_state_part} cb_state_blk
setexpr cb_state_blks ${cb_state_size} / 0x200
if ${cb_devtype} read ${loadaddr} ${cb_state_blk} ${cb_state_blks}; then
  env import -c ${loadaddr} ${cb_state_size} BOOT_ORDER BOOT_A_LEFT BOOT_B_LEFT
fi
test -n "${BOOT_ORDER}" || setenv BOOT_ORDER "A B"
test -n "${BOOT_A_LEFT}" || setenv BOOT_A_LEFT 3
test -n "${BOOT_B_LEFT}" || setenv BOOT_B_LEFT 3

setenv rootpart
for BOOT_SLOT in "${BOOT_ORDER}"; do
  if test "x${rootpart}" = "x"; then
    if test "x${BOOT_SLOT}" = "xA"; then
      if test ${BOOT_A_LEFT} -gt 0; then
        setexpr BOOT_A_LEFT ${BOOT_A_LEFT} - 1
        setenv rootpart ${cb_root_a_part}
        setenv raucslot A
      fi
    elif test "x${BOOT_SLOT}" = "xB"; then
      if test ${BOOT_B_LEFT} -gt 0; then
        setexpr BOOT_B_LEFT ${BOOT_B_LEFT} - 1
        setenv rootpart ${cb_root_b_part}
        setenv raucslot B
      fi
    fi
  fi
done

if test "x${rootpart}" = "x"; then
  echo "no slot has attempts left: resetting both"
  setenv BOOT_A_LEFT 3
  setenv BOOT_B_LEFT 3
fi
# One raw write of the state block per boot (the attempt just counted).
env export -c -s ${cb_state_size} ${loadaddr} BOOT_ORDER BOOT_A_LEFT BOOT_B_LEFT
${cb_devtype} write ${loadaddr} ${cb_state_blk} ${cb_state_blks}
test "x${rootpart}" = "x" && reset

# The slot holds the kernel, device tree and overlays (/boot): a bundle
# updates them together with the root file system.
part uuid ${cb_devtype} ${cb_devnum}:${rootpart} cb_rootuuid
setenv fdt_high 0xffffffffffffffff
setenv bootargs "${bootargs} ${cb_console} root=PARTUUID=${cb_rootuuid} rootfstype=squashfs ro rootwait rauc.slot=${raucslot} panic=5"
setenv cb_fdt ${fdtcontroladdr}
if test -n "${cb_dtb}"; then
  if load ${cb_devtype} ${cb_devnum}:${rootpart} ${fdt_addr_r} /boot/${cb_dtb}; then
    setenv cb_fdt ${fdt_addr_r}
    fdt addr ${fdt_addr_r}
    fdt resize 65536
    for overlay in ${cb_overlays}; do
      load ${cb_devtype} ${cb_devnum}:${rootpart} ${ramdisk_addr_r} /boot/overlays/${overlay}.dtbo && fdt apply ${ramdisk_addr_r}
    done
  fi
fi
if load ${cb_devtype} ${cb_devnum}:${rootpart} ${kernel_addr_r} /boot/Image; then
  booti ${kernel_addr_r} - ${cb_fdt}
fi
echo "slot ${raucslot} did not boot"
reset

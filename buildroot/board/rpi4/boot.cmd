# Cellbridge A/B boot for the Raspberry Pi 4 (RAUC U-Boot boot counter).
# BOOT_ORDER lists the slots to try; BOOT_x_LEFT counts the attempts a slot
# has left. RAUC resets the counter when the agent marks a boot good.
test -n "${BOOT_ORDER}" || setenv BOOT_ORDER "A B"
test -n "${BOOT_A_LEFT}" || setenv BOOT_A_LEFT 3
test -n "${BOOT_B_LEFT}" || setenv BOOT_B_LEFT 3

setenv rootpart
for BOOT_SLOT in "${BOOT_ORDER}"; do
  if test "x${rootpart}" = "x"; then
    if test "x${BOOT_SLOT}" = "xA"; then
      if test ${BOOT_A_LEFT} -gt 0; then
        setexpr BOOT_A_LEFT ${BOOT_A_LEFT} - 1
        setenv rootpart 2
        setenv raucslot A
      fi
    elif test "x${BOOT_SLOT}" = "xB"; then
      if test ${BOOT_B_LEFT} -gt 0; then
        setexpr BOOT_B_LEFT ${BOOT_B_LEFT} - 1
        setenv rootpart 3
        setenv raucslot B
      fi
    fi
  fi
done

if test "x${rootpart}" = "x"; then
  echo "no slot has attempts left: resetting both"
  setenv BOOT_A_LEFT 3
  setenv BOOT_B_LEFT 3
  saveenv
  reset
fi
saveenv

setenv bootargs "root=/dev/mmcblk0p${rootpart} rootfstype=squashfs ro rootwait rauc.slot=${raucslot} console=ttyS0,115200 panic=5"
if load mmc 0:${rootpart} ${kernel_addr_r} /boot/Image; then
  booti ${kernel_addr_r} - ${fdt_addr}
fi
echo "slot ${raucslot} did not boot"
reset

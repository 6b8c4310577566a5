"""Boot the test image in qemu-system-x86_64: the Debian kernel and initrd from the image (direct
kernel boot), the disk as virtio, the serial console into a file, QMP for screendumps.

A direct-kernel boot has no U-Boot: for the A/B boots the host plays boot.cmd's part
(`bootstate.boot_from`) and starts the guest with the chosen slot's root; the guest's reboot ends
QEMU (`-no-reboot`), and the host boots it again."""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.image.builder import PARTUUID

DONE = "CBTEST done"
ROOT_PARTITION = {"A": 3, "B": 4}  # cbroot-a, cbroot-b (genimage.cfg, boot.cmd)


@dataclass
class Guest:
    image: Path
    work: Path
    accel: str = field(default_factory=lambda: os.environ.get("CELLBRIDGE_IMAGE_ACCEL", "tcg"))
    process: subprocess.Popen[bytes] | None = None
    disk: Path | None = None
    """A writable disk (the A/B boots); None: the image's own, read-only (`snapshot=on`)."""
    slot: str = "A"
    """The root slot to boot (rauc.slot=, root=PARTUUID= of cbroot-a or cbroot-b)."""
    append: str = ""
    """More kernel arguments (the harness's cbtest.* steps)."""
    drives: tuple[Path, ...] = ()
    """More disks, read-only (the A/B boots' bundles)."""

    @property
    def serial(self) -> Path:
        return self.work / "serial.log"

    @property
    def qmp_path(self) -> Path:
        return self.work / "qmp.sock"

    def start(self) -> Guest:
        cmdline = (
            f"root=PARTUUID={PARTUUID.format(ROOT_PARTITION[self.slot])} rw rootwait "
            f"console=ttyS0,115200 panic=5 rauc.slot={self.slot} systemd.show_status=1 "
            # An emulated CPU on a shared host: udev may take minutes to announce the disks, and
            # systemd's 90 s defaults would fail the data mount and everything after it.
            "systemd.default_device_timeout_sec=900 systemd.default_timeout_start_sec=900 "
            # No login prompt on the serial console: agetty's vhangup() would cut the harness off it.
            "systemd.mask=serial-getty@ttyS0.service"
            + (f" {self.append}" if self.append else "")
        )
        disk = (f"file={self.disk},if=virtio,format=raw" if self.disk is not None
                else f"file={self.image / 'disk.img'},if=virtio,format=raw,snapshot=on")
        extra = [a for d in self.drives
                 for a in ("-drive", f"file={d},if=virtio,format=raw,readonly=on")]
        args = [
            "qemu-system-x86_64", "-machine", f"q35,accel={self.accel}", "-m", "2048", "-smp", "2",
            "-kernel", str(self.image / "vmlinuz"), "-initrd", str(self.image / "initrd.img"),
            "-append", cmdline,
            "-drive", disk, *extra,
            "-netdev", "user,id=n0", "-device", "virtio-net-pci,netdev=n0",
            "-vga", "std", "-display", "none",
            # A touch screen's stand-in: an absolute pointer the compositor reads with libinput.
            "-device", "virtio-tablet-pci",
            "-serial", f"file:{self.serial}",
            "-qmp", f"unix:{self.qmp_path},server=on,wait=off",
            "-no-reboot",
        ]
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL,
                                        stderr=(self.work / "qemu.err").open("wb"))
        return self

    def log(self) -> str:
        return self.serial.read_text(errors="replace") if self.serial.exists() else ""

    def wait_for(self, marker: str, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.log()
            if marker in text:
                return text
            assert self.process is not None
            if self.process.poll() is not None:
                raise AssertionError(f"QEMU ended before {marker!r}:\n{text[-4000:]}")
            time.sleep(2)
        raise AssertionError(f"no {marker!r} within {timeout:.0f}s:\n{self.log()[-4000:]}")

    def qmp(self, command: str, **arguments: object) -> dict[str, object]:
        with socket.socket(socket.AF_UNIX) as s:
            s.connect(str(self.qmp_path))
            stream = s.makefile("rw")
            json.loads(stream.readline())  # greeting
            for cmd, args in (("qmp_capabilities", {}), (command, arguments)):
                stream.write(json.dumps({"execute": cmd, "arguments": args}) + "\n")
                stream.flush()
                while True:
                    reply = json.loads(stream.readline())
                    if "return" in reply or "error" in reply:
                        break
            return reply  # type: ignore[no-any-return]

    def screendump(self, path: Path) -> Path:
        reply = self.qmp("screendump", filename=str(path))
        assert "return" in reply, reply
        return path

    def tap(self, x: int, y: int, width: int, height: int) -> None:
        """A tap at pixel (x, y) of the `width` x `height` screen: the pointer moves there, the
        button goes down and up (virtio-tablet's axes run 0 to 0x7fff across the screen)."""
        def axis(name: str, value: int, size: int) -> dict[str, object]:
            return {"type": "abs", "data": {"axis": name, "value": value * 0x7FFF // (size - 1)}}

        def button(down: bool) -> dict[str, object]:
            return {"type": "btn", "data": {"down": down, "button": "left"}}

        for events in ([axis("x", x, width), axis("y", y, height)], [button(True)],
                       [button(False)]):
            reply = self.qmp("input-send-event", events=events)
            assert "return" in reply, reply
            time.sleep(0.2)

    def wait_exit(self, timeout: float) -> str:
        """Until QEMU ends (the guest rebooted or powered off): the serial log."""
        assert self.process is not None
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(
                f"the guest did not reboot within {timeout:.0f}s:\n{self.log()[-4000:]}") from None
        return self.log()

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        with contextlib.suppress(OSError):
            self.qmp("quit")
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def findings(log: str) -> list[list[str]]:
    """The harness's `CBTEST key value…` lines, split into words."""
    return [line.split()[1:] for line in re.findall(r"^CBTEST .*$", log, re.M)]

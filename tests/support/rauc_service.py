"""The real RAUC service on a simulated tablet: `rauc service` on a private D-Bus bus, two
file-backed raw slots, and a simulated bootloader (tests/support/simulated_bootloader.py) as
RAUC's custom bootloader backend.

A "reboot" stops the service, lets the simulated bootloader choose and spend an attempt, and
starts the service again with `--override-boot-slot` set to the slot it chose; a new boot id
(the file `RaucSlots.boot_id` reads) marks the new boot.

The system.conf is buildroot/board/common/rauc/system.conf.in rendered as the image build does,
changed only where this machine cannot do what a tablet does: `bootloader=custom` (no U-Boot),
regular files as slots, paths in a temporary directory, and plain bundles (no device-mapper
here, so verity bundles cannot be installed).

Use `rauc_service` (the fixture) or `RaucService.create` inside `with`.
"""

from __future__ import annotations

import configparser
import contextlib
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from agent.updates import bootcount
from agent.updates.slots import RaucSlots
from tests.support.simulated_bootloader import BootState

BUS_NAME = "de.pengutronix.rauc"
START_TIMEOUT_S = 15.0
BOOTNAMES = {"rootfs.0": "A", "rootfs.1": "B"}

BUS_CONF = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path={socket}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <!-- a private bus only root can reach: RAUC may own its name, everyone may talk -->
    <allow user="root"/>
    <allow own="{name}"/>
    <allow send_destination="*"/>
    <allow receive_sender="*"/>
  </policy>
</busconfig>
"""

IMAGE_CONF = Path(__file__).parents[2] / "buildroot" / "board" / "common" / "rauc" / "system.conf.in"


def render_system_conf(compatible: str, slot_a: Path, slot_b: Path, keyring: Path,
                       backend: Path, directory: Path, bundle_formats: str | None) -> str:
    """The image's system.conf (rendered from its template as the image build does), changed
    only where this host differs: the custom bootloader, paths in `directory`, the keyring, and
    (unless `bundle_formats` is None) the bundle formats."""
    text = IMAGE_CONF.read_text()
    for placeholder, value in (("@BOARD@", "test"), ("@COMPATIBLE@", compatible),
                               ("@ROOTFS_A@", str(slot_a)), ("@ROOTFS_B@", str(slot_b))):
        text = text.replace(placeholder, value)
    conf = configparser.ConfigParser(interpolation=None, delimiters=("=",),
                                     comment_prefixes=("#",))
    conf.optionxform = str  # type: ignore[assignment,method-assign]  # RAUC keys are case-sensitive
    conf.read_string(text)
    conf["system"]["bootloader"] = "custom"
    conf["system"]["mountprefix"] = str(directory / "mnt")
    conf["system"]["data-directory"] = str(directory / "data")
    if bundle_formats is not None:
        conf["system"]["bundle-formats"] = bundle_formats
    conf["keyring"]["path"] = str(keyring)
    conf["handlers"] = {"bootloader-custom-backend": str(backend)}
    out = io.StringIO()
    out.write(f"# {IMAGE_CONF.name} for a test host (tests/support/rauc_service.py)\n")
    conf.write(out, space_around_delimiters=False)
    return out.getvalue()


def unavailable() -> str | None:
    """Why the real RAUC service cannot run here, or None."""
    if os.geteuid() != 0:
        return "the RAUC service mounts bundles through loop devices: needs root"
    if not Path("/dev/loop-control").exists():
        return "no loop devices (/dev/loop-control): RAUC cannot mount a bundle"
    for tool in ("rauc", "dbus-daemon", "mksquashfs", "unshare"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    return None


class RaucService:
    """A simulated tablet whose A/B machinery is the real `rauc service`."""

    def __init__(self, directory: Path, factory_version: str) -> None:
        self.dir = Path(directory)
        self.factory_version = factory_version
        self.conf = self.dir / "system.conf"
        self.state_file = self.dir / "bootloader.json"
        self.hang_file = self.dir / "bootloader.json.hang"  # see simulated_bootloader.py
        self.hung_file = self.dir / "bootloader.json.hung"
        self.boot_id_file = self.dir / "boot_id"
        self.os_release = self.dir / "os-release"
        self.reboot_flag = self.dir / "reboot-requested"
        self.mount_prefix = self.dir / "mnt"
        self.log = self.dir / "service.log"
        self._bus_dir = Path(tempfile.mkdtemp(prefix="rauc-bus-"))  # socket paths are short
        self._bus: subprocess.Popen[str] | None = None
        self._service: subprocess.Popen[bytes] | None = None
        self.bus_address = ""

    # ---- setup and teardown
    @classmethod
    def create(cls, directory: Path, keyring: Path, compatible: str, factory_image: Path,
               factory_version: str = "1.0.0", slot_size: int = 1 << 20,
               attempts: int = 3, bundle_formats: str | None = "plain") -> RaucService:
        """A fresh tablet: the factory image in slot A (booted, good), slot B zeroed and bad.
        `bundle_formats=None` keeps the image's setting (verity only: nothing installs here)."""
        service = cls(directory, factory_version)
        d = service.dir
        for sub in ("slots", "data", "mnt"):
            (d / sub).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(factory_image, service.slot_file("A"))
        for slot in ("A", "B"):
            with open(service.slot_file(slot), "ab") as f:
                f.truncate(max(slot_size, f.tell()))
        backend = d / "bootloader-backend"
        backend.write_text(f'#!/bin/sh\nexec "{sys.executable}" -I -S '
                           f'"{Path(__file__).with_name("simulated_bootloader.py")}" '
                           f'"{service.state_file}" "$@"\n')
        backend.chmod(0o755)
        BootState(attempts=attempts, left={"A": attempts, "B": 0}).save(service.state_file)
        service.conf.write_text(render_system_conf(
            compatible, service.slot_file("A"), service.slot_file("B"), keyring, backend, d,
            bundle_formats))
        try:
            service._power_on()
        except BaseException:
            service.close()
            raise
        return service

    def __enter__(self) -> RaucService:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop the service and the bus; unmount and detach whatever RAUC left behind."""
        if self.hung_file.exists():  # frozen at a power-cut point: SIGTERM would wait for it
            self.power_cut()
        self.stop()
        if self._bus is not None:
            _terminate(self._bus)
            self._bus = None
        _unmount_under(self.mount_prefix)
        shutil.rmtree(self._bus_dir, ignore_errors=True)

    # ---- the service
    def _start_bus(self) -> None:
        conf = self._bus_dir / "bus.conf"
        conf.write_text(BUS_CONF.format(socket=self._bus_dir / "bus", name=BUS_NAME))
        self._bus = subprocess.Popen(
            ["dbus-daemon", f"--config-file={conf}", "--nofork", "--print-address"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
            text=True)
        assert self._bus.stdout is not None
        self.bus_address = self._bus.stdout.readline().strip()
        if not self.bus_address:
            raise RuntimeError(f"dbus-daemon did not start (exit {self._bus.poll()})")

    def start(self) -> None:
        """`rauc service`, booted from the slot the simulated bootloader last chose."""
        if self._bus is None:
            self._start_bus()
        booted = self.bootloader().booted
        with open(self.log, "ab") as log:
            log.write(f"---- boot {self.bootloader().boots}: slot {booted}\n".encode())
            self._service = subprocess.Popen(
                # on the tablet: the bundle's install-check hook reads its /etc/os-release
                self.on_tablet(["rauc", "service", f"--conf={self.conf}",
                                f"--override-boot-slot={booted}"]),
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=self.env,
                start_new_session=True)  # its own process group: with the backends it runs
        deadline = time.monotonic() + START_TIMEOUT_S
        while self.rauc("status", "--output-format=json").returncode != 0:
            if self._service.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"rauc service did not start: {self.log.read_text()}")
            time.sleep(0.05)

    def stop(self) -> None:
        if self._service is not None:
            _terminate(self._service)
            _kill_group(self._service.pid)
            self._service = None

    def hang_at(self, *request: str) -> None:
        """Freeze RAUC when it asks the bootloader for `request` (e.g. "set-state", "B",
        "bad"), once the bootloader has done it: a point to cut the power at."""
        self.hang_file.write_text(" ".join(request))

    def wait_hung(self, driver: subprocess.Popen[Any] | None = None,
                  timeout_s: float = 60.0) -> None:
        """Wait until RAUC froze at the `hang_at` point (or `driver`, the process meant to
        lead it there, exited first: an error)."""
        deadline = time.monotonic() + timeout_s
        while not self.hung_file.exists():
            if driver is not None and driver.poll() is not None:
                raise RuntimeError(f"exited with {driver.returncode} before the power-cut point")
            if time.monotonic() > deadline:
                raise TimeoutError(f"RAUC never reached the power-cut point: {self.log.read_text()}")
            time.sleep(0.02)

    def power_cut(self) -> None:
        """kill -9 of the service and everything it runs; the next `reboot()` powers on."""
        if self._service is not None:
            _kill_group(self._service.pid)
            self._service.wait()
            self._service = None
        _unmount_under(self.mount_prefix)  # a bundle RAUC had mounted is gone with the power
        self.hang_file.unlink(missing_ok=True)
        self.hung_file.unlink(missing_ok=True)

    def _power_on(self) -> None:
        state = self.bootloader()
        self.boot_id_file.write_text(state.boot_id + "\n")
        # The running system's os-release: the factory image knows its version; a slot RAUC
        # wrote has its version in RAUC's status instead.
        version = f'VERSION_ID="{self.factory_version}"\n' if state.booted == "A" else ""
        self.os_release.write_text("ID=cellbridge\n" + version)
        self.reboot_flag.unlink(missing_ok=True)
        self.start()

    def reboot(self) -> str:
        """Power cycle: the simulated bootloader chooses a slot and spends an attempt, and the
        service comes back booted from it. Returns the booted slot's boot name. (The bus
        stays up: its address is what `RaucSlots` instances hold.)"""
        self.stop()
        _unmount_under(self.mount_prefix)
        state = self.bootloader()
        chosen = bootcount.boot(state)
        state.save(self.state_file)
        self._power_on()
        return chosen

    # ---- what tests look at
    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "DBUS_SYSTEM_BUS_ADDRESS": self.bus_address}

    def slots(self) -> RaucSlots:
        """The production backend, pointed at this service."""
        return RaucSlots(conf=self.conf, bus_address=self.bus_address,
                         reboot_command=["touch", str(self.reboot_flag)],
                         boot_id_file=self.boot_id_file, os_release=self.os_release)

    def on_tablet(self, argv: list[str]) -> list[str]:
        """`argv` run as on this tablet: in a private mount namespace where /etc/os-release and
        the kernel's boot id are this tablet's (run it with `env`, for the bus address)."""
        script = ('mount --bind "$1" /etc/os-release && '
                  'mount --bind "$2" /proc/sys/kernel/random/boot_id && shift 2 && exec "$@"')
        return ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh",
                str(self.os_release), str(self.boot_id_file), *argv]

    def rauc(self, *args: str) -> subprocess.CompletedProcess[str]:
        """The `rauc` client against this service."""
        return subprocess.run(["rauc", f"--conf={self.conf}", *args], capture_output=True,
                              text=True, env=self.env, stdin=subprocess.DEVNULL, timeout=120,
                              check=False)

    def status(self) -> dict[str, Any]:
        """`rauc status --detailed` as RAUC reports it, slots keyed by boot name."""
        result = self.rauc("status", "--detailed", "--output-format=json")
        assert result.returncode == 0, result.stderr
        data: dict[str, Any] = json.loads(result.stdout)
        data["by_bootname"] = {slot["bootname"]: dict(slot, name=name)
                               for entry in data["slots"] for name, slot in entry.items()}
        return data

    def bootloader(self) -> BootState:
        return BootState.load(self.state_file)

    def slot_file(self, bootname: str) -> Path:
        return self.dir / "slots" / f"rootfs-{bootname}.img"

    def slot_bytes(self, bootname: str) -> bytes:
        return self.slot_file(bootname).read_bytes()

    def slot_is_blank(self, bootname: str) -> bool:
        """Nothing was ever written to the slot (it is all zeros, as created)."""
        data = self.slot_bytes(bootname)
        return data.count(0) == len(data)

    @property
    def reboot_requested(self) -> bool:
        return self.reboot_flag.exists()


def _terminate(process: subprocess.Popen[Any]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    for stream in (process.stdout, process.stderr):
        if stream is not None:
            stream.close()


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)


def _unmount_under(prefix: Path) -> None:
    """Unmount what RAUC left mounted below `prefix` (deepest first) and free its loop devices."""
    prefix_s = str(prefix.resolve())
    mounts: list[tuple[str, str]] = []
    with open("/proc/self/mounts") as f:
        for line in f:
            source, target = line.split()[:2]
            target = target.replace("\\040", " ")
            if target == prefix_s or target.startswith(prefix_s + "/"):
                mounts.append((source, target))
    for source, target in sorted(mounts, key=lambda m: -len(m[1])):
        subprocess.run(["umount", target], capture_output=True, check=False)
        if source.startswith("/dev/loop"):
            subprocess.run(["losetup", "-d", source], capture_output=True, check=False)


RaucServiceFactory = Callable[..., RaucService]


@pytest.fixture
def rauc_service(tmp_path: Path) -> Iterator[RaucServiceFactory]:
    """A factory of simulated tablets running the real RAUC service, all stopped and cleaned up
    after the test, whatever it did. Skips where this machine cannot run RAUC's service."""
    reason = unavailable()
    if reason:
        pytest.skip(reason)
    made: list[RaucService] = []

    def make(keyring: Path, compatible: str, factory_image: Path, **kwargs: Any) -> RaucService:
        directory = tmp_path / f"rauc-{len(made)}-{uuid.uuid4().hex[:6]}"
        service = RaucService.create(directory, keyring, compatible, factory_image, **kwargs)
        made.append(service)
        return service

    try:
        yield make
    finally:
        for service in made:
            service.close()

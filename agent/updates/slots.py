"""A/B slot backends: `RaucSlots` on a tablet, `FileSlots` (file-backed, with a simulated
bootloader) everywhere else, so every step of an update runs in tests.

Both check the bundle's RAUC signature against the estate release CA with real `rauc` before a
byte reaches a slot. The simulated bootloader follows RAUC's bootchooser model: a boot order,
and per slot a count of attempts left; booting a slot spends one; `mark-good` refills it,
`mark-bad` empties it; the first slot in order with attempts left boots.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from agent.updates import bootcount
from common.files import fsync_dir, write_atomic
from wire.tuf_layout import ReleaseMeta

RAUC_TIMEOUT_S = 120.0
INSTALL_TIMEOUT_S = 1800.0


class SlotError(Exception):
    """The slot backend could not do what was asked (the tool failed, a file is unusable)."""


class BundleRefused(SlotError):
    """RAUC refuses the bundle: bad signature, untrusted signer, wrong compatible or version."""


class RaucFailed(SlotError):
    """A `rauc` client call exited non-zero (`returncode` says how: RAUC's client exits 1 when
    the service ran the request and it failed, other codes when it could not ask at all)."""

    def __init__(self, message: str, returncode: int) -> None:
        super().__init__(message)
        self.returncode = returncode


@dataclass(frozen=True)
class BundleInfo:
    compatible: str
    version: str


def rauc_info(bundle: Path, keyring: Path | None, conf: Path | None = None) -> BundleInfo:
    """Verify a bundle's CMS signature with `rauc info` (against `keyring`, or the keyring of
    `conf`, or of the system's system.conf)."""
    cmd = ["rauc", "info", "--output-format=json"]
    if keyring is not None:
        cmd.append(f"--keyring={keyring}")
    if conf is not None:
        cmd.append(f"--conf={conf}")
    cmd.append(str(bundle))
    try:
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=RAUC_TIMEOUT_S,
                                stdin=subprocess.DEVNULL, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise SlotError(f"rauc info could not run: {exc}") from exc
    if result.returncode != 0:
        raise BundleRefused(f"rauc refused the bundle: {last_line(result.stderr)}")
    try:
        data = json.loads(result.stdout)
        return BundleInfo(compatible=str(data["compatible"]), version=str(data["version"]))
    except (ValueError, KeyError, TypeError) as exc:
        raise SlotError(f"rauc info printed something unexpected: {exc}") from exc


def check_bundle(info: BundleInfo, expected: ReleaseMeta) -> None:
    if info.compatible != expected.compatible:
        raise BundleRefused(
            f"bundle is for {info.compatible!r}, this tablet is {expected.compatible!r}")
    if info.version != expected.version:
        raise BundleRefused(
            f"bundle says version {info.version}, TUF signed {expected.version}")


def last_line(text: str) -> str:
    """The last non-empty line of a tool's output: where `rauc` says why it failed."""
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "(no output)"


class SlotBackend(Protocol):
    """What the update engine needs from the A/B machinery."""

    def booted(self) -> str: ...
    def other(self) -> str: ...
    def boot_id(self) -> str: ...
    def version(self, slot: str) -> str | None: ...
    def is_good(self, slot: str) -> bool:
        """The bootloader would boot `slot`: attempts left, not marked bad (RAUC: `good`)."""
    def install(self, bundle: Path, expected: ReleaseMeta) -> None:
        """Verify `bundle` (signature, compatible, version), then write it to the inactive slot,
        which stays inactive. Raises BundleRefused (nothing written) or SlotError. A backend
        may take the bundle file itself (the engine drops it after the install anyway)."""
    def activate(self, slot: str) -> None:
        """Make `slot` the next to boot, on trial (RAUC: `mark-active`)."""
    def mark_good(self) -> None: ...
    def mark_bad(self, slot: str) -> None: ...
    def reboot(self) -> None: ...


# ---------------------------------------------------------------- file-backed slots


class SlotMeta(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: str
    compatible: str
    sha256: str = ""


class Bootloader(BaseModel):
    model_config = ConfigDict(extra="forbid")
    order: list[str] = Field(default_factory=lambda: ["A", "B"])
    left: dict[str, int] = Field(default_factory=lambda: {"A": 3, "B": 0})
    bad: list[str] = Field(default_factory=list)
    booted: str = "A"
    boot_id: str = Field(default_factory=lambda: uuid.uuid4().hex)
    boots: int = 1
    installs: int = 0
    reboot_requested: bool = False


class FileSlots:
    """Two slot files and a bootloader state file in one directory.

    `power_cycle()` is the simulated bootloader: tests call it after a kill -9 (a power cut) or
    when the engine asked for a reboot.
    """

    SLOTS = ("A", "B")

    def __init__(self, directory: Path, keyring: Path, attempts: int = 3) -> None:
        self.dir = Path(directory)
        self.keyring = Path(keyring)
        self.attempts = attempts

    # ---- setup
    @classmethod
    def create(cls, directory: Path, keyring: Path, factory_image: Path, version: str,
               compatible: str, attempts: int = 3) -> FileSlots:
        """A fresh tablet: the factory image in slot A (good), slot B empty."""
        slots = cls(directory, keyring, attempts)
        slots.dir.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(factory_image, slots.image("A"))
        slots._write_meta("A", SlotMeta(version=version, compatible=compatible,
                                        sha256=_sha256(slots.image("A"))))
        slots.image("B").touch()
        slots._save(Bootloader(left={"A": attempts, "B": 0}))
        return slots

    def image(self, slot: str) -> Path:
        return self.dir / f"slot-{slot}.img"

    def _meta_path(self, slot: str) -> Path:
        return self.dir / f"slot-{slot}.json"

    def meta(self, slot: str) -> SlotMeta | None:
        try:
            return SlotMeta.model_validate_json(self._meta_path(slot).read_bytes())
        except (OSError, ValidationError):
            return None

    def _write_meta(self, slot: str, meta: SlotMeta) -> None:
        write_atomic(self._meta_path(slot), meta.model_dump_json().encode())

    def _drop_meta(self, slot: str) -> None:
        self._meta_path(slot).unlink(missing_ok=True)
        fsync_dir(self.dir)

    def bootloader(self) -> Bootloader:
        try:
            return Bootloader.model_validate_json((self.dir / "bootloader.json").read_bytes())
        except (OSError, ValidationError) as exc:
            raise SlotError(f"bootloader state unreadable: {exc}") from exc

    def _save(self, state: Bootloader) -> None:
        write_atomic(self.dir / "bootloader.json", state.model_dump_json().encode())

    # ---- SlotBackend
    def booted(self) -> str:
        return self.bootloader().booted

    def other(self) -> str:
        booted = self.booted()
        return next(s for s in self.SLOTS if s != booted)

    def boot_id(self) -> str:
        return self.bootloader().boot_id

    def version(self, slot: str) -> str | None:
        meta = self.meta(slot)
        return meta.version if meta else None

    def is_good(self, slot: str) -> bool:
        return bootcount.is_good(self.bootloader(), slot)

    def install(self, bundle: Path, expected: ReleaseMeta) -> None:
        """Check the bundle with `rauc info`, then make it the inactive slot's image. A slot
        here is a file: a bundle on the same file system becomes the slot by a rename once it
        is on storage (written once, like RAUC streaming into a partition; the storage writes
        overlap the signature check), otherwise it is copied."""
        same_fs = _same_file_system(bundle, self.dir)
        with ThreadPoolExecutor(1, thread_name_prefix="slot-fsync") as flusher:
            flushed = flusher.submit(_fsync_file, bundle) if same_fs else None
            check_bundle(rauc_info(bundle, self.keyring), expected)
            if flushed is not None:
                try:
                    flushed.result()
                except OSError as exc:
                    raise SlotError(f"storing the bundle failed: {exc}") from exc
        target = self.other()
        # Like RAUC: the slot is marked bad before the first byte is written, active after the
        # last one is on disk. A power cut in between leaves a slot that never boots.
        self.mark_bad(target)
        self._drop_meta(target)
        try:
            if same_fs:
                os.replace(bundle, self.image(target))
                fsync_dir(self.dir)
            else:
                _copy_durably(bundle, self.image(target))
        except OSError as exc:
            raise SlotError(f"writing slot {target} failed: {exc}") from exc
        self._write_meta(target, SlotMeta(version=expected.version,
                                          compatible=expected.compatible))
        state = self.bootloader()
        state.installs += 1
        self._save(state)

    def activate(self, slot: str) -> None:
        state = self.bootloader()
        bootcount.activate(state, slot, self.attempts)
        self._save(state)

    def mark_good(self) -> None:
        state = self.bootloader()
        bootcount.mark_good(state, state.booted, self.attempts)
        self._save(state)

    def mark_bad(self, slot: str) -> None:
        state = self.bootloader()
        bootcount.mark_bad(state, slot)
        self._save(state)

    def reboot(self) -> None:
        state = self.bootloader()
        state.reboot_requested = True
        self._save(state)

    # ---- the simulated bootloader
    def power_cycle(self) -> str:
        """Boot (`bootcount.boot`) among the slots holding an image; returns the booted slot."""
        state = self.bootloader()
        chosen = bootcount.boot(state, bootable=lambda slot: self.meta(slot) is not None)
        state.reboot_requested = False
        self._save(state)
        return chosen


COPY_PIECE = 32 * 1024 * 1024


def _same_file_system(path: Path, directory: Path) -> bool:
    try:
        return os.stat(path).st_dev == os.stat(directory).st_dev
    except OSError:
        return False


def _fsync_file(path: Path) -> None:
    """Put a file's bytes on storage, then let them leave the page cache (they are the slot's
    now, not the running system's)."""
    with open(path, "rb") as f:
        os.fsync(f.fileno())
        os.posix_fadvise(f.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)


def _copy_durably(source: Path, target: Path) -> None:
    """Copy `source` over `target` in the kernel (constant memory), then fsync it.

    copy_file_range measured ~25% faster than shutil's sendfile here. After each piece,
    POSIX_FADV_DONTNEED starts its writeback at once, so storage works while the copy goes on
    and the final fsync waits for the tail only; the slot's pages then leave the page cache
    instead of pushing out the running system's. Where the kernel or the filesystems cannot
    copy_file_range, shutil's copy (sendfile) does.
    """
    try:
        with open(source, "rb") as src, open(target, "wb") as dst:
            size = os.fstat(src.fileno()).st_size
            done = 0
            while done < size:
                copied = os.copy_file_range(src.fileno(), dst.fileno(),
                                            min(size - done, COPY_PIECE))
                if copied == 0:
                    raise SlotError(f"{source} shrank while it was copied")
                os.posix_fadvise(dst.fileno(), done, copied, os.POSIX_FADV_DONTNEED)
                done += copied
    except OSError as exc:
        if exc.errno not in (errno.EXDEV, errno.ENOSYS, errno.EOPNOTSUPP, errno.EINVAL):
            raise
        shutil.copyfile(source, target)
    with open(target, "rb+") as written:
        os.fsync(written.fileno())


def _sha256(path: Path) -> str:
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1024 * 1024):
            h.update(chunk)
    return h.hexdigest()


# ---------------------------------------------------------------- RAUC on the tablet


class RaucSlots:
    """The real A/B machinery: `rauc install`, `rauc status`, `rauc status mark-good`.

    Slot names are RAUC's boot names (e.g. "A", "B" of the rootfs slot class). The image's
    system.conf must say `activate-installed=false`: the switch waits for the staff window, so
    the engine activates the slot itself when it reboots.

    `conf` (None: RAUC's default /etc/rauc/system.conf) is what `rauc info` checks signatures
    against; `bus_address` (None: the system bus) is where `rauc service` listens; the booted
    slot RAUC never wrote (the factory image) has the version `os_release` says. The defaults
    are a tablet's; tests/support/rauc_service.py points them at a simulated one.
    """

    def __init__(
        self,
        slot_class: str = "rootfs",
        rauc: str = "rauc",
        conf: Path | None = None,
        bus_address: str | None = None,
        reboot_command: Sequence[str] = ("systemctl", "reboot"),
        boot_id_file: Path = Path("/proc/sys/kernel/random/boot_id"),
        os_release: Path = Path("/etc/os-release"),
    ) -> None:
        self.slot_class = slot_class
        self.rauc = rauc
        self.conf = conf
        self.reboot_command = list(reboot_command)
        self.boot_id_file = Path(boot_id_file)
        self.os_release = Path(os_release)
        self.env = dict(os.environ)
        if bus_address is not None:
            self.env["DBUS_SYSTEM_BUS_ADDRESS"] = bus_address

    def _run(self, *args: str, timeout: float = RAUC_TIMEOUT_S) -> str:
        cmd = [self.rauc, *args]
        if self.conf is not None:
            cmd.insert(1, f"--conf={self.conf}")
        try:
            result = subprocess.run(cmd, capture_output=True, text=True, env=self.env,
                                    timeout=timeout, stdin=subprocess.DEVNULL, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise SlotError(f"rauc {args[0]} could not run: {exc}") from exc
        if result.returncode != 0:
            raise RaucFailed(f"rauc {args[0]} failed: {_rauc_error(result)}", result.returncode)
        return result.stdout

    def _status(self) -> dict[str, Any]:
        try:
            data = json.loads(self._run("status", "--detailed", "--output-format=json"))
        except ValueError as exc:
            raise SlotError(f"rauc status printed something unexpected: {exc}") from exc
        if not isinstance(data, dict) or not isinstance(data.get("slots"), list):
            raise SlotError("rauc status printed something unexpected")
        return data

    def _slots(self, status: dict[str, Any] | None = None) -> dict[str, dict[str, Any]]:
        """bootname -> slot status (with its RAUC slot name), for our slot class."""
        found: dict[str, dict[str, Any]] = {}
        for entry in (status or self._status())["slots"]:
            if not isinstance(entry, dict):
                raise SlotError("rauc status printed something unexpected")
            for name, slot in entry.items():
                if (str(name).startswith(f"{self.slot_class}.") and isinstance(slot, dict)
                        and slot.get("bootname")):
                    found[str(slot["bootname"])] = dict(slot, name=name)
        return found

    def _name(self, slot: str) -> str:
        name = self._slots().get(slot, {}).get("name")
        if not name:
            raise SlotError(f"no {self.slot_class} slot with boot name {slot!r}")
        return str(name)

    def booted(self) -> str:
        status = self._status()
        booted = status.get("booted")
        if not isinstance(booted, str) or booted not in self._slots(status):
            raise SlotError(f"RAUC booted from {booted!r}, not a {self.slot_class} slot")
        return booted

    def other(self) -> str:
        status = self._status()
        booted = status.get("booted")
        others = [b for b in self._slots(status) if b != booted]
        if len(others) != 1:
            raise SlotError(f"expected one other {self.slot_class} slot, found {others}")
        return others[0]

    def boot_id(self) -> str:
        try:
            return self.boot_id_file.read_text().strip()
        except OSError as exc:
            raise SlotError(f"boot id unreadable: {exc}") from exc

    def version(self, slot: str) -> str | None:
        """The version of the last bundle RAUC installed in `slot`; for the booted slot that
        RAUC never wrote (the factory image), the running system's VERSION_ID."""
        status = self._status()
        slot_status = self._slots(status).get(slot, {}).get("slot_status")
        bundle = slot_status.get("bundle") if isinstance(slot_status, dict) else None
        if isinstance(bundle, dict) and bundle.get("version"):
            return str(bundle["version"])
        if slot == status.get("booted"):
            return _os_release_version(self.os_release)
        return None

    def is_good(self, slot: str) -> bool:
        """RAUC's `boot_status` of `slot` (its bootloader's word); unknown slot: SlotError."""
        slots = self._slots()
        if slot not in slots:
            raise SlotError(f"no {self.slot_class} slot with boot name {slot!r}")
        return slots[slot].get("boot_status") == "good"

    def install(self, bundle: Path, expected: ReleaseMeta) -> None:
        check_bundle(rauc_info(bundle, None, self.conf), expected)  # system.conf's keyring
        try:
            self._run("install", str(bundle), timeout=INSTALL_TIMEOUT_S)
        except RaucFailed as exc:
            if exc.returncode == 1:  # the service ran the install and refused or failed it
                raise BundleRefused(str(exc)) from exc
            raise  # the service could not be asked (D-Bus, not running): try again later

    def activate(self, slot: str) -> None:
        self._run("status", "mark-active", self._name(slot))

    def mark_good(self) -> None:
        self._run("status", "mark-good", "booted")

    def mark_bad(self, slot: str) -> None:
        self._run("status", "mark-bad", self._name(slot))

    def reboot(self) -> None:
        try:
            result = subprocess.run(self.reboot_command, capture_output=True, text=True,
                                    timeout=30, stdin=subprocess.DEVNULL, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise SlotError(f"reboot could not run: {exc}") from exc
        if result.returncode != 0:
            raise SlotError(f"reboot failed: {last_line(result.stderr)}")


def _rauc_error(result: subprocess.CompletedProcess[str]) -> str:
    """Why a `rauc` client call failed: `rauc install` prints the service's reason on stdout
    ("LastError: ..."); stderr's last line then only says that it failed. A D-Bus failure is
    the reason on stderr ("Failed GDBus.Error:...: Already processing a different method")."""
    reasons = [line.removeprefix("LastError:").strip() for line in result.stdout.splitlines()
               if line.startswith("LastError:")]
    if reasons:
        return reasons[-1]
    dbus = [line.split(": ", 1)[-1].strip() for line in result.stderr.splitlines()
            if "GDBus.Error" in line]
    last = last_line(result.stderr)
    return f"{dbus[-1]} ({last})" if dbus else last


def _os_release_version(path: Path) -> str | None:
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        key, _, value = line.partition("=")
        if key.strip() == "VERSION_ID" and value.strip().strip("\"'"):
            return value.strip().strip("\"'")
    return None

"""The tablet side of enrolment (`cellbridge agent enrol-request`): make the tablet's key pair on
the tablet and write a CSR for IT to sign. The private key never leaves the tablet."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization

from provisioning import pki
from provisioning.files import PRIVATE, PUBLIC, write_atomic
from wire.topics import check_device_id


@dataclass(frozen=True, slots=True)
class RequestResult:
    key_path: Path
    csr_path: Path
    reused_key: bool


def make_request(
    device_id: str, key_path: Path, csr_path: Path, hardware_serial: str | None = None
) -> RequestResult:
    """Write a CSR for `device_id`. An existing key at `key_path` is reused (asking again must not
    orphan a certificate already issued for it); otherwise a new EC P-256 key is made, 0600."""
    check_device_id(device_id)
    reused = key_path.exists()
    if reused:
        key = pki.load_key(key_path.read_bytes(), None, f"tablet key {key_path}")
    else:
        key = pki.new_key()
    csr = pki.make_csr(key, device_id, hardware_serial)
    if not reused:
        write_atomic(key_path, pki.key_pem(key), PRIVATE)
    write_atomic(csr_path, csr.public_bytes(serialization.Encoding.PEM), PUBLIC)
    return RequestResult(key_path, csr_path, reused)


SERIAL_SOURCES = (
    Path("/sys/firmware/devicetree/base/serial-number"),
    Path("/proc/device-tree/serial-number"),
)


def hardware_serial() -> str | None:
    """The board's serial number (a Pi's device tree), when there is one."""
    for source in SERIAL_SOURCES:
        try:
            value = source.read_bytes().strip(b"\x00\n ").decode("ascii", "replace")
        except OSError:
            continue
        if value:
            return value[:64]
    return None

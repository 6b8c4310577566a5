"""The tablet side of enrolment (`cellbridge agent enrol-request`): make the tablet's key pair on
the tablet and write a CSR (`wire.csr`) for IT to sign. The private key never leaves the tablet."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import click
from cryptography.hazmat.primitives import serialization

from common.files import PRIVATE, PUBLIC, write_atomic
from wire import certs
from wire.csr import make_csr
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
        key = certs.load_key(key_path.read_bytes(), None, f"tablet key {key_path}")
    else:
        key = certs.new_key()
    csr = make_csr(key, device_id, hardware_serial)
    if not reused:
        write_atomic(key_path, certs.key_pem(key), PRIVATE)
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


@click.command("enrol-request")
@click.option("--device-id", required=True, help="This tablet's id (its certificate CN).")
@click.option(
    "--key",
    "key_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("/var/lib/cellbridge/identity/tablet.key"),
    show_default=True,
    help="Where the tablet's private key lives (made here if absent, 0600; never leaves).",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to write the CSR [DEVICE_ID.csr].",
)
@click.option("--serial", help="Hardware serial number [from the device tree, if any].")
def enrol_request(device_id: str, key_path: Path, out: Path | None, serial: str | None) -> None:
    """Make this tablet's key pair and a CSR for IT to sign (`provision enrol --csr`)."""
    try:
        result = make_request(
            device_id, key_path, out or Path(f"{device_id}.csr"), serial or hardware_serial()
        )
    except (ValueError, certs.PkiError) as exc:
        raise click.ClickException(str(exc)) from exc
    except OSError as exc:
        hint = ""
        if exc.filename is not None and Path(exc.filename) in (key_path, *key_path.parents):
            hint = (": give --key FILE where you can write (the default is the tablet's own "
                    "identity directory), e.g. --key ./tablet.key")
        raise click.ClickException(f"{exc.filename}: {exc.strerror}{hint}") from exc
    kept = "existing key kept" if result.reused_key else "new key made"
    click.echo(f"CSR written to {result.csr_path} ({kept}: {result.key_path})")

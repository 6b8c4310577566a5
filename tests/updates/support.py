"""Helpers for the update tests: a TLS identity for the repository server, an estate with
releases, and a tablet (file-backed slots + engine) pointed at a repository URL."""

from __future__ import annotations

import datetime
import ipaddress
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import tomli_w
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from agent.updates.config import UpdatesConfig, build_engine
from agent.updates.engine import UpdateEngine
from agent.updates.slots import FileSlots
from agent.updates.states import State
from agent.updates.store import UpdateRecord

COMPATIBLE = "cellbridge-test-tablet"


@dataclass(frozen=True)
class TlsFiles:
    ca: Path
    cert: Path
    key: Path


def make_tls(directory: Path) -> TlsFiles:
    """A throwaway CA and a server certificate for 127.0.0.1 (the PKI issue makes real ones)."""
    directory.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test repo CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - datetime.timedelta(hours=1))
          .not_valid_after(now + datetime.timedelta(days=2))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
            .issuer_name(ca_name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    files = TlsFiles(directory / "ca.pem", directory / "server.pem", directory / "server.key")
    files.ca.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    files.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    files.key.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                            serialization.PrivateFormat.PKCS8,
                                            serialization.NoEncryption()))
    return files


def make_image(path: Path, size: int, seed: int) -> Path:
    """A pseudo-random rootfs image of `size` bytes (distinct per seed)."""
    import random

    rng = random.Random(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        left = size
        while left:
            n = min(left, 1 << 20)
            f.write(rng.randbytes(n))
            left -= n
    return path


class PowerCut(Exception):
    """Raised from the engine's report hook: the process dies right after a state is saved."""


def cut_power_in(state: State) -> Callable[[UpdateRecord], None]:
    """An engine report hook that cuts the power once `state` is saved."""
    def report(record: UpdateRecord) -> None:
        if record.state == state:
            raise PowerCut(state)
    return report


@dataclass
class Tablet:
    """A simulated tablet: its slots, its image's TUF root and release keyring, its work dir."""

    dir: Path
    slots: FileSlots
    config: UpdatesConfig
    config_file: Path

    def engine(self, **kwargs: object) -> UpdateEngine:
        kwargs.setdefault("now", lambda: datetime.datetime.now(datetime.UTC))
        kwargs.setdefault("health", lambda: True)
        kwargs["slots"] = self.slots
        return build_engine(self.config, **kwargs)  # type: ignore[arg-type]

    def record_unchanged(self) -> None:
        """Nothing was written to a slot: slot B is empty and A still boots first."""
        assert self.slots.image("B").stat().st_size == 0
        assert self.slots.meta("B") is None
        boot = self.slots.bootloader()
        assert boot.installs == 0
        assert boot.left["B"] == 0
        assert self.slots.booted() == "A"


def make_tablet(directory: Path, root: Path, keyring: Path, ca: Path, url: str,
                factory_version: str = "1.0.0", **extra: object) -> Tablet:
    directory.mkdir(parents=True, exist_ok=True)
    image_root = directory / "image-root.json"
    image_root.write_bytes(root.read_bytes())
    factory = make_image(directory / "factory.img", 4096, seed=1)
    slots = FileSlots.create(directory / "slots", keyring, factory, factory_version, COMPATIBLE)
    values: dict[str, object] = {
        "repository_url": url, "ca_file": str(ca), "root_file": str(image_root),
        "keyring": str(keyring), "compatible": COMPATIBLE, "work_dir": str(directory / "work"),
        "slots": "file", "file_slots_dir": str(directory / "slots"),
        "not_before": 1_700_000_000, **extra,
    }
    config = UpdatesConfig.model_validate(values)
    config_file = directory / "updates.toml"
    config_file.write_text(tomli_w.dumps(values))
    os.sync()
    return Tablet(directory, slots, config, config_file)



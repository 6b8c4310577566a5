"""The estate directory: the I/O around `pki`, `wire.enrolment` and `inventory`.

Every operation checks all its inputs before it writes anything, and writes through temp files,
staged directories and `os.replace`, so a refused or failed command leaves the estate as it was.

Layout::

    estate.json                 name, whether CA keys are passphrase-encrypted
    root/ca.pem, root/ca.key    the estate root CA (key encrypted at rest)
    inventory.db                the tablet inventory
    wings/<W>/wing.json         broker address, broker directory on its host
    wings/<W>/ca.pem, ca.key    the wing CA (key encrypted at rest)
    wings/<W>/broker/           server cert + key, CA file, CRL, ACL, mosquitto.conf, drop-in
    wings/<W>/gateway/          client cert + key, CA chain, Ed25519 signing key pair, the
                                staff console's server cert + key (console.pem, console.key)
    bundles/<tablet id>/        enrolment bundles (unless written elsewhere)
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import os
import shutil
import signal
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import BaseModel, ConfigDict

from common.enrolment import write_bundle
from provisioning import mosquitto_conf, pki
from provisioning.files import PRIVATE, staged_directory, write_atomic
from provisioning.inventory import Inventory, InventoryError, Status, Tablet
from wire import certs, enrolment, revoked
from wire.csr import read_csr
from wire.envelope import private_key_from_pem, private_key_to_pem, public_key_to_pem
from wire.topics import is_device_id

META = "estate.json"
WING_META = "wing.json"
MAX_BATCH = 10_000
DEFAULT_BROKER_ROOT = Path("/etc/cellbridge/broker")


class EstateError(Exception):
    """An estate operation refused; the message is one line for the operator."""


class EstateMeta(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    format: int = 1
    name: str
    encrypted: bool
    created: str


class WingMeta(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    wing: str
    broker_host: str
    broker_port: int
    broker_dir: str
    gateway_user: str
    repository_port: int = 8443
    """Where the wing gateway serves releases to tablets (`[repository] port`)."""


def _utc(now: dt.datetime | None) -> dt.datetime:
    return now or dt.datetime.now(dt.UTC)


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise EstateError(f"{what} missing: {path}") from None
    except OSError as exc:
        raise EstateError(f"{what} unreadable: {path} ({exc.strerror})") from exc


class Estate:
    def __init__(self, root: Path) -> None:
        self.root = root

    # --- paths and metadata ------------------------------------------------------------------

    @property
    def inventory(self) -> Inventory:
        return Inventory(self.root / "inventory.db")

    def wing_dir(self, wing: str) -> Path:
        return self.root / "wings" / wing

    def broker_material(self, wing: str) -> Path:
        return self.wing_dir(wing) / "broker"

    def gateway_material(self, wing: str) -> Path:
        return self.wing_dir(wing) / "gateway"

    @property
    def bundles(self) -> Path:
        return self.root / "bundles"

    def meta(self) -> EstateMeta:
        path = self.root / META
        if not path.is_file():
            raise EstateError(f"no estate at {self.root}: run `cellbridge provision init` first")
        return EstateMeta.model_validate_json(_read(path, "estate metadata"))

    def wings(self) -> list[str]:
        wings = self.root / "wings"
        return (
            sorted(p.name for p in wings.iterdir() if (p / WING_META).is_file())
            if wings.is_dir()
            else []
        )

    def wing(self, wing: str) -> WingMeta:
        self.meta()
        path = self.wing_dir(wing) / WING_META
        if not is_device_id(wing) or not path.is_file():
            known = ", ".join(self.wings()) or "none yet"
            raise EstateError(f"unknown wing {wing!r} (known: {known})")
        return WingMeta.model_validate_json(_read(path, "wing metadata"))

    # --- keys --------------------------------------------------------------------------------

    def _passphrase(self, passphrase: bytes | None) -> bytes | None:
        if not self.meta().encrypted:
            return None
        if not passphrase:
            raise certs.WrongPassphrase("the estate keys are encrypted and no passphrase was given")
        return passphrase

    def root_ca(
        self, passphrase: bytes | None
    ) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
        secret = self._passphrase(passphrase)
        cert = certs.load_cert(
            _read(self.root / "root" / "ca.pem", "root certificate"), "root certificate"
        )
        key = certs.load_key(
            _read(self.root / "root" / "ca.key", "root key"), secret, "the root CA key"
        )
        return cert, key

    def root_cert(self) -> x509.Certificate:
        return certs.load_cert(
            _read(self.root / "root" / "ca.pem", "root certificate"), "root certificate"
        )

    def wing_ca(
        self, wing: str, passphrase: bytes | None
    ) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
        self.wing(wing)
        secret = self._passphrase(passphrase)
        d = self.wing_dir(wing)
        cert = certs.load_cert(_read(d / "ca.pem", "wing CA certificate"), "wing CA certificate")
        key = certs.load_key(_read(d / "ca.key", "wing CA key"), secret, f"the wing {wing} CA key")
        return cert, key

    def gateway_signing_key(self, wing: str) -> Ed25519PrivateKey:
        return private_key_from_pem(
            _read(self.gateway_material(wing) / "signing.key", "gateway signing key")
        )


# --- init ------------------------------------------------------------------------------------


def init_estate(
    root: Path, name: str, passphrase: bytes | None, now: dt.datetime | None = None
) -> Estate:
    """Create the estate root CA and an empty inventory. `passphrase` None: demo keys, stored
    unencrypted (the caller must have asked for that explicitly)."""
    if (root / META).exists():
        raise EstateError(f"{root} already holds an estate")
    if root.exists() and (not root.is_dir() or any(root.iterdir())):
        raise EstateError(f"{root} exists and is not an empty directory")
    if not name.strip():
        raise EstateError("the estate name must not be empty")
    now = _utc(now)
    key = certs.new_key()
    cert = pki.make_root_ca(key, name, now)
    with staged_directory(root) as stage:
        write_atomic(stage / "root" / "ca.pem", certs.cert_pem(cert))
        write_atomic(stage / "root" / "ca.key", certs.key_pem(key, passphrase), PRIVATE)
        Inventory.create(stage / "inventory.db")
        meta = EstateMeta(
            name=name, encrypted=passphrase is not None, created=now.isoformat(timespec="seconds")
        )
        write_atomic(stage / META, meta.model_dump_json(indent=2).encode())
    return Estate(root)


# --- wing ------------------------------------------------------------------------------------


CONSOLE_CERT = "console.pem"
"""In `wings/<W>/gateway/`: the console's server certificate and the wing CA (`[console] cert`)."""
CONSOLE_KEY = "console.key"


def create_wing(
    estate: Estate,
    wing: str,
    passphrase: bytes | None,
    *,
    broker_host: str = "127.0.0.1",
    broker_port: int = 8883,
    broker_dir: Path | None = None,
    server_names: Iterable[str] = (),
    now: dt.datetime | None = None,
    repository_port: int = 8443,
) -> WingMeta:
    """A wing: its CA, broker server certificate, gateway client certificate and Ed25519 signing
    key, the staff console's server certificate, an empty CRL, and the broker's configuration
    for `broker_dir` on the wing host."""
    estate.meta()
    if not is_device_id(wing):
        raise EstateError(f"invalid wing id {wing!r}: use 1-64 letters, digits, '.', '_' or '-'")
    if estate.wing_dir(wing).exists():
        raise EstateError(f"wing {wing!r} already exists")
    for what, port in (("broker", broker_port), ("repository", repository_port)):
        if not 0 < port < 65536:
            raise EstateError(f"invalid {what} port {port}")
    if repository_port == broker_port:
        raise EstateError(f"the repository and the broker cannot share port {broker_port}")
    root_cert, root_key = estate.root_ca(passphrase)
    secret = estate._passphrase(passphrase)
    now = _utc(now)
    directory = (broker_dir or DEFAULT_BROKER_ROOT / wing).absolute()
    meta = WingMeta(
        wing=wing,
        broker_host=broker_host,
        broker_port=broker_port,
        broker_dir=str(directory),
        gateway_user=pki.gateway_identity(wing),
        repository_port=repository_port,
    )

    ca_key = certs.new_key()
    ca_cert = pki.make_wing_ca(root_cert, root_key, ca_key, wing, now)
    server_key = certs.new_key()
    names = [broker_host, *server_names]
    server_cert = pki.issue_leaf(
        ca_cert,
        ca_key,
        server_key.public_key(),
        f"broker.{wing}",
        now,
        server_names=names,
        days=pki.SERVICE_DAYS,
    )
    client_key = certs.new_key()
    client_cert = pki.issue_leaf(
        ca_cert, ca_key, client_key.public_key(), meta.gateway_user, now, days=pki.SERVICE_DAYS
    )
    # The staff web console's HTTPS certificate: served by the gateway on the wing host.
    console_key = certs.new_key()
    console_cert = pki.issue_leaf(
        ca_cert, ca_key, console_key.public_key(), f"console.{wing}", now,
        server_names=names, days=pki.SERVICE_DAYS,
    )
    signing = Ed25519PrivateKey.generate()
    crl = pki.make_crl(ca_cert, ca_key, [], 1, now.replace(microsecond=0) - CRL_BACKDATE)
    chain = certs.cert_pem(ca_cert, root_cert)

    with staged_directory(estate.wing_dir(wing)) as stage:
        write_atomic(stage / "ca.pem", certs.cert_pem(ca_cert))
        write_atomic(stage / "ca.key", certs.key_pem(ca_key, secret), PRIVATE)
        broker = stage / "broker"
        write_atomic(broker / mosquitto_conf.CA_FILE, chain)
        write_atomic(broker / mosquitto_conf.CERT_FILE, certs.cert_pem(server_cert, ca_cert))
        write_atomic(broker / mosquitto_conf.KEY_FILE, certs.key_pem(server_key), PRIVATE)
        write_atomic(broker / mosquitto_conf.CRL_FILE, pki.crl_pem(crl))
        write_atomic(broker / mosquitto_conf.FULL_ACCESS, meta.gateway_user.encode() + b"\n")
        write_atomic(broker / mosquitto_conf.REVOKED_FILE, revoked.empty(wing).encode())
        listener = mosquitto_conf.Listener(port=broker_port)
        write_atomic(
            broker / mosquitto_conf.CONF_FILE,
            mosquitto_conf.render_conf(directory, listener).encode(),
        )
        write_atomic(
            broker / mosquitto_conf.ACL_FILE,
            mosquitto_conf.render_acl([meta.gateway_user]).encode(),
        )
        write_atomic(
            broker / mosquitto_conf.DROPIN_FILE, mosquitto_conf.render_systemd_dropin().encode()
        )
        gateway = stage / "gateway"
        write_atomic(gateway / "ca.pem", chain)
        write_atomic(gateway / "client.pem", certs.cert_pem(client_cert, ca_cert))
        write_atomic(gateway / "client.key", certs.key_pem(client_key), PRIVATE)
        write_atomic(gateway / "signing.key", private_key_to_pem(signing), PRIVATE)
        write_atomic(gateway / CONSOLE_CERT, certs.cert_pem(console_cert, ca_cert))
        write_atomic(gateway / CONSOLE_KEY, certs.key_pem(console_key), PRIVATE)
        write_atomic(gateway / "signing.pub", public_key_to_pem(signing.public_key()))
        write_atomic(stage / WING_META, meta.model_dump_json(indent=2).encode())
    return meta


def add_operator(
    estate: Estate, wing: str, name: str, passphrase: bytes | None, now: dt.datetime | None = None
) -> Path:
    """A second full-access client identity on the wing broker (`<name>@<wing>`), e.g. a
    monitoring tool or a test observer: the broker forces client id = CN, so two connections
    under the gateway's own identity would throw each other off. Re-install the broker (and
    reload it) for its ACL to grant it. Returns the operator's directory (ca, client cert, key)."""
    estate.wing(wing)
    if not is_device_id(name):
        raise EstateError(f"invalid operator name {name!r}")
    identity = f"{name}@{wing}"
    material = estate.broker_material(wing)
    users = mosquitto_conf.read_full_access(material)
    directory = estate.wing_dir(wing) / "operators" / name
    if identity in users or directory.exists():
        raise EstateError(f"operator {identity!r} already exists")
    ca_cert, ca_key = estate.wing_ca(wing, passphrase)
    key = certs.new_key()
    cert = pki.issue_leaf(
        ca_cert, ca_key, key.public_key(), identity, _utc(now), days=pki.SERVICE_DAYS
    )
    with staged_directory(directory) as stage:
        write_atomic(stage / "ca.pem", certs.cert_pem(ca_cert, estate.root_cert()))
        write_atomic(stage / "client.pem", certs.cert_pem(cert, ca_cert))
        write_atomic(stage / "client.key", certs.key_pem(key), PRIVATE)
    users.append(identity)
    write_atomic(material / mosquitto_conf.FULL_ACCESS, ("\n".join(users) + "\n").encode())
    write_atomic(material / mosquitto_conf.ACL_FILE, mosquitto_conf.render_acl(users).encode())
    return directory


# --- enrolment -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EnrolRequest:
    """One tablet to enrol: from a CSR (its public key) or a batch row (we make the key)."""

    tablet_id: str
    wing: str
    cell: str
    serial: str = ""
    public_key: ec.EllipticCurvePublicKey | None = None


def read_batch(
    text: str, wings: Iterable[str] | None = None, enrolled: Mapping[str, str] | None = None
) -> list[EnrolRequest]:
    """Parse tablets.csv (`tablet_id,wing,cell[,serial]` with a header); every row checked, and
    every bad row named by its line (one `line N: …` per line of the error), not only the first.
    Given the estate's `wings` and its `enrolled` tablets (id: where), a row naming an unknown
    wing or a tablet already enrolled is a bad row too."""
    known = None if wings is None else set(wings)
    enrolled = enrolled or {}
    reader = csv.DictReader(io.StringIO(text))
    fields = set(reader.fieldnames or [])
    if not {"tablet_id", "wing", "cell"} <= fields or not fields <= {
        "tablet_id",
        "wing",
        "cell",
        "serial",
    }:
        raise EstateError("batch CSV header must be tablet_id,wing,cell[,serial]")
    requests: list[EnrolRequest] = []
    problems: list[str] = []
    first_line: dict[str, int] = {}
    for line, row in enumerate(reader, start=2):
        if len(requests) >= MAX_BATCH:
            raise EstateError(f"batch larger than {MAX_BATCH} tablets")
        if None in row:
            problems.append(f"line {line}: more columns than the header")
            continue
        tablet_id, wing, cell = (
            str(row.get(k) or "").strip() for k in ("tablet_id", "wing", "cell")
        )
        if not is_device_id(tablet_id):
            problems.append(f"line {line}: invalid tablet id {tablet_id[:80]!r}")
        elif not cell:
            problems.append(f"line {line}: tablet {tablet_id!r} has no cell")
        elif len(cell) > 64:
            problems.append(f"line {line}: tablet {tablet_id!r}: cell longer than 64 characters")
        elif known is not None and wing not in known:
            problems.append(f"line {line}: tablet {tablet_id!r}: unknown wing {wing[:80]!r} "
                            f"(known: {', '.join(sorted(known)) or 'none yet'})")
        elif tablet_id in enrolled:
            problems.append(f"line {line}: tablet {tablet_id!r} is already enrolled "
                            f"({enrolled[tablet_id]})")
        elif tablet_id in first_line:
            problems.append(f"line {line}: tablet {tablet_id!r} appears twice "
                            f"(first on line {first_line[tablet_id]})")
        else:
            first_line[tablet_id] = line
            requests.append(
                EnrolRequest(tablet_id, wing, cell, str(row.get("serial") or "").strip()))
    if problems:
        raise EstateError("\n".join(problems))
    if not requests:
        raise EstateError("batch CSV holds no tablets")
    return requests


def _check_requests(estate: Estate, requests: list[EnrolRequest], out: Path) -> None:
    seen: set[str] = set()
    for request in requests:
        if request.tablet_id in seen:
            raise EstateError(f"tablet {request.tablet_id!r} appears twice")
        seen.add(request.tablet_id)
        if not request.cell.strip() or len(request.cell) > 64:
            raise EstateError(f"tablet {request.tablet_id!r}: cell must be 1-64 characters")
    for wing in sorted({r.wing for r in requests}):
        estate.wing(wing)
    taken = estate.inventory.existing(seen)
    if taken:
        first = taken[0]
        raise EstateError(
            f"tablet {first.tablet_id!r} is already enrolled "
            f"({first.status.value}, wing {first.wing})"
        )
    for request in requests:
        if (out / request.tablet_id).exists():
            raise EstateError(f"bundle {out / request.tablet_id} already exists")


@dataclass
class Enrolment:
    """A checked batch, CA keys decrypted once: `run` issues it. Made by `prepare_enrolment`."""

    estate: Estate
    requests: list[EnrolRequest]
    out: Path
    cas: dict[str, tuple[x509.Certificate, ec.EllipticCurvePrivateKey]]
    root: x509.Certificate
    wings: dict[str, WingMeta]

    def run(
        self,
        *,
        enrolled_by: str,
        now: dt.datetime | None = None,
        progress: Callable[[int], None] | None = None,
        validity_days: int = pki.TABLET_DAYS,
        not_before: dt.datetime | None = None,
    ) -> list[Tablet]:
        """Issue certificates and bundles and add the tablets to the inventory, all or none. A
        request with a public key (from a CSR) gets a bundle without a key; one without gets a
        fresh key in its bundle (bulk mode)."""
        now = _utc(now)
        gateway_keys = {w: self.estate.gateway_signing_key(w).public_key() for w in self.cas}
        tablets = []
        with staged_directory(self.out / f".batch-{os.getpid()}") as stage:
            for done, request in enumerate(self.requests, start=1):
                ca_cert, ca_key = self.cas[request.wing]
                key = None if request.public_key is not None else certs.new_key()
                public = request.public_key or key.public_key()  # type: ignore[union-attr]
                cert = pki.issue_leaf(
                    ca_cert,
                    ca_key,
                    public,
                    request.tablet_id,
                    now,
                    hardware_serial=request.serial or None,
                    days=validity_days,
                    not_before=not_before,
                )
                wing = self.wings[request.wing]
                info = enrolment.EnrolmentInfo(
                    format=enrolment.FORMAT,
                    tablet_id=request.tablet_id,
                    wing=request.wing,
                    cell=request.cell,
                    broker_host=wing.broker_host,
                    broker_port=wing.broker_port,
                )
                parts = enrolment.build_bundle(
                    info, [ca_cert, self.root], cert, gateway_keys[request.wing], ca_key, key
                )
                write_bundle(stage / request.tablet_id, parts)
                tablets.append(
                    Tablet(
                        tablet_id=request.tablet_id,
                        wing=request.wing,
                        cell=request.cell,
                        serial=request.serial,
                        status=Status.ACTIVE,
                        cert_serial=format(cert.serial_number, "x"),
                        cert_expires=cert.not_valid_after_utc.isoformat(timespec="seconds"),
                        enrolled_by=enrolled_by,
                        enrolled_at=now.isoformat(timespec="seconds"),
                    )
                )
                if progress:
                    progress(done)
            try:
                self.estate.inventory.add(tablets)
            except InventoryError as exc:
                raise EstateError(str(exc)) from exc
            for tablet in tablets:
                os.rename(stage / tablet.tablet_id, self.out / tablet.tablet_id)
        return tablets


def prepare_enrolment(
    estate: Estate, requests: list[EnrolRequest], passphrase: bytes | None, out: Path | None = None
) -> Enrolment:
    """Check every request (ids, duplicates, wings, existing bundles) and decrypt each wing CA
    key once; raises before anything is written."""
    estate.meta()
    out = out or estate.bundles
    _check_requests(estate, requests, out)
    wings = sorted({r.wing for r in requests})
    return Enrolment(
        estate=estate,
        requests=requests,
        out=out,
        cas={wing: estate.wing_ca(wing, passphrase) for wing in wings},
        root=estate.root_cert(),
        wings={wing: estate.wing(wing) for wing in wings},
    )


def enrol(
    estate: Estate,
    requests: list[EnrolRequest],
    passphrase: bytes | None,
    *,
    enrolled_by: str,
    out: Path | None = None,
    now: dt.datetime | None = None,
    validity_days: int = pki.TABLET_DAYS,
    not_before: dt.datetime | None = None,
) -> list[Tablet]:
    """`prepare_enrolment` then `run`, for callers without a progress bar."""
    return prepare_enrolment(estate, requests, passphrase, out).run(
        enrolled_by=enrolled_by, now=now, validity_days=validity_days, not_before=not_before
    )


def request_from_csr(pem: bytes, wing: str, cell: str, serial: str | None = None) -> EnrolRequest:
    try:
        request = read_csr(pem)
    except certs.PkiError as exc:
        raise EstateError(str(exc)) from exc
    return EnrolRequest(
        request.device_id, wing, cell, serial or request.hardware_serial or "", request.public_key
    )


# --- revocation ------------------------------------------------------------------------------


def revoke(
    estate: Estate,
    tablet_id: str,
    reason: str,
    passphrase: bytes | None,
    *,
    status: Status = Status.REVOKED,
    now: dt.datetime | None = None,
) -> Tablet:
    """Add the tablet's certificate to its wing CA's CRL and mark it in the inventory."""
    if not reason.strip():
        raise EstateError("a reason is required")
    if status is Status.ACTIVE:
        raise EstateError("revocation cannot make a tablet active")
    estate.meta()
    tablet = estate.inventory.get(tablet_id)
    if tablet is None:
        raise EstateError(f"unknown tablet {tablet_id!r}")
    if tablet.status is not Status.ACTIVE:
        raise EstateError(f"tablet {tablet_id!r} is already {tablet.status.value}")
    ca_cert, ca_key = estate.wing_ca(tablet.wing, passphrase)
    crl_path = estate.broker_material(tablet.wing) / mosquitto_conf.CRL_FILE
    current = x509.load_pem_x509_crl(_read(crl_path, "CRL"))
    now = _utc(now).replace(microsecond=0)
    entries = [pki.Revocation(r.serial_number, r.revocation_date_utc) for r in current]
    entries.append(pki.Revocation(int(tablet.cert_serial, 16), now))
    last_update = next_crl_time(current.last_update_utc, now)
    if last_update > now:
        time.sleep((last_update - now).total_seconds())
    crl = pki.make_crl(ca_cert, ca_key, entries, pki.crl_number(current) + 1, last_update)
    revoked_path = estate.broker_material(tablet.wing) / mosquitto_conf.REVOKED_FILE
    listed = revoked.parse(_read(revoked_path, "revoked list"))
    entry = revoked.RevokedTablet(
        tablet_id=tablet_id,
        cert_serial=tablet.cert_serial,
        status=status.value,
        reason=reason.strip(),
        at=now.isoformat(timespec="seconds"),
    )
    updated = listed.model_copy(
        update={"crl_number": pki.crl_number(crl), "tablets": [*listed.tablets, entry]}
    )
    write_atomic(crl_path, pki.crl_pem(crl))
    write_atomic(revoked_path, updated.model_dump_json(indent=2).encode())
    estate.inventory.set_status(tablet_id, status, reason.strip(), now)
    refreshed = estate.inventory.get(tablet_id)
    assert refreshed is not None
    return refreshed


CRL_BACKDATE = dt.timedelta(seconds=60)


def next_crl_time(previous: dt.datetime, now: dt.datetime) -> dt.datetime:
    """lastUpdate of the next CRL: strictly after the previous one (a reloaded mosquitto keeps
    every CRL it has read, and OpenSSL trusts the one with the latest lastUpdate), backdated a
    little for clock skew between this station and the wing host, never in the future (a CRL
    not yet valid would be passed over). A caller may have to wait until it is no longer ahead."""
    return max(now - CRL_BACKDATE, previous + dt.timedelta(seconds=1))


def refresh_crl(
    estate: Estate, wing: str, passphrase: bytes | None, now: dt.datetime | None = None
) -> x509.CertificateRevocationList:
    """Re-sign the wing's CRL with the same entries and a new validity: a CRL past its
    nextUpdate makes the broker refuse every tablet (fail closed), so refresh it in time."""
    ca_cert, ca_key = estate.wing_ca(wing, passphrase)
    crl_path = estate.broker_material(wing) / mosquitto_conf.CRL_FILE
    current = x509.load_pem_x509_crl(_read(crl_path, "CRL"))
    now = _utc(now).replace(microsecond=0)
    entries = [pki.Revocation(r.serial_number, r.revocation_date_utc) for r in current]
    last_update = next_crl_time(current.last_update_utc, now)
    if last_update > now:
        time.sleep((last_update - now).total_seconds())
    crl = pki.make_crl(ca_cert, ca_key, entries, pki.crl_number(current) + 1, last_update)
    write_atomic(crl_path, pki.crl_pem(crl))
    return crl


def crl_expiry(estate: Estate, wing: str) -> dt.datetime:
    crl = x509.load_pem_x509_crl(
        _read(estate.broker_material(wing) / mosquitto_conf.CRL_FILE, "CRL")
    )
    next_update = crl.next_update_utc
    if next_update is None:
        raise EstateError(f"wing {wing!r} CRL has no nextUpdate")
    return next_update


# --- the broker on this machine --------------------------------------------------------------


def install_broker(
    estate: Estate, wing: str, directory: Path | None = None, port: int | None = None
) -> Path:
    """Deploy the wing's broker files into `directory` (default: the wing's broker_dir) and
    return the mosquitto.conf path. For a broker on this machine (demo, tests)."""
    meta = estate.wing(wing)
    target = directory or Path(meta.broker_dir)
    listener = mosquitto_conf.Listener(
        port=port or meta.broker_port, bind=bind_for(meta.broker_host)
    )
    try:
        return mosquitto_conf.install(estate.broker_material(wing), target, listener)
    except mosquitto_conf.InstallError as exc:
        raise EstateError(str(exc)) from exc


def bind_for(host: str) -> str:
    return host if host in {"127.0.0.1", "::1", "localhost"} else "0.0.0.0"


def publish_crl(estate: Estate, wing: str, directory: Path) -> int | None:
    """Copy the wing's CRL into a broker directory on this machine and SIGHUP that broker (it
    re-reads the CRL). Returns the pid signalled, or None when no broker runs there."""
    for name in (mosquitto_conf.REVOKED_FILE, mosquitto_conf.CRL_FILE):
        mosquitto_conf.install_file(estate.broker_material(wing) / name, directory / name)
    pid_file = directory / mosquitto_conf.PID_FILE
    try:
        pid = int(pid_file.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None
    try:
        os.kill(pid, signal.SIGHUP)
    except ProcessLookupError:
        return None
    return pid


def copy_gateway_material(estate: Estate, wing: str, directory: Path) -> None:
    """The gateway's files for its host: client cert/key, CA chain, signing key."""
    estate.wing(wing)
    shutil.copytree(estate.gateway_material(wing), directory, dirs_exist_ok=True)


def describe(meta: WingMeta) -> str:
    return json.dumps(meta.model_dump(), indent=2)

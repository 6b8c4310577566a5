"""A whole web path on this machine: HTTPS origins on 127.x.y.z:443 (their names mapped in
Squid's hosts file), a gateway with its web proxy (real Squid), tablets' forwarders, and a client
that does what a browser does through the forwarder (CONNECT, TLS with SNI, GET)."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import random
import ssl
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from gateway.policy_file import load_rules, rules_to_toml
from wire.policy import wing_policy

ORIGIN_NAMES = ("www.gov.uk", "findajob.dwp.gov.uk", "www.moneyhelper.org.uk",
                "gov.uk.evil.example", "evilgov.uk", "www.open.edu")


EXAMPLE = Path(__file__).parents[2] / "gateway" / "policies" / "example.toml"


def open_all_day_policy(path: Path) -> Path:
    """The example policy with no curfew, lockdown or one-off exception."""
    rules = load_rules(EXAMPLE)
    for key in ("curfew", "overrides", "lockdowns"):
        rules.pop(key, None)
    policy = wing_policy(rules, audience="wing:A", version=1, issued=0, expires=1)
    path.write_text(rules_to_toml(policy))
    return path


def curfew_policy(path: Path, start: str, end: str, version: int = 2) -> Path:
    """The open-all-day policy plus a one-off curfew from `start` to `end` (local
    YYYY-MM-DDTHH:MM, the policy's minute)."""
    rules = load_rules(EXAMPLE)
    for key in ("curfew", "overrides", "lockdowns"):
        rules.pop(key, None)
    rules["overrides"] = [{"name": "Unplanned curfew", "start": start, "end": end,
                           "effect": "curfew"}]
    policy = wing_policy(rules, audience="wing:A", version=version, issued=0, expires=1)
    path.write_text(rules_to_toml(policy))
    return path


def squid_directory() -> Path:
    """A directory Squid's own user can reach (pytest's tmp dirs are private to root)."""
    directory = Path(tempfile.mkdtemp(prefix="cellbridge-squid-"))
    directory.chmod(0o755)
    return directory


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


@dataclass
class OriginCA:
    """A test CA for the origins' certificates: what a browser would trust."""

    directory: Path
    key: ec.EllipticCurvePrivateKey = field(default_factory=lambda: ec.generate_private_key(
        ec.SECP256R1()))

    def __post_init__(self) -> None:
        now = dt.datetime.now(dt.UTC)
        self.cert = (
            x509.CertificateBuilder().subject_name(_name("origin CA"))
            .issuer_name(_name("origin CA")).public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(self.key, hashes.SHA256()))
        self.ca_file = self.directory / "origin-ca.pem"
        self.ca_file.write_bytes(self.cert.public_bytes(serialization.Encoding.PEM))

    def server_context(self, names: tuple[str, ...]) -> ssl.SSLContext:
        key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.UTC)
        cert = (
            x509.CertificateBuilder().subject_name(_name(names[0]))
            .issuer_name(self.cert.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]),
                           critical=False)
            .sign(self.key, hashes.SHA256()))
        cert_file, key_file = self.directory / "origin.pem", self.directory / "origin.key"
        cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                               serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(str(cert_file), str(key_file))
        return context

    def client_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca_file))


class Origins:
    """One HTTPS server on 127.a.b.c:443 answering for every name in ORIGIN_NAMES: `GET /`
    says which name was asked; `GET /stream` sends a line a tenth of a second, forever."""

    def __init__(self, ca: OriginCA) -> None:
        self.ca = ca
        # From the OS's entropy, not the `random` module's state, which a test tool may seed
        # alike in every parallel worker (two workers would then bind the same address).
        pick = random.SystemRandom().randint
        self.address = f"127.{pick(1, 254)}.{pick(1, 254)}.{pick(2, 254)}"
        self._server: asyncio.AbstractServer | None = None

    def hosts_file(self, path: Path) -> Path:
        path.write_text("".join(f"{self.address} {name}\n" for name in ORIGIN_NAMES))
        path.chmod(0o644)
        return path

    async def start(self) -> Origins:
        self._server = await asyncio.start_server(
            self._serve, self.address, 443, ssl=self.ca.server_context(ORIGIN_NAMES))
        return self

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(Exception):
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                path = head.split(b" ")[1]
                host = next((line.split(b":", 1)[1].strip() for line in head.split(b"\r\n")
                             if line.lower().startswith(b"host:")), b"?")
                if path == b"/stream":
                    writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n")
                    while True:
                        writer.write(b"tick\n")
                        await writer.drain()
                        await asyncio.sleep(0.1)
                body = b"<html><title>ok</title><body>hello from " + host + b"</body></html>"
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: "
                             + str(len(body)).encode() + b"\r\n\r\n" + body)
                await writer.drain()
        writer.close()


@dataclass
class Fetched:
    status: int
    body: bytes
    refused: str = ""


async def browse(proxy_port: int, host: str, ca: OriginCA, *, sni: str | None = None,
                 path: str = "/", port: int = 443, timeout: float = 15.0) -> Fetched:
    """What a browser does through the forwarder; status 0 when the TLS tunnel fails."""
    reader, writer = await asyncio.open_connection("127.0.0.1", proxy_port)
    try:
        writer.write(f"CONNECT {host}:{port} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode())
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout)
        code = int(head.split(b" ")[1])
        if code != 200:
            return Fetched(code, b"")
        context = ca.client_context()
        if sni == "":
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        try:
            await asyncio.wait_for(writer.start_tls(
                context, server_hostname=(sni if sni is not None else host) or None), timeout)
        except (ssl.SSLError, ConnectionError, OSError, TimeoutError):
            return Fetched(0, b"")
        writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
        await writer.drain()
        try:
            response = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout)
        except (asyncio.IncompleteReadError, ConnectionError, OSError):
            return Fetched(0, b"")
        status = int(response.split(b" ")[1])
        length = next((int(line.split(b":")[1]) for line in response.split(b"\r\n")
                       if line.lower().startswith(b"content-length:")), 0)
        body = await reader.readexactly(length) if length else b""
        return Fetched(status, body)
    finally:
        writer.transport.abort()

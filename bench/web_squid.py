"""The web path through real Squid (issue 14), each beside its floor in the same run:

- CONNECT + TLS handshake to a local HTTPS origin straight at Squid's loopback port (as the
  gateway's TLS front hands it on, with the tablet header): Squid with the gateway's helper and
  decision socket, against the same Squid with an allow-all rule (no helper), samples alternated;
- 200 tablets' forwarders browsing at once (each: CONNECT through its own forwarder, with its own
  certificate, to the gateway's TLS front, Squid, TLS to the origin, GET /): the front deciding
  and Squid with the helper, against a front that allows all and the allow-all Squid.

The origin and the decision socket run in their own processes, Squid in its own; the bench's
clients, forwarders and front share this process's event loop (as forwarders share nothing on a
tablet, this makes the 200-tablet rows a lower bound on both sides). Needs root (the origin
listens on port 443: the proxy carries CONNECT to port 443 only) and squid-openssl.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import multiprocessing
import os
import shutil
import ssl
import subprocess
import tempfile
import time
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from agent.webproxy import WebForwarder
from bench.stats import Row, ms, summary
from cellbridge import demo_web
from common.mqtt import TlsConfig
from gateway.squid import Squid
from gateway.squid_conf import TABLET_HEADER
from gateway.web_front import TlsFront
from wire.webaccess import WebDecision

HOST = "findajob.dwp.gov.uk"  # a resettlement-profile site of the example policy
ADDRESS = "127.0.0.77"


# -- the origin and the decision socket, each in its own process ----------------------------


def _origin_main(address: str, directory: str) -> None:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(f"{directory}/origin.pem", f"{directory}/origin.key")
    body = b"<html><body>hello</body></html>"
    answer = (b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: "
              + str(len(body)).encode() + b"\r\n\r\n" + body)

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(Exception):
            while await reader.readuntil(b"\r\n\r\n"):
                writer.write(answer)
                await writer.drain()
        writer.close()

    async def main() -> None:
        server = await asyncio.start_server(serve, address, 443, ssl=context, backlog=1024)
        async with server:
            await server.serve_forever()

    asyncio.run(main())


def _decider_main(socket_path: str, group: int | None) -> None:
    from bench.web import _decider
    from gateway.web_decider import DecisionServer

    real, _ = _decider()

    async def main() -> None:
        server = DecisionServer(Path(socket_path), real, group)  # type: ignore[arg-type]
        await server.start()
        await asyncio.Event().wait()

    asyncio.run(main())


# -- Squid, with the helper and allow-all ---------------------------------------------------


def allow_all(conf: str) -> str:
    """The same Squid configuration with the gateway's decision taken out: every tablet CONNECT
    to port 443 allowed, every peeked ClientHello spliced."""
    kept = [line for line in conf.splitlines()
            if not line.startswith(("external_acl_type", "acl connect_allowed",
                                    "acl sni_allowed"))]
    text = "\n".join(kept) + "\n"
    return (text.replace("http_access allow tablet connect_allowed", "http_access allow tablet")
            .replace("http_access allow !tablet sni_allowed", "http_access allow !tablet")
            .replace("ssl_bump splice step2 sni_allowed", "ssl_bump splice step2"))


class RunningSquid:
    def __init__(self, hosts: Path, *, floor: bool) -> None:
        self.directory = Path(tempfile.mkdtemp(prefix="cb-bench-squid-"))
        self.directory.chmod(0o755)
        self.squid = Squid(demo_web.SQUID, self.directory, 0, hosts, Path("/usr/bin/python3"), 4)
        conf = self.squid.prepare()
        if floor:
            conf.write_text(allow_all(conf.read_text()))
        self.conf = conf
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def port(self) -> int:
        return self.squid.port

    async def start(self) -> None:
        self.process = subprocess.Popen([str(demo_web.SQUID), "-N", "-f", str(self.conf)],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError):
                _, writer = await asyncio.open_connection("127.0.0.1", self.port)
                writer.close()
                return
            await asyncio.sleep(0.1)
        raise RuntimeError(f"squid did not listen: {self.directory / 'cache.log'}")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
        shutil.rmtree(self.directory, ignore_errors=True)


# -- clients --------------------------------------------------------------------------------


async def _handshake(port: int, origin: ssl.SSLContext) -> float:
    """CONNECT (with the header the front writes) and the TLS handshake with the origin."""
    started = time.perf_counter()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(f"CONNECT {HOST}:443 HTTP/1.1\r\nHost: {HOST}:443\r\n"
                     f"{TABLET_HEADER}: T1\r\n\r\n".encode())
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
        if not head.startswith(b"HTTP/1.1 200"):
            raise RuntimeError(f"refused: {head!r}")
        await asyncio.wait_for(writer.start_tls(origin, server_hostname=HOST), 30)
        return time.perf_counter() - started
    finally:
        writer.transport.abort()


async def _page(port: int, origin: ssl.SSLContext) -> float:
    """Through a forwarder: CONNECT, TLS to the origin, GET /, the whole answer."""
    started = time.perf_counter()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(f"CONNECT {HOST}:443 HTTP/1.1\r\nHost: {HOST}:443\r\n\r\n".encode())
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 60)
        if not head.startswith(b"HTTP/1.1 200"):
            raise RuntimeError(f"refused: {head!r}")
        await asyncio.wait_for(writer.start_tls(origin, server_hostname=HOST), 60)
        writer.write(f"GET / HTTP/1.1\r\nHost: {HOST}\r\n\r\n".encode())
        await writer.drain()
        await asyncio.wait_for(reader.readuntil(b"</html>"), 60)
        return time.perf_counter() - started
    finally:
        writer.transport.abort()


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _pki(directory: Path, tablets: int) -> tuple[TlsConfig, list[TlsConfig]]:
    """A throwaway wing CA: the front's server identity and one client identity per tablet."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (x509.CertificateBuilder().subject_name(_name("bench wing CA"))
          .issuer_name(_name("bench wing CA")).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now)
          .not_valid_after(now + dt.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .sign(ca_key, hashes.SHA256()))
    ca_file = directory / "ca.pem"
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))

    def leaf(cn: str, server: bool) -> TlsConfig:
        key = ec.generate_private_key(ec.SECP256R1())
        builder = (x509.CertificateBuilder().subject_name(_name(cn)).issuer_name(ca.subject)
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now).not_valid_after(now + dt.timedelta(days=1)))
        if server:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(
                    __import__("ipaddress").ip_address("127.0.0.1"))]), critical=False)
        cert = builder.sign(ca_key, hashes.SHA256())
        (directory / f"{cn}.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        (directory / f"{cn}.key").write_bytes(key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption()))
        return TlsConfig(ca=ca_file, cert=directory / f"{cn}.pem", key=directory / f"{cn}.key")

    return leaf("front", True), [leaf(f"T{i:04d}", False) for i in range(tablets)]


async def _browsing(front_tls: TlsConfig, tablets: list[TlsConfig], squid_port: int,
                    decide: object, origin: ssl.SSLContext, per_tablet: int
                    ) -> tuple[float, list[float]]:
    front = TlsFront(front_tls.cert, front_tls.key, front_tls.ca, None, lambda: squid_port,
                     decide, lambda _entry: None, lambda: int(time.time() * 1000))  # type: ignore[arg-type]
    front_port = await front.start("127.0.0.1", 0)
    forwarders = [WebForwarder("127.0.0.1", front_port, tls) for tls in tablets]
    ports = [await f.start() for f in forwarders]
    latencies: list[float] = []

    async def tablet(port: int) -> None:
        for _ in range(per_tablet):
            latencies.append(await _page(port, origin))

    try:
        started = time.perf_counter()
        await asyncio.gather(*(tablet(p) for p in ports))
        elapsed = time.perf_counter() - started
    finally:
        for forwarder in forwarders:
            await forwarder.close()
        await front.close()
    return len(latencies) / elapsed, latencies


async def _run(samples: int, tablets: int, per_tablet: int, work: Path) -> list[Row]:
    demo_web.origin_context(work)  # writes origin-ca.pem, origin.pem, origin.key
    origin_ctx = ssl.create_default_context(cafile=str(work / "origin-ca.pem"))
    hosts = work / "hosts"
    hosts.write_text(f"{ADDRESS} {HOST}\n")
    hosts.chmod(0o644)
    work.chmod(0o755)
    fork = multiprocessing.get_context("fork")
    origin = fork.Process(target=_origin_main, args=(ADDRESS, str(work)), daemon=True)
    origin.start()
    helper = RunningSquid(hosts, floor=False)
    floor = RunningSquid(hosts, floor=True)
    decider = fork.Process(target=_decider_main, daemon=True, args=(
        str(helper.squid.settings.decider_socket), helper.squid.group))
    decider.start()
    try:
        await helper.start()
        await floor.start()
        deadline = time.monotonic() + 30
        while True:  # until the decision socket answers the helper
            try:
                await _handshake(helper.port, origin_ctx)
                break
            except (RuntimeError, OSError, ssl.SSLError):
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.2)
        for _ in range(10):  # warm both (helpers started, names resolved)
            await _handshake(helper.port, origin_ctx)
            await _handshake(floor.port, origin_ctx)
        with_helper: list[float] = []
        allow: list[float] = []
        for _ in range(samples):
            with_helper.append(await _handshake(helper.port, origin_ctx))
            allow.append(await _handshake(floor.port, origin_ctx))
        h50, h99, _ = summary(with_helper)
        f50, f99, _ = summary(allow)
        rows = [
            Row("web proxy", f"CONNECT + TLS handshake via Squid + helper, p50 ({samples})",
                ms(h50), f"{ms(f50)} (same Squid, allow-all)", f"{h50 / f50:.2f}", "≤ 1.3×"),
            Row("web proxy", f"CONNECT + TLS handshake via Squid + helper, p99 ({samples})",
                ms(h99), f"{ms(f99)} (same Squid, allow-all)", f"{h99 / f99:.2f}", "≤ 1.3×"),
        ]
        if tablets:
            front_tls, clients = _pki(work, tablets)
            real = _decision()
            allow_decide = lambda _d, h: WebDecision(True, "floor", h)  # noqa: E731
            rate, lat = await _browsing(front_tls, clients, helper.port, real, origin_ctx,
                                        per_tablet)
            floor_rate, floor_lat = await _browsing(front_tls, clients, floor.port,
                                                    allow_decide, origin_ctx, per_tablet)
            p99, fp99 = summary(lat)[1], summary(floor_lat)[1]
            rows += [
                Row("web proxy", f"{tablets} forwarders browsing at once: pages/s",
                    f"{rate:,.0f}/s", f"{floor_rate:,.0f}/s (front + Squid allow all)",
                    f"{rate / floor_rate:.2f}", "-"),
                Row("web proxy", f"{tablets} forwarders browsing at once: p99 page",
                    ms(p99), f"{ms(fp99)} (front + Squid allow all)", f"{p99 / fp99:.2f}",
                    "-"),
            ]
        return rows
    finally:
        helper.stop()
        floor.stop()
        for process in (origin, decider):
            process.terminate()
            process.join(5)


def _decision() -> object:
    from bench.web import _decider

    real, _ = _decider()
    return real


def run(samples: int = 300, tablets: int = 200, per_tablet: int = 3) -> list[Row]:
    if os.geteuid() != 0 or not demo_web.SQUID.exists():
        return [Row("web proxy", "CONNECT + TLS through Squid", "not run: needs root (an origin "
                    "on port 443) and squid-openssl", "-", "-", "≤ 1.3×")]
    work = Path(tempfile.mkdtemp(prefix="cb-bench-web-"))
    try:
        return asyncio.run(_run(samples, tablets, per_tablet, work))
    finally:
        shutil.rmtree(work, ignore_errors=True)

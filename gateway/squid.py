"""Squid as the gateway's child process: its directory, generated configuration, the helper
copied beside it, a throwaway certificate for the `ssl-bump` port (required by Squid to peek,
never used: nothing is bumped), and a supervisor that restarts it when it exits.

While Squid is down the TLS front cannot reach it and every CONNECT is refused: fail closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import os
import pwd
import shutil
import socket
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from gateway import squid_helper
from gateway.squid_conf import SquidSettings, render

log = logging.getLogger(__name__)

RESTART_S = 1.0
START_TIMEOUT_S = 30.0
SQUID_USER = "proxy"


def run_as() -> str | None:
    """The user Squid drops to when the gateway runs as root (Squid refuses to run as root)."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(SQUID_USER)
    except KeyError:
        return "nobody"
    return SQUID_USER


def free_loopback_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _bump_identity(cert: Path, key: Path) -> None:
    if cert.is_file() and key.is_file():
        return
    private = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "cellbridge squid (never used)")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(private.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(private, hashes.SHA256())
    )
    key.write_bytes(private.private_bytes(serialization.Encoding.PEM,
                                          serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    key.chmod(0o600)
    cert.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))


class Squid:
    def __init__(self, squid: Path, directory: Path, port: int, hosts_file: Path | None,
                 helper_python: Path, helper_children: int) -> None:
        self.binary = squid
        user = run_as()
        self.settings = SquidSettings(
            directory=directory, port=port or free_loopback_port(),
            helper=directory / "cellbridge_web_helper.py", helper_python=helper_python,
            decider_socket=directory / "decider.sock", bump_cert=directory / "bump.pem",
            bump_key=directory / "bump.key", hosts_file=hosts_file, user=user,
            helper_children=helper_children)
        self.process: asyncio.subprocess.Process | None = None
        self.started = asyncio.Event()
        self.starts = 0

    @property
    def port(self) -> int:
        return self.settings.port

    @property
    def group(self) -> int | None:
        user = self.settings.user
        return pwd.getpwnam(user).pw_gid if user else None

    def prepare(self) -> Path:
        """Write Squid's directory: configuration, helper, bump identity. Returns squid.conf."""
        s = self.settings
        s.directory.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(squid_helper.__file__, s.helper)
        _bump_identity(s.bump_cert, s.bump_key)
        conf = s.directory / "squid.conf"
        conf.write_text(render(s))
        if s.user:
            entry = pwd.getpwnam(s.user)
            s.access_log.touch(exist_ok=True)
            for path in (s.directory, s.bump_key, s.access_log):
                os.chown(path, entry.pw_uid, entry.pw_gid)
            s.directory.chmod(0o750)
        return conf

    async def run(self) -> None:
        """Run Squid until cancelled, restarting it whenever it exits."""
        conf = self.prepare()
        while True:
            self.process = await asyncio.create_subprocess_exec(
                str(self.binary), "-N", "-f", str(conf),
                stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
            self.starts += 1
            try:
                await self._wait_listening()
                self.started.set()
                code = await self.process.wait()
                log.warning("squid exited %s; restarting in %ss", code, RESTART_S)
            finally:
                self.started.clear()
                await self._stop()
            await asyncio.sleep(RESTART_S)

    async def _wait_listening(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + START_TIMEOUT_S
        while loop.time() < deadline:
            if self.process is not None and self.process.returncode is not None:
                return
            with contextlib.suppress(OSError):
                _, writer = await asyncio.open_connection("127.0.0.1", self.port)
                writer.close()
                return
            await asyncio.sleep(0.1)

    async def _stop(self) -> None:
        process = self.process
        if process is None or process.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            process.terminate()
        try:
            await asyncio.wait_for(process.wait(), 5)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()

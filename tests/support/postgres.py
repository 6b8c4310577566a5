"""A real, throwaway PostgreSQL server for tests: Debian's `postgresql` package (the server
binaries under /usr/lib/postgresql/<major>/bin), a cluster made by `initdb` in a fresh
directory, started by `pg_ctl` on a free TCP port (127.0.0.1 only) with its Unix socket in the
same directory. PostgreSQL refuses to run as root, so when the tests run as root the cluster
belongs to `nobody` and its commands run as that user.

Each test gets its own database (`new_database`), so tests share one server but no state.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from common.broker import free_port

SUPERUSER = "cellbridge"


def server_bin_dir() -> Path | None:
    """The newest installed server's bin directory, or None (not installed)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                   key=lambda p: int(Path(p).parent.parent.name))
    return Path(found[-1]).parent if found else None


@dataclass
class PostgresServer:
    bin_dir: Path
    root: Path
    port: int
    user: pwd.struct_passwd | None
    """The account the server runs as when we are root (else None: ourselves)."""

    @property
    def socket_dir(self) -> Path:
        return self.root / "run"

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    def _run(self, *args: str) -> None:
        result = subprocess.run([str(self.bin_dir / args[0]), *args[1:]], capture_output=True,
                                text=True, timeout=120, check=False,
                                env={**os.environ, "LC_ALL": "C.UTF-8"},
                                user=self.user.pw_uid if self.user else None,
                                group=self.user.pw_gid if self.user else None)
        if result.returncode != 0:
            log = self.root / "server.log"
            tail = log.read_text()[-2000:] if log.exists() else ""
            raise RuntimeError(f"{args[0]} failed ({result.returncode}): "
                               f"{result.stdout[-1000:]}{result.stderr[-2000:]}\n{tail}")

    @classmethod
    def start(cls) -> PostgresServer:
        bin_dir = server_bin_dir()
        if bin_dir is None:
            raise RuntimeError("PostgreSQL server not installed (Debian package `postgresql`, "
                               "scripts/system-packages.txt)")
        user = pwd.getpwnam("nobody") if os.geteuid() == 0 else None
        root = Path(tempfile.mkdtemp(prefix="cellbridge-pg-"))
        server = cls(bin_dir, root, free_port(), user)
        server.socket_dir.mkdir()
        if user is not None:
            for path in (root, server.socket_dir):
                os.chown(path, user.pw_uid, user.pw_gid)
        server._run("initdb", "-D", str(server.data_dir), "-U", SUPERUSER, "--auth=trust",
                    "--encoding=UTF8", "--no-sync")
        try:
            server.resume()
        except BaseException:
            shutil.rmtree(root, ignore_errors=True)
            raise
        return server

    def resume(self) -> None:
        """Start the server (again, after `halt`), on the same port and socket."""
        options = (f"-p {self.port} -k {self.socket_dir} -c listen_addresses=127.0.0.1 "
                   "-c fsync=off -c full_page_writes=off -c synchronous_commit=off "
                   "-c max_connections=40 -c shared_buffers=16MB")
        self._run("pg_ctl", "-D", str(self.data_dir), "-l", str(self.root / "server.log"),
                  "-o", options, "-w", "-t", "60", "start")

    def halt(self) -> None:
        """Stop the server as an operator would (`pg_ctl stop -m fast`: clients disconnected,
        open transactions rolled back); its data stays for `resume`."""
        self._run("pg_ctl", "-D", str(self.data_dir), "-m", "fast", "-w", "stop")

    def dsn(self, database: str = "postgres") -> str:
        return f"host={self.socket_dir} port={self.port} user={SUPERUSER} dbname={database}"

    def new_database(self, name: str) -> str:
        """A fresh, empty database; its DSN."""
        import psycopg

        with psycopg.connect(self.dsn(), autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}"')
            connection.execute(f'CREATE DATABASE "{name}"')
        return self.dsn(name)

    def stop(self) -> None:
        with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
            self._run("pg_ctl", "-D", str(self.data_dir), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.root, ignore_errors=True)

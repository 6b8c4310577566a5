"""Run a local mosquitto: the demo's broker and the tests' and benchmarks' real broker.

A free loopback port, a generated config, persistence on disk, and the ways a broker dies in the
field (SIGTERM, SIGKILL) for the tests that need them. On a wing host mosquitto runs as its own
systemd service with the configuration `cellbridge provision wing` generates.
"""

from __future__ import annotations

import os
import resource
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(host: str, port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listening on {host}:{port} after {timeout}s")


def _raise_nofile() -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 65536), hard))


class Mosquitto:
    """One mosquitto process; restartable on the same port with the same persistence file."""

    def __init__(self, workdir: Path, port: int | None = None, config: str | None = None) -> None:
        binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        if not os.path.exists(binary):
            raise RuntimeError("mosquitto is missing: run `make setup` (apt-get install mosquitto)")
        self.binary = binary
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.host = "127.0.0.1"
        self.port = port or free_port()
        self.config_path = workdir / "mosquitto.conf"
        self.config_path.write_text(config or self.default_config())
        self.log_path = workdir / "mosquitto.log"
        self.process: subprocess.Popen[bytes] | None = None

    def default_config(self) -> str:
        return "\n".join(
            [
                "per_listener_settings false",
                f"listener {self.port} {self.host}",
                "allow_anonymous true",
                "persistence true",
                f"persistence_location {self.workdir}/",
                "autosave_interval 60",
                "max_queued_messages 10000",
                "set_tcp_nodelay true",
                "max_packet_size 1048576",
                "log_dest stderr",
                "log_type error",
                "log_type warning",
                "",
            ]
        )

    def start(self) -> Mosquitto:
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [self.binary, "-c", str(self.config_path)],
                stdout=log,
                stderr=log,
                preexec_fn=_raise_nofile,
                start_new_session=True,  # stopped by its owner, after the clients (not Ctrl-C)
            )
        try:
            wait_for_port(self.host, self.port)
        except TimeoutError:
            self.kill()
            log_tail = self.log_path.read_text()[-2000:]
            raise RuntimeError(f"mosquitto did not start: {log_tail}") from None
        return self

    def stop(self) -> None:
        """SIGTERM: mosquitto saves its persistence file and exits."""
        self._signal(signal.SIGTERM)

    def kill(self) -> None:
        """SIGKILL: everything since the last autosave is lost, as after a power cut."""
        self._signal(signal.SIGKILL)

    def restart(self) -> None:
        self.stop()
        self.start()

    def _signal(self, sig: int) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

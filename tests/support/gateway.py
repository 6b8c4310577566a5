"""A real wing gateway for tests: its config and signing key written to a directory, the process
started with `python -m cellbridge gateway run`, and the staff CLI run against its API socket:
as a process (`staff`, `astaff`: for tests of the command line itself), or the same click command
run in this process (`cli`, `acli`, `staff_json`: for tests whose subject is the gateway)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import httpx
import tomli_w
from click.testing import CliRunner
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from cellbridge.cli import main
from common.mqtt import TlsConfig
from gateway.staff.client import NO_TLS
from wire.envelope import key_id, private_key_to_pem, public_key_to_pem

REPO_ROOT = Path(__file__).resolve().parents[2]
IN_PROCESS_CLI = threading.Lock()
"""One in-process staff command at a time: click's runner swaps the process's stdio and
environment while a command runs."""


class Gateway:
    """One gateway process for one wing; restartable with the same state directory."""

    def __init__(
        self,
        workdir: Path,
        broker_host: str,
        broker_port: int,
        *,
        wing: str = "A",
        tablets: Iterable[tuple[str, str, str]] = (),
        signing_key: Ed25519PrivateKey | None = None,
        tls: TlsConfig | None = None,
        **settings: Any,
    ) -> None:
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.wing = wing
        self.key = signing_key or Ed25519PrivateKey.generate()
        self.key_path = workdir / "signing-key.pem"
        self.key_path.write_bytes(private_key_to_pem(self.key))
        self.key_path.chmod(0o600)
        self.public_key_path = workdir / "gateway-public.pem"
        self.public_key_path.write_bytes(public_key_to_pem(self.key.public_key()))
        # Unix socket paths are limited to ~107 bytes: keep it short and outside deep tmp dirs.
        self.api_socket = Path(f"/tmp/cb-gw-{os.getpid()}-{id(self) & 0xFFFFFF:x}.sock")
        self.state_dir = workdir / "state"
        self.config_path = workdir / "gateway.toml"
        self.log_path = workdir / "gateway.log"
        config: dict[str, Any] = {
            "wing": wing, "state_dir": str(self.state_dir), "signing_key": str(self.key_path),
            "api_socket": str(self.api_socket),
            **{k: str(v) if isinstance(v, Path) else v for k, v in settings.items()},
            "broker": {"host": broker_host, "port": broker_port, "backoff_max_s": 2.0},
        }
        if tls is not None:
            config["broker"]["tls"] = {k: str(v) if isinstance(v, Path) else v
                                       for k, v in tls.model_dump().items() if v is not None}
        if tablets:
            config["tablets"] = [{"id": d, "cell": c, "landing": lnd} for d, c, lnd in tablets]
        self.config_path.write_text(tomli_w.dumps(config))
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def public_key(self) -> Ed25519PublicKey:
        return self.key.public_key()

    @property
    def trusted_keys(self) -> dict[str, Ed25519PublicKey]:
        """What a tablet of this wing trusts, for `wire.envelope.open_envelope`."""
        return {key_id(self.public_key): self.public_key}

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            [str(REPO_ROOT), *filter(None, [env.get("PYTHONPATH")])]
        )
        env["CELLBRIDGE_GATEWAY_API"] = str(self.api_socket)
        return env

    def start(self, timeout: float = 60.0, *, wait_for_broker: bool = True) -> Gateway:
        """Start and wait for the API (and, unless told not to, the broker session)."""
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "cellbridge", "gateway", "run", "--config",
                 str(self.config_path)],
                stdout=log, stderr=log, env=self.env(), cwd=REPO_ROOT,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gateway exited {self.process.returncode}: {self.log()}")
            if self.api_ready() and (not wait_for_broker or self.broker_connected()):
                return self
            time.sleep(0.05)
        self.kill()
        raise RuntimeError(f"gateway API did not come up in {timeout}s: {self.log()}")

    def api_ready(self) -> bool:
        if not self.api_socket.exists():
            return False
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
            try:
                probe.connect(str(self.api_socket))
            except OSError:
                return False
        return True

    def broker_connected(self) -> bool:
        transport = httpx.HTTPTransport(uds=str(self.api_socket), verify=NO_TLS)
        try:
            with httpx.Client(transport=transport, base_url="http://gateway", timeout=5) as client:
                return bool(client.get("/v1/health").json()["broker_connected"])
        except (httpx.HTTPError, ValueError, KeyError):
            return False

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-3000:] if self.log_path.exists() else ""

    def stop(self, timeout: float = 15.0) -> int | None:
        """SIGTERM and wait: the gateway closes its store and removes its socket."""
        return self._signal(signal.SIGTERM, timeout)

    def kill(self) -> int | None:
        return self._signal(signal.SIGKILL, 10.0)

    def _signal(self, sig: int, timeout: float) -> int | None:
        if self.process is None:
            return None
        process, self.process = self.process, None
        if process.poll() is None:
            process.send_signal(sig)
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        return process.returncode

    def close(self) -> None:
        """Kill if still running and remove what a killed gateway leaves behind."""
        self.kill()
        self.api_socket.unlink(missing_ok=True)

    def staff(self, *args: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
        """Run `cellbridge staff ARGS…` against this gateway, as staff would type it."""
        return subprocess.run(
            [sys.executable, "-m", "cellbridge", "staff", *args],
            capture_output=True, text=True, env=self.env(), cwd=REPO_ROOT, timeout=timeout,
        )

    async def astaff(self, *args: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
        """`staff` from async tests: the event loop keeps serving simulated tablets meanwhile."""
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "cellbridge", "staff", *args,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            env=self.env(), cwd=REPO_ROOT,
        )
        out, err = await asyncio.wait_for(process.communicate(), timeout)
        assert process.returncode is not None
        return subprocess.CompletedProcess(
            ["staff", *args], process.returncode, out.decode(), err.decode()
        )

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        """`cellbridge staff ARGS…` run in this process: the same click command as `staff` (the
        same parsing, client, output and exit code), without a new interpreter importing the
        package (about 0.5 CPU-s a call). An exception the command did not turn into an exit code
        is exit 1 with its traceback on stderr, as in a process."""
        with IN_PROCESS_CLI:
            result = CliRunner().invoke(main, ["staff", *args], prog_name="cellbridge",
                                        env={"CELLBRIDGE_GATEWAY_API": str(self.api_socket)})
        stderr = result.stderr
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            stderr += "".join(traceback.format_exception(result.exception))
        return subprocess.CompletedProcess(["staff", *args], result.exit_code, result.stdout,
                                           stderr)

    async def acli(self, *args: str) -> subprocess.CompletedProcess[str]:
        """`cli` from async tests, in a thread: the event loop keeps serving simulated tablets
        meanwhile (a command may `--wait` for them)."""
        return await asyncio.to_thread(self.cli, *args)

    def register(self, device: str, cell: str, landing: str) -> None:
        """Register a tablet with the running gateway, as IT would."""
        result = subprocess.run(
            [sys.executable, "-m", "cellbridge", "gateway", "register", "--device", device,
             "--cell", cell, "--landing", landing],
            capture_output=True, text=True, env=self.env(), cwd=REPO_ROOT, timeout=60,
        )
        if result.returncode != 0:
            raise RuntimeError(f"register {device} exited {result.returncode}: {result.stderr}")

    def staff_json(self, *args: str) -> Any:
        """What `cellbridge staff ARGS… --json` prints, parsed (run in this process: `cli`)."""
        result = self.cli(*args, "--json")
        if result.returncode != 0:
            raise RuntimeError(f"staff {' '.join(args)} exited {result.returncode}: "
                               f"{result.stderr.strip()}")
        return json.loads(result.stdout)

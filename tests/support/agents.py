"""Real agent processes for tests: write a config, spawn `cellbridge agent run`, read its state
over its socket, stop (SIGTERM) or kill (SIGKILL) it. Also a test gateway signer, since every
document an agent accepts must be sealed by a key in its config."""

from __future__ import annotations

import asyncio
import json
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import paho.mqtt.client as mqtt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agent.config import AgentConfig, load_config
from agent.service import Agent
from common.mqtt import BrokerConfig, TlsConfig, tls_context
from tests.support import clocked_agent
from tests.support.broker import WingBroker
from wire.documents import (
    DesiredState,
    LockOrder,
    SignedBody,
    SignedTime,
    WingLockdown,
    device_audience,
    wing_audience,
)
from wire.envelope import public_key_to_pem, seal
from wire.localapi import (
    GetRequest,
    ShellState,
    StateMessage,
    WatchRequest,
    encode,
    parse_message,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
DAY_MS = 86_400_000


def now_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass
class TestSigner:
    """A gateway signing key for tests, and builders for the documents it seals."""

    __test__ = False  # not a pytest class
    key: Ed25519PrivateKey = field(default_factory=Ed25519PrivateKey.generate)

    def write_public_key(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(public_key_to_pem(self.key.public_key()))
        return path

    def desired(
        self,
        device: str,
        version: int,
        *,
        locked: bool,
        reason: str = "test",
        by: str = "officer",
        issued: int | None = None,
        expires: int | None = None,
        audience: str | None = None,
        profile: str = "standard",
    ) -> DesiredState:
        issued = now_ms() if issued is None else issued
        return DesiredState(
            audience=audience or device_audience(device),
            version=version,
            issued=issued,
            expires=issued + DAY_MS if expires is None else expires,
            lock=LockOrder(locked=locked, by=by, reason=reason, since=issued),
            profile=profile,
        )

    def first(self, device: str, version: int = 1) -> DesiredState:
        """What the gateway issues a tablet it registers (`gateway.desired.first_desired`):
        unlocked by the system. A tablet without it stays locked as not set up."""
        return self.desired(
            device, version, locked=False, by="system", reason="registered on the wing"
        )

    def lockdown(
        self,
        wing: str,
        version: int,
        *,
        locked: bool,
        reason: str = "wing lockdown",
        by: str = "duty governor",
        issued: int | None = None,
        expires: int | None = None,
        audience: str | None = None,
    ) -> WingLockdown:
        issued = now_ms() if issued is None else issued
        return WingLockdown(
            audience=audience or wing_audience(wing),
            version=version,
            issued=issued,
            expires=issued + DAY_MS if expires is None else expires,
            lock=LockOrder(locked=locked, by=by, reason=reason, since=issued),
        )

    def time(self, wing: str, issued: int | None = None) -> SignedTime:
        issued = now_ms() if issued is None else issued
        return SignedTime(
            audience=wing_audience(wing), version=issued, issued=issued, expires=issued + 60_000
        )

    def seal(self, document: SignedBody) -> bytes:
        return seal(document, self.key)


def write_agent_config(
    directory: Path,
    *,
    device_id: str,
    wing: str,
    broker_host: str,
    broker_port: int,
    gateway_keys: list[Path],
    session_expiry_s: int = 86400,
    backoff_max_s: float = 2.0,
    enrolment_bundle: Path | None = None,
    extra: Sequence[str] = (),
) -> Path:
    """Write `agent.toml` (state in `directory/state`, socket `directory/agent.sock`); `extra`
    are more top-level TOML lines."""
    directory.mkdir(parents=True, exist_ok=True)

    def q(value: object) -> str:
        return json.dumps(str(value))  # a JSON string is a valid TOML basic string

    lines = [
        f"device_id = {q(device_id)}",
        f"wing = {q(wing)}",
        f"state_dir = {q(directory / 'state')}",
        f"socket = {q(directory / 'agent.sock')}",
        f"gateway_keys = [{', '.join(q(k) for k in gateway_keys)}]",
        f"session_expiry_s = {session_expiry_s}",
        *([f"enrolment_bundle = {q(enrolment_bundle)}"] if enrolment_bundle else []),
        *extra,
        "",
        "[broker]",
        f"host = {q(broker_host)}",
        f"port = {broker_port}",
        f"backoff_max_s = {backoff_max_s}",
        "",
    ]
    path = directory / "agent.toml"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path



@contextmanager
def agent_factory(
    broker: WingBroker,
    signer: TestSigner,
    directory: Path,
    *,
    wing: str = "w1",
    backoff_max_s: float = 2.0,
) -> Iterator[Callable[..., AgentProcess]]:
    """`make(device_id, wing)`: an agent config trusting `signer` (and, on the mutual-TLS broker,
    the tablet's enrolment bundle) and its process, not yet started; all killed at the end."""
    processes: list[AgentProcess] = []
    key = signer.write_public_key(directory / "gateway.pem")

    def make(device_id: str = "t1", wing: str = wing) -> AgentProcess:
        config = write_agent_config(
            directory / device_id, device_id=device_id, wing=wing, broker_host=broker.host,
            broker_port=broker.port, gateway_keys=[key], backoff_max_s=backoff_max_s,
            enrolment_bundle=broker.demo.bundle(device_id) if broker.demo else None,
        )
        process = AgentProcess(config)
        processes.append(process)
        return process

    try:
        yield make
    finally:
        for process in processes:
            process.kill()

def _send(sock_path: Path, request: bytes, timeout: float) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        sock.connect(str(sock_path))
        sock.sendall(request)
    except OSError:
        sock.close()
        raise
    return sock


def _read_line(sock: socket.socket, buffer: bytearray) -> bytes:
    while b"\n" not in buffer:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("agent closed the socket")
        buffer.extend(chunk)
    line, _, rest = bytes(buffer).partition(b"\n")
    buffer[:] = rest
    return line


def read_state(sock_path: Path, timeout: float = 5.0) -> ShellState:
    """One `get` over the agent's socket."""
    with _send(sock_path, encode(GetRequest(op="get")), timeout) as sock:
        message = parse_message(_read_line(sock, bytearray()))
    if not isinstance(message, StateMessage):
        raise RuntimeError(f"agent answered {message}")
    return message.state


class Watcher:
    """A `watch` client: the current state, then every pushed change, in order."""

    def __init__(self, sock_path: Path, timeout: float = 10.0) -> None:
        self.sock = _send(sock_path, encode(WatchRequest(op="watch")), timeout)
        self._buffer = bytearray()

    def next(self) -> ShellState:
        message = parse_message(_read_line(self.sock, self._buffer))
        if not isinstance(message, StateMessage):
            raise RuntimeError(f"agent answered {message}")
        return message.state

    def until(self, predicate: Callable[[ShellState], bool]) -> ShellState:
        """Read pushes until one matches (the socket timeout bounds the wait)."""
        while True:
            state = self.next()
            if predicate(state):
                return state

    def close(self) -> None:
        self.sock.close()


@contextmanager
def watching(sock_path: Path, timeout: float = 10.0) -> Iterator[Watcher]:
    watcher = Watcher(sock_path, timeout)
    try:
        yield watcher
    finally:
        watcher.close()


class AgentProcess:
    """`python -m cellbridge agent run --config FILE` as a child process."""

    def __init__(self, config_path: Path) -> None:
        self.config_path = config_path
        self.directory = config_path.parent
        self.socket_path = load_config(config_path).socket
        self.state_dir = self.directory / "state"
        self.log_path = self.directory / "agent.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(
        self,
        wait: bool = True,
        timeout: float = 60.0,
        env: dict[str, str] | None = None,
        umask: int = -1,
    ) -> AgentProcess:
        """Spawn the agent (with `env` added to this process's environment; `umask` as a
        systemd unit's `UMask=`, -1 to inherit). An environment naming clock offset files
        runs it through `tests.support.clocked_agent`."""
        env = {**os.environ, **(env or {})}
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p
        )
        if clocked_agent.wanted(env):  # the test moves this agent's clocks
            command = ["-m", "tests.support.clocked_agent", str(self.config_path)]
        else:
            command = ["-m", "cellbridge", "agent", "run", "--config", str(self.config_path)]
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, *command],
                stdout=log,
                stderr=log,
                env=env,
                cwd=REPO_ROOT,
                umask=umask,
            )
        if wait:
            self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout: float = 60.0) -> ShellState:
        """Wait until the socket answers (the agent has loaded its state). A readiness wait, not
        a time bound: a loaded 2-core machine running the suite in parallel missed 15 s."""
        return self._poll(lambda _state: True, timeout, "a socket answer")

    def wait_connected(self, timeout: float = 15.0) -> ShellState:
        """Wait until the agent reports a session with the broker."""
        return self._poll(lambda state: state.connected, timeout, "a broker connection")

    def wait_for(
        self, predicate: Callable[[ShellState], bool], timeout: float = 15.0
    ) -> ShellState:
        return self._poll(predicate, timeout, "the expected state")

    def _poll(
        self, predicate: Callable[[ShellState], bool], timeout: float, what: str
    ) -> ShellState:
        deadline = time.monotonic() + timeout
        last: object = None
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"agent exited ({self.process.returncode}): {self.log_tail()}")
            try:
                state = read_state(self.socket_path, timeout=2.0)
                if predicate(state):
                    return state
                last = state
            except (OSError, ValueError, RuntimeError) as exc:
                last = exc
            time.sleep(0.05)
        raise TimeoutError(f"agent: no {what} in {timeout}s (last: {last}); {self.log_tail()}")

    def state(self) -> ShellState:
        return read_state(self.socket_path)

    @contextmanager
    def paused(self) -> Iterator[None]:
        """Hold the agent still (SIGSTOP) while the test sets something up that the agent must
        not race, e.g. an observer subscribing to a broker the agent is about to reconnect to."""
        assert self.process is not None, "the agent is not running"
        self.process.send_signal(signal.SIGSTOP)
        try:
            yield
        finally:
            if self.process is not None:
                self.process.send_signal(signal.SIGCONT)

    def log_tail(self, size: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-size:]
        except OSError:
            return ""

    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGTERM, as systemd stops it; returns the exit code."""
        return self._signal(signal.SIGTERM, timeout)

    def kill(self) -> int | None:
        """SIGKILL, as after a power cut or a crash."""
        return self._signal(signal.SIGKILL, 10.0)

    def _signal(self, sig: int, timeout: float) -> int | None:
        process, self.process = self.process, None
        if process is None:
            return None
        if process.poll() is None:
            process.send_signal(sig)
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        return process.returncode

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None


@dataclass(frozen=True)
class Received:
    topic: str
    payload: bytes
    retain: bool


class Probe:
    """A plain paho client for tests: publish, and collect what arrives on some topics."""

    def __init__(
        self, host: str, port: int, topics: list[str] | None = None, tls: TlsConfig | None = None
    ) -> None:
        self.messages: queue.Queue[Received] = queue.Queue()
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5, client_id=""
        )
        if tls is not None:
            self.client.tls_set_context(tls_context(tls))
        self.client.on_message = lambda _c, _u, m: self.messages.put(
            Received(m.topic, bytes(m.payload), bool(m.retain))
        )
        subscribed = threading.Event()
        self.client.on_subscribe = lambda *_args: subscribed.set()
        self.client.connect(host, port)
        self.client.loop_start()
        if topics:
            self.client.subscribe([(topic, 1) for topic in topics])
            if not subscribed.wait(10):
                raise TimeoutError("probe: no SUBACK")

    def publish(self, topic: str, payload: bytes, retain: bool = True) -> None:
        self.client.publish(topic, payload, qos=1, retain=retain).wait_for_publish(5)

    def expect(self, predicate: Callable[[Received], bool], timeout: float = 10.0) -> Received:
        """The next message matching `predicate`; others are skipped."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("no matching MQTT message")
            try:
                message = self.messages.get(timeout=remaining)
            except queue.Empty:
                raise TimeoutError("no matching MQTT message") from None
            if predicate(message):
                return message

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def agent_config(
    directory: Path,
    *,
    device_id: str,
    wing: str,
    broker_host: str,
    broker_port: int,
    gateway_keys: list[Path],
    backoff_max_s: float = 2.0,
    tls: TlsConfig | None = None,
) -> AgentConfig:
    """An in-memory config for an in-process `Agent` (state and socket under `directory`)."""
    return AgentConfig(
        device_id=device_id,
        wing=wing,
        state_dir=directory / device_id / "state",
        socket=directory / device_id / "agent.sock",
        gateway_keys=gateway_keys,
        broker=BrokerConfig(
            host=broker_host, port=broker_port, backoff_max_s=backoff_max_s, tls=tls
        ),
    )


async def wait_until(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    """Poll `condition` on the event loop; TimeoutError after `timeout` seconds."""
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.02)


@asynccontextmanager
async def running_agents(
    *agents: Agent, connect_timeout: float = 60.0
) -> AsyncIterator[list[asyncio.Task[None]]]:
    """Run `agents` in this event loop until the block ends (waits until all are connected);
    many tablets in one process, as the benchmark and the demo run them."""
    tasks = [asyncio.create_task(agent.run()) for agent in agents]
    try:
        await wait_until(lambda: all(agent.connected for agent in agents), connect_timeout)
        yield tasks
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

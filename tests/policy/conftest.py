"""Fixtures for policy tests with real parts: agent processes whose clocks the test moves."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.policy.samples import WING_KEY
from tests.support.agents import AgentProcess, Probe, TestSigner, agent_factory
from tests.support.broker import WingBroker
from tests.support.clocked_agent import MONOTONIC_OFFSET_ENV, WALL_OFFSET_ENV
from wire.localapi import LaunchReply, LaunchRequest, encode, parse_message

WING = "w1"
"""The demo estate's wing: the `broker` fixture's tablets are enrolled in it."""


@dataclass
class Clocks:
    """The agent's clocks as the test drives them: its monotonic clock only moves forward (by
    `advance`), its system clock anywhere (by `set_wall`)."""

    monotonic_file: Path
    wall_file: Path
    advanced: float = 0.0

    def advance(self, seconds: float) -> None:
        self.advanced += seconds
        self.monotonic_file.write_text(str(self.advanced))

    def set_wall(self, unix_ms: int) -> None:
        """Make the agent's system clock read `unix_ms` now (and run on from there)."""
        self.wall_file.write_text(str(unix_ms / 1000 - time.time()))

    def move_wall(self, seconds: float) -> None:
        current = float(self.wall_file.read_text() or 0)
        self.wall_file.write_text(str(current + seconds))


@pytest.fixture
def signer() -> TestSigner:
    return TestSigner(key=WING_KEY)


@pytest.fixture
def clocks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Clocks:
    result = Clocks(tmp_path / "monotonic-offset", tmp_path / "wall-offset")
    result.monotonic_file.write_text("0")
    result.wall_file.write_text("0")
    monkeypatch.setenv(MONOTONIC_OFFSET_ENV, str(result.monotonic_file))
    monkeypatch.setenv(WALL_OFFSET_ENV, str(result.wall_file))
    return result


@pytest.fixture
def make_agent(
    broker: WingBroker, signer: TestSigner, clocks: Clocks, tmp_path: Path
) -> Iterator[Callable[..., AgentProcess]]:
    """Agents whose clocks the test moves (`clocks` sets their environment first)."""
    with agent_factory(broker, signer, tmp_path, wing=WING, backoff_max_s=1.0) as make:
        yield make


@pytest.fixture
def probe(broker: WingBroker) -> Iterator[Probe]:
    client = Probe(broker.host, broker.port, ["tablet/+/reported", "tablet/+/ack"],
                   tls=broker.observer_tls(1))
    yield client
    client.close()


def launch(agent: AgentProcess, app: str) -> LaunchReply:
    """Ask the agent, as the shell does, whether `app` may start."""
    import socket

    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(10)
        sock.connect(str(agent.socket_path))
        sock.sendall(encode(LaunchRequest(op="launch", app=app)))
        buffer = b""
        while b"\n" not in buffer:
            chunk = sock.recv(65536)
            if not chunk:
                raise ConnectionError("agent closed the socket")
            buffer += chunk
    reply = parse_message(buffer.split(b"\n", 1)[0])
    assert isinstance(reply, LaunchReply)
    return reply


def audit_rows(agent: AgentProcess) -> list[tuple[str, str, str, str]]:
    """The agent's local audit trail: (event, topic, reason, detail)."""
    with sqlite3.connect(agent.state_dir / "state.db") as db:
        return [tuple(r) for r in db.execute(
            "SELECT event, topic, reason, detail FROM audit ORDER BY id")]


def reported_hash(message_payload: bytes) -> str:
    return str(json.loads(message_payload).get("policy_hash", ""))

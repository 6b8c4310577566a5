"""Fixtures for agent tests: a test gateway key, real agent processes, an MQTT probe."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.agents import AgentProcess, Probe, TestSigner, agent_factory
from tests.support.broker import WingBroker


@pytest.fixture
def signer() -> TestSigner:
    return TestSigner()


@pytest.fixture
def make_agent(
    broker: WingBroker, signer: TestSigner, tmp_path: Path
) -> Iterator[Callable[..., AgentProcess]]:
    """Write an agent config (trusting `signer`) and return its process, not yet started."""
    with agent_factory(broker, signer, tmp_path) as make:
        yield make


@pytest.fixture
def probe(broker: WingBroker) -> Iterator[Probe]:
    """Sees everything tablets publish."""
    client = Probe(
        broker.host,
        broker.port,
        ["tablet/+/reported", "tablet/+/ack", "tablet/+/status"],
        tls=broker.observer_tls(1),
    )
    yield client
    client.close()

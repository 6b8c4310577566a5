"""Fixtures for agent tests: a test gateway key, real agent processes, an MQTT probe."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.agents import AgentProcess, Probe, TestSigner, write_agent_config
from tests.support.broker import WingBroker


@pytest.fixture
def signer() -> TestSigner:
    return TestSigner()


@pytest.fixture
def make_agent(
    broker: WingBroker, signer: TestSigner, tmp_path: Path
) -> Iterator[Callable[..., AgentProcess]]:
    """Write an agent config (trusting `signer`) and return its process, not yet started."""
    processes: list[AgentProcess] = []
    key = signer.write_public_key(tmp_path / "gateway.pem")

    def make(device_id: str = "t1", wing: str = "w1") -> AgentProcess:
        config = write_agent_config(
            tmp_path / device_id,
            device_id=device_id,
            wing=wing,
            broker_host=broker.host,
            broker_port=broker.port,
            gateway_keys=[key],
            enrolment_bundle=broker.demo.bundle(device_id) if broker.secure else None,
        )
        process = AgentProcess(config)
        processes.append(process)
        return process

    yield make
    for process in processes:
        process.kill()


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

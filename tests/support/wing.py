"""A whole wing for end-to-end tests (the e2e and shell suites share it): demo estate (mutual TLS), real mosquitto with the generated
configuration, the real gateway process, real agent processes, the real staff CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from cellbridge.wing import LocalWing
from common.broker import Mosquitto
from tests.support.agents import AgentProcess

REPO_ROOT = Path(__file__).resolve().parents[2]


class Wing:
    def __init__(self, root: Path, tablets: int) -> None:
        self.local = LocalWing(root, tablets)
        self.local.start_broker()
        self.local.start_gateway()
        self.agents: dict[str, AgentProcess] = {}

    @property
    def broker(self) -> Mosquitto:
        assert self.local.broker is not None
        return self.local.broker

    def agent(self, tablet: str) -> AgentProcess:
        """The tablet's agent process (created on first use, not started)."""
        if tablet not in self.agents:
            self.agents[tablet] = AgentProcess(self.local.write_agent_config(tablet))
        return self.agents[tablet]

    def start_agents(self, *tablets: str) -> list[AgentProcess]:
        agents = [self.agent(t).start(wait=False) for t in tablets]
        for agent in agents:
            agent.wait_for(lambda s: s.connected and not s.locked, timeout=60)
        return agents

    def staff(self, *args: str) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "CELLBRIDGE_GATEWAY_API": str(self.local.gateway_api),
               "PYTHONPATH": str(REPO_ROOT)}
        return subprocess.run(
            [sys.executable, "-m", "cellbridge", "staff", *args],
            env=env, capture_output=True, text=True, timeout=120, check=False,
        )

    def close(self) -> None:
        for agent in self.agents.values():
            agent.kill()
        self.local.stop()


@pytest.fixture
def make_wing(tmp_path: Path) -> Iterator[Callable[[int], Wing]]:
    wings: list[Wing] = []

    def make(tablets: int) -> Wing:
        wing = Wing(tmp_path / f"wing{len(wings)}", tablets)
        wings.append(wing)
        return wing

    yield make
    for wing in wings:
        wing.close()

"""Fixtures that start the real parts: mosquitto on a free loopback port with a generated config."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.broker import Mosquitto


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Mosquitto]:
    """A fresh mosquitto for one test; the test may stop, kill and restart it."""
    mosquitto = Mosquitto(tmp_path / "broker").start()
    try:
        yield mosquitto
    finally:
        mosquitto.kill()

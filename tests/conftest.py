"""Fixtures that start the real parts: the wing's mosquitto, with the configuration `provision
wing` generates (mutual TLS, ACL, CRL) for a demo estate made once per test session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from provisioning.demo_estate import DemoEstate
from tests.support.broker import WingBroker


@pytest.fixture(scope="session")
def demo_estate(tmp_path_factory: pytest.TempPathFactory) -> DemoEstate:
    """Unencrypted demo keys, wing `w1`; tablets are enrolled the first time a test asks."""
    return DemoEstate(tmp_path_factory.mktemp("estate") / "estate", wing="w1")


@pytest.fixture
def broker(demo_estate: DemoEstate) -> Iterator[WingBroker]:
    """A fresh wing broker (mutual TLS) for one test; the test may stop, kill and restart it."""
    mosquitto = WingBroker(demo_estate).start()
    try:
        yield mosquitto
    finally:
        mosquitto.remove()


@pytest.fixture
def plain_broker() -> Iterator[WingBroker]:
    """Plain TCP, anonymous: only for comparisons with the mutual-TLS broker."""
    mosquitto = WingBroker.plain().start()
    try:
        yield mosquitto
    finally:
        mosquitto.remove()

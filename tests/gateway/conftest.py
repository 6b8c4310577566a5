"""Fixtures: a real gateway process beside the real broker, and tablet peers that answer it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.gateway.tablet_peer import TabletPeer
from tests.support.broker import WingBroker
from tests.support.gateway import Gateway
from tests.support.os_accounts import make_account, staff_group  # noqa: F401  (fixtures)

TABLETS = [("T1", "C1", "L1"), ("T2", "C1", "L1"), ("T3", "C2", "L1")]


@pytest.fixture
def make_gateway(tmp_path: Path, broker: WingBroker) -> Iterator[Callable[..., Gateway]]:
    made: list[Gateway] = []

    def make(**settings: Any) -> Gateway:
        settings.setdefault("tablets", TABLETS)
        settings.setdefault("tls", broker.gateway_tls())
        gateway = Gateway(tmp_path / f"gateway{len(made)}", broker.host, broker.port, **settings)
        made.append(gateway)
        return gateway.start()

    yield make
    for gateway in made:
        gateway.close()


@pytest.fixture
def gateway(make_gateway: Callable[..., Gateway]) -> Gateway:
    return make_gateway()


@pytest.fixture
def peer(broker: WingBroker, gateway: Gateway) -> Callable[..., TabletPeer]:
    def make(device: str, **kwargs: Any) -> TabletPeer:
        kwargs.setdefault("tls", broker.context(broker.tablet_tls(device)))
        return TabletPeer(broker.host, broker.port, device, gateway.wing, gateway.trusted_keys,
                          **kwargs)

    return make

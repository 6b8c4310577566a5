"""The broker settings every MQTT client of the project is made from (`common.mqtt`)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from common.mqtt import BrokerConfig, make_client


async def test_a_client_waits_for_the_broker_as_long_as_its_settings_say() -> None:
    assert make_client(BrokerConfig(), "t1").timeout == 10.0
    assert make_client(BrokerConfig(timeout_s=45), "t1").timeout == 45.0


@pytest.mark.parametrize("timeout", [0, -1, 301])
def test_a_timeout_outside_what_makes_sense_is_refused(timeout: float) -> None:
    with pytest.raises(ValidationError, match="timeout_s"):
        BrokerConfig(timeout_s=timeout)

"""The time beacon: the signed wing time on `wing/time` every `time_beacon_s`, the tablets'
trusted clock; and one beacon soon after a tablet is born, which enforces curfew rules as if it
were curfew until it has a time it trusts."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from gateway.issuer import Issuer
from gateway.publisher import Publisher
from wire import topics

TIME_COALESCE_S = 0.5
"""A tablet born gets a time beacon within this, not up to `time_beacon_s` later."""


class TimeBeacon:
    def __init__(self, issuer: Issuer, publisher: Publisher, clock: Callable[[], int],
                 interval_s: float) -> None:
        self._issuer = issuer
        self._publisher = publisher
        self._clock = clock
        self.interval_s = interval_s

    async def beat(self) -> None:
        """One beacon now, valid for three intervals (two may be lost)."""
        envelope = self._issuer.time(self._clock(), int(self.interval_s * 3000))
        await self._publisher.publish(topics.WING_TIME, envelope, retain=False, qos=0)

    def soon(self, _device: str = "") -> None:
        """One beacon within `TIME_COALESCE_S`, however many tablets are born meanwhile."""
        self._publisher.soon(topics.WING_TIME, self.beat, delay_s=TIME_COALESCE_S)

    async def run(self) -> None:
        while True:
            await self.beat()
            await asyncio.sleep(self.interval_s)

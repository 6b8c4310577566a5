"""The parts a feature of the gateway works through (locks, policy, requests, rollouts): handed to
it by the composing service, so a feature never reaches into the service or another feature."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from gateway.fleet import Fleet
from gateway.issuer import Issuer
from gateway.publisher import Publisher
from gateway.store import Audit, Store
from gateway.store_thread import StoreThread


@dataclass(frozen=True, slots=True)
class Parts:
    wing: str
    fleet: Fleet
    """The tablets, what they report, their status."""
    issuer: Issuer
    """Signs, stores and caches documents."""
    publisher: Publisher
    """Sends them."""
    store: Store
    """The durable record: call it through `io`, never on the event loop."""
    io: StoreThread
    clock: Callable[[], int]

    async def audit(self, audit: Audit) -> None:
        """Append an entry that records no change of state (a refusal, a signature given)."""
        await self.io(self.store.append, audit)

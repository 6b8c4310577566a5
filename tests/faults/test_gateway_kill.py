"""Gateway SIGKILL between signing and publishing (issue 13, fault campaign): the next start
publishes exactly the stored version, never a re-signed newer one.

Deterministic: with the broker killed, a staff lock is signed and stored but cannot be published;
the gateway is then SIGKILLed, the broker and the gateway restarted, and the tablet must receive
the very envelope the gateway stored (same version, same bytes), with nothing newer issued.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable

import pytest

from tests.faults.conftest import SLOW
from tests.gateway.tablet_peer import TabletPeer
from tests.support.broker import WingBroker
from tests.support.gateway import Gateway

ROUNDS = 5 if SLOW else 1


def stored_desired(gateway: Gateway, device: str) -> tuple[int, bytes]:
    """The gateway's stored desired state for `device`: (version, envelope), read from its
    database (opened read-only, the gateway being dead)."""
    database = gateway.state_dir / "gateway.db"
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as db:
        version, envelope = db.execute(
            "SELECT version, envelope FROM desired WHERE device = ?", (device,)).fetchone()
    return int(version), bytes(envelope)


@pytest.mark.slow
@pytest.mark.timeout(1200 if SLOW else 300)
async def test_a_lock_signed_but_never_published_goes_out_exactly_as_stored_after_a_kill(
    broker: WingBroker, gateway: Gateway, peer: Callable[..., TabletPeer],
) -> None:
    for round_ in range(ROUNDS):
        broker.kill()
        locked = round_ % 2 == 0
        verb = "lock" if locked else "unlock"
        result = await gateway.astaff(verb, "--device", "T1", "--reason", f"round {round_}",
                                      "--json")
        assert result.returncode == 0, result.stderr
        issued = json.loads(result.stdout)["version"]
        gateway.kill()  # SIGKILL: the signed document is stored, never published
        version, envelope = stored_desired(gateway, "T1")
        assert version == issued

        broker.start()
        gateway.start()
        async with peer("T1") as tablet:
            await tablet.wait_until(lambda t=tablet, v=issued: t.desired_mark is not None
                                    and t.desired_mark.version >= v)
            desired = [r for r in tablet.received if r.topic == "tablet/T1/desired"]
        assert desired[-1].payload == envelope, "the tablet got a re-signed document"
        assert tablet.desired is not None and tablet.desired.lock.locked is locked
        assert stored_desired(gateway, "T1") == (version, envelope), "a newer version was issued"

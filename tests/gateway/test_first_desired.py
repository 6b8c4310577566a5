"""Every registered tablet gets a first desired state from its gateway: tablets stay locked as
"not set up" until they have one (agent.lock.NOT_SET_UP), so registering is what unlocks them."""

from __future__ import annotations

import pytest

from gateway.desired import FIRST_ORDER, first_desired
from tests.gateway.tablet_peer import TabletPeer
from wire import topics
from wire.documents import DesiredState
from wire.envelope import Accepted
from wire.topics import TabletChannel

# A hang is a failure, reported well before the suite's own limit.
pytestmark = pytest.mark.timeout(90)


def first_received(tablet: TabletPeer) -> DesiredState:
    [received] = tablet.on(topics.tablet(tablet.device, TabletChannel.DESIRED))
    assert isinstance(received.verdict, Accepted)
    assert isinstance(received.verdict.document, DesiredState)
    return received.verdict.document


def is_first(document: DesiredState, device: str) -> bool:
    return (
        document.version == 1
        and document.audience == f"device:{device}"
        and not document.lock.locked
        and (document.lock.by, document.lock.reason) == (FIRST_ORDER.by, FIRST_ORDER.reason)
    )


def test_the_first_desired_state_is_version_1_unlocked_by_the_system() -> None:
    document = first_desired("T1", 1_800_000_000_000, 60_000)
    assert is_first(document, "T1")
    assert document.expires == 1_800_000_000_000 + 60_000


async def test_a_seeded_tablet_finds_its_first_desired_state_retained_at_gateway_start(
    gateway, peer
) -> None:
    async with peer("T3", answer=False) as tablet:
        await tablet.wait_until(lambda: tablet.desired is not None)
    received = tablet.on(topics.tablet("T3", TabletChannel.DESIRED))[0]
    assert received.retain
    assert is_first(first_received(tablet), "T3")


async def test_registering_a_tablet_publishes_a_first_desired_state_that_unlocks_it(
    gateway, peer
) -> None:
    async with peer("T9") as tablet:
        gateway.register("T9", "C9", "L2")
        await tablet.wait_until(lambda: tablet.desired is not None)
    assert is_first(first_received(tablet), "T9")
    status = {t["id"]: t for t in gateway.staff_json("status")["tablets"]}
    assert status["T9"]["desired"]["version"] == 1
    assert status["T9"]["desired"]["locked"] is False


def test_the_first_desired_states_are_audited_as_the_systems_once_per_tablet(gateway) -> None:
    gateway.register("T9", "C9", "L2")
    gateway.register("T9", "C9", "L2")  # already so: no second first state
    gateway.stop()
    gateway.start()  # the seeded tablets already have theirs
    entries = [e for e in gateway.staff_json("audit")["entries"] if e["action"] == "first_desired"]
    assert [(e["actor"], e["target"], e["detail"]) for e in entries] == [
        ("system", "wing:A", {"devices": ["T1", "T2", "T3"]}),
        ("system", "wing:A", {"devices": ["T9"]}),
    ]


def test_a_restarted_gateway_keeps_the_first_desired_state_it_issued(gateway) -> None:
    gateway.stop()
    gateway.start()
    status = {t["id"]: t for t in gateway.staff_json("status")["tablets"]}
    assert [status[d]["desired"]["version"] for d in ("T1", "T2", "T3")] == [1, 1, 1]

"""The gateway is the durable record: what the broker forgets, the gateway gives back."""

from __future__ import annotations

import asyncio
import contextlib

import aiomqtt
import pytest

from gateway.publisher import BIRTH_SPACING_MS
from tests.gateway.tablet_peer import TabletPeer
from wire import topics
from wire.documents import DesiredState, Status
from wire.envelope import Accepted
from wire.topics import TabletChannel

# A hang is a failure, reported well before the suite's own limit.
pytestmark = pytest.mark.timeout(90)

T1_DESIRED = topics.tablet("T1", TabletChannel.DESIRED)


async def forget_retained(broker, topic: str) -> None:
    """What a broker that lost its retained store looks like to a tablet."""
    observer = broker.context(broker.observer_tls(3))
    async with aiomqtt.Client(broker.host, broker.port, tls_context=observer) as client:
        await client.publish(topic, b"", qos=1, retain=True)


async def test_a_tablet_birth_gets_the_desired_state_it_has_not_reported(gateway, peer, broker):
    assert gateway.cli("lock", "--device", "T1", "--reason", "search").returncode == 0
    await forget_retained(broker, T1_DESIRED)
    async with peer("T1") as tablet:
        await tablet.birth()
        await tablet.wait_until(lambda: tablet.desired is not None)
    assert tablet.desired.version == 2 and tablet.desired.lock.locked


async def test_a_tablet_in_sync_is_not_sent_its_state_again_on_birth(gateway, peer, broker):
    async with peer("T1") as t1:
        result = await gateway.acli("lock", "--device", "T1", "--reason", "x", "--wait", "20")
        assert result.returncode == 0, result.stderr
        # T2 is locked while away and never reports: it stays behind.
        assert (await gateway.acli("lock", "--device", "T2", "--reason", "y")).returncode == 0
        observer = broker.context(broker.observer_tls(1))
        async with aiomqtt.Client(broker.host, broker.port, tls_context=observer) as watcher, peer(
            "T2", answer=False
        ) as t2:
            await watcher.subscribe("tablet/+/desired", qos=1)
            await t1.birth(boot_id="boot-2")
            await t2.birth()  # the sentinel: handled after T1's birth, answered with a re-send
            live = []
            async with asyncio.timeout(15):
                async for message in watcher.messages:
                    if not message.retain:
                        live.append(str(message.topic))
                    if str(message.topic) == "tablet/T2/desired" and not message.retain:
                        break
    assert live == ["tablet/T2/desired"]


async def test_after_a_broker_sigkill_the_gateway_restores_every_retained_document(
    gateway, peer, broker
):
    assert gateway.cli("lock", "--device", "T1", "--reason", "search").returncode == 0
    assert gateway.cli("lock", "--wing", "--reason", "incident").returncode == 0
    broker.kill()
    broker.start()  # same port; everything since the last autosave (all of it) is gone
    async with peer("T1", answer=False) as tablet:
        await tablet.wait_until(
            lambda: tablet.desired is not None and tablet.lockdown is not None, timeout=30
        )
    assert tablet.desired.lock.reason == "search"
    assert tablet.lockdown.lock.reason == "incident"


async def test_a_wing_coming_back_gets_one_lockdown_republish_not_one_per_tablet(
    make_gateway, broker
):
    tablets = [(f"W{i}", "C1", "L1") for i in range(8)] + [("S", "C2", "L1")]
    gateway = make_gateway(tablets=tablets, lockdown_coalesce_s=3.0)
    assert gateway.cli("lock", "--wing", "--reason", "incident").returncode == 0
    assert gateway.cli("lock", "--device", "S", "--reason", "sentinel").returncode == 0
    await forget_retained(broker, topics.WING_LOCKDOWN)
    await forget_retained(broker, topics.tablet("S", TabletChannel.DESIRED))

    async with aiomqtt.Client(
        broker.host, broker.port, tls_context=broker.context(broker.observer_tls(1))
    ) as watcher, aiomqtt.Client(
        broker.host, broker.port, tls_context=broker.context(broker.observer_tls(2))
    ) as wing:
        await watcher.subscribe([(topics.WING_LOCKDOWN, 1), ("tablet/S/desired", 1)])

        async def birth(device: str, boot: str) -> None:
            status = Status(state="online", boot_id=boot, at=1)
            await wing.publish(topics.tablet(device, TabletChannel.STATUS),
                               status.model_dump_json().encode(), qos=1, retain=True)

        async def published_until_sentinel() -> list[str]:
            """Births of the sentinel S (always behind) are answered at once: a marker."""
            await birth("S", "boot")
            seen = []
            async for message in watcher.messages:
                if message.payload:
                    seen.append(str(message.topic))
                if str(message.topic) == "tablet/S/desired":
                    return seen
            raise AssertionError("watcher stopped")

        for device, _cell, _landing in tablets[:-1]:
            for boot in ("a", "b"):  # each tablet flaps: two births
                await birth(device, boot)
        # The births fall in the coalescing window after the lock's own publish: nothing now...
        assert await published_until_sentinel() == ["tablet/S/desired"]
        # ...and one re-publish when the window ends.
        async for message in watcher.messages:
            if str(message.topic) == topics.WING_LOCKDOWN and message.payload:
                break
        assert await published_until_sentinel() == ["tablet/S/desired"]


async def test_a_document_near_expiry_is_reissued_as_a_new_version_with_the_same_lock(
    make_gateway, broker
):
    gateway = make_gateway(desired_ttl_s=4, reissue_before_s=2)
    assert gateway.cli("lock", "--device", "T1", "--reason", "search").returncode == 0
    async with TabletPeer(broker.host, broker.port, "T1", gateway.wing, gateway.trusted_keys,
                          tls=broker.context(broker.tablet_tls("T1")),
                          answer=False) as tablet:

        def locks() -> list[Accepted]:
            return [r.verdict for r in tablet.on(T1_DESIRED)
                    if isinstance(r.verdict, Accepted) and r.verdict.document.lock.locked]

        await tablet.wait_until(lambda: len(locks()) >= 2)
        accepted = [r.verdict for r in tablet.on(T1_DESIRED) if isinstance(r.verdict, Accepted)]
    first, renewed = locks()[0].document, locks()[-1].document
    assert isinstance(renewed, DesiredState)
    assert renewed.version > first.version
    assert renewed.lock == first.lock
    assert renewed.expires > first.expires
    # Never one version with two digests: every accepted document has its own version.
    versions = [v.document.version for v in accepted]
    assert len(versions) == len(set(versions))


async def test_a_lock_given_while_the_broker_is_down_reaches_the_tablet_when_it_is_back(
    gateway, peer, broker
):
    broker.kill()
    result = await gateway.acli("lock", "--device", "T1", "--reason", "during outage")
    assert result.returncode == 0, result.stderr
    broker.start()
    async with peer("T1") as tablet:
        await tablet.wait_until(lambda: tablet.desired is not None, timeout=30)
    assert tablet.desired.lock.reason == "during outage"


async def test_a_tablet_born_again_and_again_is_reconciled_once_now_and_once_after_the_spacing(
    gateway, peer, broker
):
    assert gateway.cli("lock", "--device", "T2", "--reason", "away").returncode == 0
    observer = broker.context(broker.observer_tls(1))
    async with aiomqtt.Client(broker.host, broker.port, tls_context=observer) as watcher, peer(
        "T2", answer=False  # never reports: behind at every birth
    ) as t2:
        await watcher.subscribe("tablet/T2/desired", qos=1)
        for n in range(20):  # a reconnect loop
            await t2.birth(boot_id=f"boot-{n}")
        live = 0
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(BIRTH_SPACING_MS / 1000 + 3):
                async for message in watcher.messages:
                    live += not message.retain
    assert live == 2
    [entry] = [e for e in gateway.staff_json("status")["tablets"] if e["id"] == "T2"]
    assert entry["desired"]["version"] == 2  # nothing re-issued: the same document re-sent

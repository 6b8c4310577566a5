"""Bridge throughput: tablets' `reported` messages from a wing broker up to the prison broker over
the project's Mosquitto bridge, against the wing broker's own delivery to a local subscriber of
the same messages, in the same run (issue 20's benchmark).

One wing and the prison broker as the prison tests run them (`tests/prison/rig.py`: the generated
configurations, mutual TLS everywhere, the bridge with its own certificate), but the bridge dials
the prison broker directly (no test relay). `PUBLISHERS` tablet identities publish `MESSAGES`
real `ReportedState` documents between them, each to its own `tablet/<id>/reported` (QoS 1,
retained, as the agent does), each with `IN_FLIGHT` unacknowledged at a time (so the publishers
are not what limits the rate); two subscribers receive them at once: the wing gateway's identity
on the wing broker (the local rate, the floor) and the prison service's identity on the prison
broker (`wing/<W>/tablet/+/reported`, through the bridge). Each rate is messages / (time from
the first publish to the last message received there). Only the brokers, the publishers and the
two subscribers run: no gateway, agent or prison service.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import tempfile
import time
from pathlib import Path

import aiomqtt

from bench.stats import Row
from common.mqtt import NODELAY, BrokerConfig, make_client, tls_context
from tests.prison.rig import PrisonRig
from wire import prison as wp
from wire import topics
from wire.documents import LockView, ReportedState

MESSAGES = 5000
PUBLISHERS = 10
IN_FLIGHT = 100
TIMEOUT_S = 300.0
WING = "A"


def _tablets() -> list[str]:
    return [f"{WING}-{i:02d}" for i in range(1, PUBLISHERS + 1)]


def _publisher(address: BrokerConfig, tablet: str) -> aiomqtt.Client:
    assert address.tls is not None
    return aiomqtt.Client(address.host, address.port, identifier=tablet,
                          protocol=aiomqtt.ProtocolVersion.V5,
                          tls_context=tls_context(address.tls), socket_options=NODELAY,
                          max_inflight_messages=IN_FLIGHT, timeout=60)


def _payload(tablet: str, number: int) -> bytes:
    return ReportedState(device=tablet, desired_version=number, lockdown_version=number,
                         lock=LockView(locked=bool(number % 2), source="wing", by="bench",
                                       reason="throughput", since=number),
                         profile="standard", at=number, boot_id="bench-boot",
                         agent_version="bench").model_dump_json().encode()


class Lost(RuntimeError):
    """Not every message arrived in time: a broker's queue limit dropped some, or it stalled."""


async def _receive(client: aiomqtt.Client, count: int, started: list[float], where: str) -> float:
    """Seconds from the first publish until `count` messages arrived."""
    received = 0
    try:
        async with asyncio.timeout(TIMEOUT_S):
            async for message in client.messages:
                if not message.retain:  # a retained copy from before the run is not one of ours
                    received += 1
                    if received == count:
                        return time.perf_counter() - started[0]
    except TimeoutError:
        pass
    raise Lost(f"{where}: {received} of {count} messages arrived within {TIMEOUT_S:.0f} s "
               "(more than the brokers' max_queued_messages in flight at once?)")


async def _measure(rig: PrisonRig, messages: int, started: list[float]) -> tuple[float, float, int]:
    """Rates of one run; `started` gets the first publish's time once the measurement begins."""
    demo = rig.demos[WING]
    broker = rig.brokers[WING]
    wing_address = BrokerConfig(host=broker.host, port=broker.port, tls=demo.gateway_tls())
    tablets = _tablets()
    async with contextlib.AsyncExitStack() as stack:
        local = await stack.enter_async_context(make_client(wing_address, f"gateway-{WING}"))
        prison = await stack.enter_async_context(
            make_client(rig.prison_address(rig.service_tls()), "bench-prison"))
        publishers = [await stack.enter_async_context(_publisher(BrokerConfig(
            host=broker.host, port=broker.port, tls=demo.tablet_tls(t)), t)) for t in tablets]
        await local.subscribe(topics.tablet_filter(topics.TabletChannel.REPORTED), qos=1)
        await prison.subscribe(wp.at_prison(WING, "tablet/+/reported"), qos=1)
        # The bridge carries a message published now (a probe, not counted) before we start.
        first = topics.tablet(tablets[0], topics.TabletChannel.REPORTED)
        await publishers[0].publish(first, _payload(tablets[0], 0), qos=1, retain=True)
        async with asyncio.timeout(60):
            async for _ in prison.messages:
                break
        while len(local.messages):
            await anext(local.messages)
        work = [(publishers[n % PUBLISHERS], tablets[n % PUBLISHERS],
                 _payload(tablets[n % PUBLISHERS], n)) for n in range(1, messages + 1)]
        windows = {t: asyncio.Semaphore(IN_FLIGHT) for t in tablets}

        async def publish(client: aiomqtt.Client, tablet: str, payload: bytes) -> None:
            async with windows[tablet]:
                await client.publish(topics.tablet(tablet, topics.TabletChannel.REPORTED),
                                     payload, qos=1, retain=True, timeout=60)

        started.append(time.perf_counter())
        local_s = asyncio.create_task(_receive(local, messages, started, "wing subscriber"))
        prison_s = asyncio.create_task(_receive(prison, messages, started, "prison subscriber"))
        await asyncio.gather(*(publish(*w) for w in work))
        return await local_s, await prison_s, len(work[0][2])


async def _run(messages: int) -> tuple[float, float, int]:
    shm = Path("/dev/shm")
    root = Path(tempfile.mkdtemp(prefix="cellbridge-bench-bridge-",
                                 dir=shm if shm.is_dir() else None))
    rig = PrisonRig(root, {WING: PUBLISHERS}, relayed=False)
    rig.start_brokers()
    try:
        for _ in range(100):  # the bridge connects on its own schedule
            started: list[float] = []
            try:
                return await _measure(rig, messages, started)
            except (aiomqtt.MqttError, TimeoutError):
                if started:  # a failure once measuring is a result, not a bridge still coming up
                    raise
            await asyncio.sleep(0.5)
        raise RuntimeError("the bridge did not carry a message")
    finally:
        rig.stop_brokers()
        shutil.rmtree(root, ignore_errors=True)


def run(messages: int = MESSAGES) -> list[Row]:
    local_s, prison_s, size = asyncio.run(_run(messages))
    local_rate, bridge_rate = messages / local_s, messages / prison_s
    name = f"bridge throughput, {messages} `reported` ({size} B, QoS 1, mTLS)"
    return [Row(name, "msgs/s wing → prison (over the bridge)", f"{bridge_rate:.0f} msgs/s",
                f"{local_rate:.0f} msgs/s (wing broker → local subscriber)",
                f"{bridge_rate / local_rate:.2f}×", "")]


if __name__ == "__main__":
    import sys

    from bench.stats import markdown

    print(markdown(run(*[int(a) for a in sys.argv[1:2]])))

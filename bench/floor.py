"""The floor: raw MQTT on the same broker, no signing, no storage, no gateway — what the lock path
would cost with nothing but the broker. Topics are ones a tablet's ACL allows (`wing/…` to read,
its own `tablet/<id>/telemetry` to write), so the same floor runs on the mutual-TLS wing broker.

`round_trips`: observer → `wing/bench-rtt` → one tablet echoes → observer, one at a time.
`fan_out`: one publish on `wing/bench-all`; every tablet answers; the time until each answer
arrives. This is a wing lockdown with nothing but the broker.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import Mapping

import aiomqtt

from common.broker import Mosquitto
from wire import topics

CONNECT_CONCURRENCY = 50
NODELAY = [(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)]
ASK_ONE = "wing/bench-rtt"
ASK_ALL = "wing/bench-all"


def raw_client(broker: Mosquitto, identifier: str) -> aiomqtt.Client:
    """A plain MQTT 5 client for an anonymous broker, as lean as the agent's (TCP_NODELAY)."""
    return aiomqtt.Client(
        broker.host,
        broker.port,
        identifier=identifier,
        protocol=aiomqtt.ProtocolVersion.V5,
        socket_options=NODELAY,
    )


async def connect_all(clients: list[aiomqtt.Client], stack: contextlib.AsyncExitStack) -> None:
    gate = asyncio.Semaphore(CONNECT_CONCURRENCY)

    async def one(client: aiomqtt.Client) -> None:
        async with gate:
            await stack.enter_async_context(client)

    await asyncio.gather(*(one(c) for c in clients))


def _answer_topic(tablet: str) -> str:
    return topics.tablet(tablet, topics.TabletChannel.TELEMETRY)


async def round_trips(
    tablet: str, echo: aiomqtt.Client, observer: aiomqtt.Client, count: int
) -> list[float]:
    """Seconds per observer → tablet → observer round trip (QoS 1), `count` samples."""
    async with contextlib.AsyncExitStack() as stack:
        await connect_all([echo, observer], stack)
        await echo.subscribe(ASK_ONE, qos=1)
        await observer.subscribe(_answer_topic(tablet), qos=1)

        async def serve() -> None:
            # Exactly `count` echoes, then done: no cancellation (which aiomqtt's publish can
            # swallow on Python 3.11) is needed to stop it.
            asks = echo.messages
            for _ in range(count):
                message = await anext(asks)
                await echo.publish(_answer_topic(tablet), message.payload, qos=1)

        server = asyncio.create_task(serve())
        samples = []
        replies = observer.messages
        for index in range(count):
            started = time.perf_counter()
            await observer.publish(ASK_ONE, str(index).encode(), qos=1)
            await anext(replies)
            samples.append(time.perf_counter() - started)
        await server
        return samples


async def fan_out(tablets: Mapping[str, aiomqtt.Client], observer: aiomqtt.Client) -> list[float]:
    """Seconds from one publish until each tablet's answer arrives at the observer."""
    async with contextlib.AsyncExitStack() as stack:
        await connect_all([*tablets.values(), observer], stack)
        await observer.subscribe(topics.tablet_filter(topics.TabletChannel.TELEMETRY), qos=1)
        await asyncio.gather(*(c.subscribe(ASK_ALL, qos=1) for c in tablets.values()))

        async def answer(tablet: str, client: aiomqtt.Client) -> None:
            message = await anext(client.messages)
            await client.publish(_answer_topic(tablet), message.payload, qos=1)

        answering = [asyncio.create_task(answer(t, c)) for t, c in tablets.items()]
        started = time.perf_counter()
        await observer.publish(ASK_ALL, b"lock", qos=1)
        samples: list[float] = []
        async for _message in observer.messages:
            samples.append(time.perf_counter() - started)
            if len(samples) == len(tablets):
                break
        await asyncio.gather(*answering)
        return samples


async def fan_out_plain(broker: Mosquitto, tablets: int) -> list[float]:
    """`fan_out` on an anonymous plain-TCP broker with `tablets` raw clients."""
    clients = {f"T-{i:04d}": raw_client(broker, f"floor-{i}") for i in range(1, tablets + 1)}
    return await fan_out(clients, raw_client(broker, "floor-observer"))

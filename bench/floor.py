"""The floor: raw MQTT on the same broker, no signing, no storage, no gateway.

`round_trips`: one publisher, one echo client; publish → echo → receive, one at a time.
`fan_out`: one retained-free publish to N echo clients, each answering on its own topic; the time
until each answer arrives. This is what a wing lockdown costs with nothing but the broker.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time

import aiomqtt

from cellbridge.broker import Mosquitto

CONNECT_CONCURRENCY = 50
NODELAY = [(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)]


def raw_client(broker: Mosquitto, identifier: str) -> aiomqtt.Client:
    """A plain MQTT 5 client, as lean as the agent's and the gateway's own (TCP_NODELAY)."""
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


async def round_trips(broker: Mosquitto, count: int) -> list[float]:
    """Seconds per publish→echo→receive round trip (QoS 1), `count` samples."""
    async with contextlib.AsyncExitStack() as stack:
        echo = raw_client(broker, "floor-echo")
        caller = raw_client(broker, "floor-caller")
        await connect_all([echo, caller], stack)
        await echo.subscribe("floor/ping", qos=1)
        await caller.subscribe("floor/pong", qos=1)

        async def serve() -> None:
            async for message in echo.messages:
                await echo.publish("floor/pong", message.payload, qos=1)

        server = asyncio.create_task(serve())
        samples = []
        replies = caller.messages
        for index in range(count):
            started = time.perf_counter()
            await caller.publish("floor/ping", str(index).encode(), qos=1)
            await anext(replies)
            samples.append(time.perf_counter() - started)
        server.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await server
        return samples


async def fan_out(broker: Mosquitto, tablets: int) -> list[float]:
    """Seconds from one publish until each of `tablets` echo clients' answers arrive."""
    async with contextlib.AsyncExitStack() as stack:
        clients = [
            raw_client(broker, f"floor-{i}") for i in range(tablets)
        ]
        collector = raw_client(broker, "floor-collector")
        await connect_all([*clients, collector], stack)
        await collector.subscribe("floor/answer/+", qos=1)
        await asyncio.gather(*(c.subscribe("floor/all", qos=1) for c in clients))

        async def answer(index: int, client: aiomqtt.Client) -> None:
            message = await anext(client.messages)
            await client.publish(f"floor/answer/{index}", message.payload, qos=1)

        answering = [asyncio.create_task(answer(i, c)) for i, c in enumerate(clients)]
        started = time.perf_counter()
        await collector.publish("floor/all", b"lock", qos=1)
        samples = []
        async for _message in collector.messages:
            samples.append(time.perf_counter() - started)
            if len(samples) == tablets:
                break
        await asyncio.gather(*answering)
        return samples

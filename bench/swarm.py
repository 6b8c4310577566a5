"""The fair floor for a wing's fan-out: what a user would pick instead of 2,000 paho clients in
one Python process — a swarm of compiled clients, Mosquitto's own. Each tablet is a
`mosquitto_sub | mosquitto_pub -l` pipeline with the tablet's own certificate: every message
on `wing/bench-all` is echoed to the tablet's own `tablet/<id>/telemetry`, as in `bench.floor`.

The swarm is warmed with probes (published until every tablet has echoed one: all are
connected and subscribed), then one `go` is published and the time until each tablet's echo
reaches the observer is the sample, exactly as `bench.floor.fan_out` measures it.
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import time

import aiomqtt

from bench.floor import ASK_ALL, answer_topic
from common.mqtt import BrokerConfig
from wire import topics

PROBE_EVERY_S = 1.0
READY_TIMEOUT_S = 300.0


def _tls_args(broker: BrokerConfig) -> list[str]:
    if broker.tls is None:
        return []
    tls = broker.tls
    return ["--cafile", str(tls.ca), "--cert", str(tls.cert), "--key", str(tls.key)]


def _pipeline(tablet: str, broker: BrokerConfig) -> list[subprocess.Popen[bytes]]:
    common = ["-h", broker.host, "-p", str(broker.port), "-q", "1", *_tls_args(broker)]
    sub = subprocess.Popen(
        ["mosquitto_sub", *common, "-i", f"{tablet}", "-t", ASK_ALL, "-F", "%p"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert sub.stdout is not None
    pub = subprocess.Popen(
        ["mosquitto_pub", *common, "-i", f"{tablet}-echo", "-t", answer_topic(tablet), "-l"],
        stdin=sub.stdout, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    sub.stdout.close()
    return [sub, pub]


async def fan_out(tablets: dict[str, BrokerConfig], observer: aiomqtt.Client,
                  spawn_concurrency: int = 100) -> list[float]:
    """Seconds from one publish until each compiled tablet's echo arrives at the observer."""
    processes: list[subprocess.Popen[bytes]] = []
    try:
        async with observer:
            await observer.subscribe(topics.tablet_filter(topics.TabletChannel.TELEMETRY), qos=1)
            for index, (tablet, broker) in enumerate(tablets.items()):
                processes += _pipeline(tablet, broker)
                if index % spawn_concurrency == 0:
                    await asyncio.sleep(0)
            ready: set[str] = set()
            samples: list[float] = []
            replies = observer.messages

            async def probe() -> None:
                number = 0
                while True:
                    await observer.publish(ASK_ALL, f"probe-{number}".encode(), qos=1)
                    number += 1
                    await asyncio.sleep(PROBE_EVERY_S)

            probing = asyncio.create_task(probe())
            try:
                async with asyncio.timeout(READY_TIMEOUT_S):
                    while len(ready) < len(tablets):
                        message = await anext(replies)
                        ready.add(str(message.topic).split("/")[1])
            finally:
                probing.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await probing
            await asyncio.sleep(PROBE_EVERY_S * 2)  # the last probes' echoes drain
            started = time.perf_counter()
            await observer.publish(ASK_ALL, b"go", qos=1)
            async with asyncio.timeout(120):
                while len(samples) < len(tablets):
                    message = await anext(replies)
                    if bytes(message.payload) == b"go":  # type: ignore[arg-type]
                        samples.append(time.perf_counter() - started)
            return samples
    finally:
        for process in processes:
            process.kill()
        for process in processes:
            process.wait()


"""The fair floor for a wing's fan-out: what a user would pick instead of 2,000 paho clients in
one Python process — a swarm of compiled clients on Mosquitto's own client library. Each tablet
is one process (bench/echo.c on libmosquitto, built with `cc` on first use) with the tablet's
own certificate: every message on `wing/bench-all` is echoed to its own
`tablet/<id>/telemetry`, as in `bench.floor`. (A `mosquitto_sub | mosquitto_pub -l` pipeline
would need two connections per tablet, and the wing broker takes a client's id from its
certificate: the two would take each other's session over.)

The swarm is warmed with probes (published until every tablet has echoed one: all are
connected and subscribed), then one `go` is published and the time until each tablet's echo
reaches the observer is the sample, exactly as `bench.floor.fan_out` measures it.
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import tempfile
import time
from pathlib import Path

import aiomqtt

from bench.floor import ASK_ALL
from common.mqtt import BrokerConfig
from wire import topics

PROBE_EVERY_S = 1.0
READY_TIMEOUT_S = 300.0


ECHO_SOURCE = Path(__file__).with_name("echo.c")


def build_echo(directory: Path) -> Path:
    """Compile the echo client (libmosquitto is on the image; its headers need not be)."""
    binary = directory / "echo"
    subprocess.run(["cc", "-O2", "-o", str(binary), str(ECHO_SOURCE), "-l:libmosquitto.so.1"],
                   check=True)
    return binary


def _echo(binary: Path, tablet: str, broker: BrokerConfig) -> subprocess.Popen[bytes]:
    argv = [str(binary), broker.host, str(broker.port), tablet]
    if broker.tls is not None:
        argv += [str(broker.tls.ca), str(broker.tls.cert), str(broker.tls.key)]
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


async def fan_out(tablets: dict[str, BrokerConfig], observer: aiomqtt.Client) -> list[float]:
    """Seconds from one publish until each compiled tablet's echo arrives at the observer."""
    processes: list[subprocess.Popen[bytes]] = []
    with tempfile.TemporaryDirectory(prefix="cellbridge-swarm-") as directory:
        binary = build_echo(Path(directory))
        # Spawned before the observer connects: 2,000 spawns take longer than its keepalive.
        processes = [_echo(binary, tablet, broker) for tablet, broker in tablets.items()]
    try:
        async with observer:
            await observer.subscribe(topics.tablet_filter(topics.TabletChannel.TELEMETRY), qos=1)
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


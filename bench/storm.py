"""A reconnect storm (issue 20's benchmark): a wing broker is SIGKILLed under `tablets`
connected agents and started again on the same port; measured, from the restart, the time until
every agent is connected again and until the gateway holds a `reported` from every tablet sent
after the restart (the tablets' true state, the republish-on-online path included), with the
broker process's peak CPU (per 1-s window, 100 % = one core) and peak resident memory sampled
from /proc while it happens.

The floor, in the same run and on the same broker: as many raw MQTT clients connecting all at
once and each publishing one retained QoS 1 message — the broker's own cost of taking the
connections, without the tablets' jittered backoff (which spreads the storm on purpose: each
agent's waits grow to `backoff_max_s` while the broker is gone) or their work.

The gateway runs in this process, the tablets in `TABLET_PROCESSES` child processes, all on
plain TCP like the policy benchmark: the rows compare the
storm with its floor, not with a deployment where TLS handshakes add to both.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
import tempfile
import time
from pathlib import Path

from bench import floor
from bench.probe import patient, probes, split
from bench.stats import Row, ms
from bench.wing_rig import bench_wing
from cellbridge.fleet import settle, wait_until
from common.broker import Mosquitto
from common.mqtt import BrokerConfig
from wire import topics
from wire.documents import Status

DOWN_S = 2.0
"""How long the broker stays gone after every agent has noticed."""
SETTLE_S = 900.0
TABLET_PROCESSES = 4
"""The tablets run in child processes (`bench.probe`), the gateway in this one."""
SAMPLE_S = 0.1
TICKS = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


class BrokerSampler:
    """Peak CPU (per 1-s window) and peak RSS of one process, read from /proc."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak_cpu = 0.0
        self.peak_rss = 0
        self._window: list[tuple[float, int]] = []

    def sample(self) -> None:
        try:
            fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
            rss = int(Path(f"/proc/{self.pid}/statm").read_text().split()[1]) * PAGE
        except (OSError, IndexError, ValueError):
            return
        ticks = int(fields[11]) + int(fields[12])  # utime + stime
        now = time.monotonic()
        self.peak_rss = max(self.peak_rss, rss)
        self._window.append((now, ticks))
        while self._window and now - self._window[0][0] > 1.0:
            start, first = self._window.pop(0)
            self.peak_cpu = max(self.peak_cpu, (ticks - first) / TICKS / (now - start))

    async def run(self) -> None:
        while True:
            self.sample()
            await asyncio.sleep(SAMPLE_S)


def _pid(broker: Mosquitto) -> int:
    assert broker.process is not None
    return broker.process.pid


async def _raw_connect_floor(broker: Mosquitto, tablets: int) -> tuple[float, BrokerSampler]:
    """Connect `tablets` raw clients at once, each publishing one retained message; the time
    until all are acknowledged."""
    sampler = BrokerSampler(_pid(broker))
    watching = asyncio.create_task(sampler.run())

    async def one(index: int, stack: contextlib.AsyncExitStack) -> None:
        client = await stack.enter_async_context(floor.raw_client(broker, f"storm-floor-{index}"))
        await client.publish(f"bench/storm/{index}", b"online", qos=1, retain=True)

    try:
        async with contextlib.AsyncExitStack() as stack:
            started = time.perf_counter()
            await asyncio.gather(*(one(i, stack) for i in range(tablets)))
            took = time.perf_counter() - started
        return took, sampler
    finally:
        watching.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watching


async def _births(broker: Mosquitto, ids: set[str], since_ms: int) -> float:
    """When (`perf_counter`) every tablet in `ids` has said `online` since `since_ms`, heard
    at the broker itself: the gateway may come back after the tablets and then only sees
    their retained births, which do not tell it when a tablet came back."""
    waiting = set(ids)
    async with floor.raw_client(broker, "storm-observer") as client:
        await client.subscribe(topics.tablet_filter(topics.TabletChannel.STATUS), qos=1)
        async for message in client.messages:
            status = Status.model_validate_json(bytes(message.payload))  # type: ignore[arg-type]
            parsed = topics.parse_tablet(str(message.topic))
            if parsed and status.state == "online" and status.at >= since_ms:
                waiting.discard(parsed.device_id)
            if not waiting:
                return time.perf_counter()
    raise RuntimeError("the broker closed the observer's session")


async def _storm(tablets: int, workdir: Path) -> dict[str, float]:
    broker = Mosquitto(workdir / "broker").start()
    try:
        floor_s, floor_sampler = await _raw_connect_floor(broker, tablets)
        broker_config = BrokerConfig(host=broker.host, port=broker.port)
        wing = bench_wing(workdir, broker_config, tablets)
        service = wing.service
        ids = [c.device_id for c in wing.configs]
        gateway = asyncio.create_task(service.run())
        try:
            async with probes(*split([patient(c) for c in wing.configs], TABLET_PROCESSES)):
                await wait_until(lambda: len(service.reported) == tablets, SETTLE_S)
                settle()
                broker.kill()
                await asyncio.sleep(DOWN_S)
                restart_ms = time.time_ns() // 1_000_000
                started = time.perf_counter()
                broker.start()
                sampler = BrokerSampler(_pid(broker))
                watching = asyncio.create_task(sampler.run())
                online = asyncio.create_task(_births(broker, set(ids), restart_ms))
                try:
                    connected = await asyncio.wait_for(online, SETTLE_S) - started
                    await wait_until(lambda: all(
                        (r := service.reported.get(d)) is not None and r.at >= restart_ms
                        for d in ids), SETTLE_S)
                    reported = time.perf_counter() - started
                finally:
                    online.cancel()
                    watching.cancel()
                    for task in (online, watching):
                        with contextlib.suppress(asyncio.CancelledError):
                            await task
            return {
                "floor_s": floor_s, "floor_cpu": floor_sampler.peak_cpu,
                "floor_rss": floor_sampler.peak_rss,
                "connected_s": connected, "reported_s": reported,
                "cpu": sampler.peak_cpu, "rss": sampler.peak_rss,
                "backoff_max_s": broker_config.backoff_max_s,
            }
        finally:
            gateway.cancel()
            with contextlib.suppress(BaseException):
                await gateway
            service.close()
    finally:
        broker.kill()


def run(tablets: int = 2000) -> list[Row]:
    """The storm of `tablets` in-process agents after a broker SIGKILL and restart."""
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 65536), hard))
    shm = Path("/dev/shm")
    with tempfile.TemporaryDirectory(prefix="cbs-", dir=shm if shm.is_dir() else None
                                     ) as directory:
        workdir = Path(directory)
        (workdir / "s").mkdir()
        got = asyncio.run(_storm(tablets, workdir))
    floor_label = f"{ms(got['floor_s'])} {tablets} raw clients connect + publish at once"
    name = f"reconnect storm, {tablets} tablets"
    mib = 1024 * 1024
    return [
        Row(name, "broker restart → all agents connected", ms(got["connected_s"]), floor_label,
            f"{got['connected_s'] / got['floor_s']:.1f}×",
            f"converges; jittered backoff ≤ {got['backoff_max_s']:.0f} s spreads it"),
        Row(name, "broker restart → every tablet's `reported` at the gateway",
            ms(got["reported_s"]), floor_label, f"{got['reported_s'] / got['floor_s']:.1f}×",
            "converges without overload"),
        Row(name, "broker peak CPU (1-s window) / peak RSS",
            f"{got['cpu'] * 100:.0f} % / {got['rss'] / mib:.1f} MiB",
            f"{got['floor_cpu'] * 100:.0f} % / {got['floor_rss'] / mib:.1f} MiB (the floor's)",
            "", "reported beside"),
    ]


if __name__ == "__main__":
    import sys

    from bench.stats import markdown

    print(markdown(run(int(sys.argv[1]) if len(sys.argv) > 1 else 2000)))

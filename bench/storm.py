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

Everything runs in this process on plain TCP, like the policy benchmark: the rows compare the
storm with its floor, not with a deployment where TLS handshakes add to both.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from agent.config import AgentConfig
from agent.service import Agent
from bench import floor
from bench.stats import Row, ms
from cellbridge.fleet import SharedCheck, settle, wait_until
from common.broker import Mosquitto
from common.mqtt import BrokerConfig
from gateway.config import GatewayConfig, TabletSeed
from gateway.service import GatewayService
from wire.envelope import key_id, private_key_to_pem

DOWN_S = 2.0
"""How long the broker stays gone after every agent has noticed."""
SETTLE_S = 900.0
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


async def _storm(tablets: int, workdir: Path) -> dict[str, float]:
    asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor(max_workers=64))
    key = Ed25519PrivateKey.generate()
    key_path = workdir / "gateway-key.pem"
    key_path.write_bytes(private_key_to_pem(key))
    trusted: dict[str, Ed25519PublicKey] = {
        key_id(key.public_key()): SharedCheck(key.public_key())}
    broker = Mosquitto(workdir / "broker").start()
    try:
        floor_s, floor_sampler = await _raw_connect_floor(broker, tablets)
        broker_config = BrokerConfig(host=broker.host, port=broker.port)
        ids = [f"t{i:05d}" for i in range(tablets)]
        service = GatewayService(GatewayConfig(
            wing="A", state_dir=workdir / "gateway", signing_key=key_path,
            api_socket=workdir / "gw.sock", broker=broker_config,
            tablets=[TabletSeed(id=d, cell=f"c{i // 2}", landing=f"l{i // 50}")
                     for i, d in enumerate(ids)],
        ))
        agents = [
            Agent(AgentConfig(device_id=d, wing="A", state_dir=workdir / "tablets" / d,
                              socket=workdir / "s" / f"{d}.sock", gateway_keys=[key_path],
                              broker=broker_config), trusted_keys=trusted)
            for d in ids
        ]
        tasks = [asyncio.create_task(service.run())]
        gate = asyncio.Semaphore(50)

        async def run_agent(agent: Agent) -> None:
            async with gate:
                tasks.append(asyncio.create_task(agent.run()))
                await wait_until(lambda: agent.connected, SETTLE_S)

        try:
            await asyncio.wait_for(asyncio.gather(*(run_agent(a) for a in agents)), SETTLE_S)
            await wait_until(lambda: len(service.reported) == tablets, SETTLE_S)
            settle()
            broker.kill()
            await wait_until(lambda: not any(a.connected for a in agents), 60)
            await asyncio.sleep(DOWN_S)
            restart_ms = time.time_ns() // 1_000_000
            started = time.perf_counter()
            broker.start()
            sampler = BrokerSampler(_pid(broker))
            watching = asyncio.create_task(sampler.run())
            try:
                await wait_until(lambda: all(a.connected for a in agents), SETTLE_S)
                connected = time.perf_counter() - started
                await wait_until(lambda: all(
                    (r := service.reported.get(d)) is not None and r.at >= restart_ms
                    for d in ids), SETTLE_S)
                reported = time.perf_counter() - started
            finally:
                watching.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await watching
            return {
                "floor_s": floor_s, "floor_cpu": floor_sampler.peak_cpu,
                "floor_rss": floor_sampler.peak_rss,
                "connected_s": connected, "reported_s": reported,
                "cpu": sampler.peak_cpu, "rss": sampler.peak_rss,
                "backoff_max_s": broker_config.backoff_max_s,
            }
        finally:
            for task in tasks:
                task.cancel()
            with contextlib.suppress(BaseException):
                await asyncio.gather(*tasks, return_exceptions=True)
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

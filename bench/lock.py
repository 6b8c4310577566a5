"""The lock path (docs/architecture.md) against its floor, on the real broker, in one run.

- floor: raw MQTT through the same broker — a publish→echo round trip, and one publish fanned out
  to N clients that each answer (`bench.floor`);
- one tablet: `POST /v1/lock` for one tablet with `wait_s` until the gateway has its `reported`:
  what `cellbridge staff lock --device X --wait` costs, HTTP included;
- wing lockdown: one `POST /v1/lock` for the wing; each tablet's `reported` arrival time, and the
  time until the gateway confirms them all.

The tablets are real `Agent`s in child processes (`bench.probe`): the single-tablet locks go to
`PROBES` probe tablets in a child of their own — in one loop with the wing they would wait, at
every time beacon, behind the whole wing's handling of it (the simulation, not the path: a
real tablet has its own CPU) — and the rest of the wing runs in `WING_PROCESSES` children. The
stalls printed for the slowest samples are this process's (the observers and the API client).

Their state is on tmpfs
where there is one: on real hardware each tablet fsyncs to its own storage in parallel, so
serialising N fsyncs through one process's disk would measure this machine's disk, not the path.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import time
from pathlib import Path

import aiomqtt
import click
import httpx

from bench import floor, swarm
from bench.probe import patient, probes, renice, split
from bench.scratch import scratch
from bench.stalls import Stalls
from bench.stats import Row, ms, summary
from cellbridge.fleet import settle
from cellbridge.wing import LocalWing
from common.mqtt import make_client
from provisioning.demo_estate import OPERATORS
from wire import topics

TARGET_ONE_P99_S = 0.05
TARGET_RATIO = 1.5


class Wing:
    """A LocalWing with the clients the benchmark needs: an observer with full access."""

    def __init__(self, root: Path, tablets: int, tls: bool) -> None:
        self.local = LocalWing(root / "wing", tablets, tls=tls, state_root=root / "tablets")
        self.local.start_broker()
        self.configs = {t: self.local.agent_config(t) for t in self.local.tablets}
        """Each tablet's configuration, read once (each reads the estate's inventory)."""

    def observer(self, index: int = 0) -> aiomqtt.Client:
        config = self.local.broker_config(None)
        if self.local.tls:
            tls = self.local.estate.operator_tls(OPERATORS[index])
            config = config.model_copy(update={"tls": tls})
        return make_client(config, OPERATORS[index])

    def tablet_client(self, tablet_id: str) -> aiomqtt.Client:
        """A raw client with the tablet's own identity (from its enrolment bundle)."""
        return make_client(self.configs[tablet_id].broker, tablet_id)


async def floor_round_trips(wing: Wing, count: int) -> list[float]:
    tablet = wing.local.tablets[0]
    return await floor.round_trips(tablet, wing.tablet_client(tablet), wing.observer(), count)


async def floor_fan_out(wing: Wing) -> list[float]:
    clients = {t: wing.tablet_client(t) for t in wing.local.tablets}
    return await floor.fan_out(clients, wing.observer())


BEACON_PERIOD_S = 30.0
"""The gateway's default `time_beacon_s`: single-tablet samples span more than one period, so a
stall when the beacon reaches the wing cannot hide between samples."""
PACE_S = 0.05
SETTLE_S = 5.0
PROBES = 4
"""Tablets that take the single-tablet locks, on a loop of their own (`bench.probe`)."""
WING_PROCESSES = 4
"""Children the rest of the wing runs in (500 tablets each at 2,000)."""
WING_NICE = 10
"""The wing's niceness while the single-tablet locks are sampled (0 again for its lockdown)."""


async def compiled_fan_out(wing: Wing) -> list[float]:
    return await swarm.fan_out({t: c.broker for t, c in wing.configs.items()}, wing.observer())


async def one_tablet_locks(api: httpx.AsyncClient, tablets: list[str], count: int,
                           span_s: float = BEACON_PERIOD_S * 1.2,
                           starts: list[float] | None = None) -> list[float]:
    """At least `count` locks, one every `PACE_S`, for at least `span_s` seconds (each one's
    start appended to `starts`)."""
    samples: list[float] = []
    loop = asyncio.get_running_loop()
    until = loop.time() + span_s
    index = -1
    while len(samples) < count or loop.time() < until:
        index += 1
        next_at = loop.time() + PACE_S
        tablet = tablets[index % len(tablets)]
        body = {"devices": [tablet], "locked": index % 2 == 0, "reason": "benchmark",
                "by": "bench", "wait_s": 10}
        started = time.perf_counter()
        response = await api.post("/v1/lock", json=body)
        elapsed = time.perf_counter() - started
        outcome = response.json()
        if response.status_code != 200 or outcome["pending"]:
            raise RuntimeError(f"lock of {tablet} not confirmed: {outcome}")
        samples.append(elapsed)
        if starts is not None:
            starts.append(started)
        await asyncio.sleep(max(0.0, next_at - loop.time()))
    return samples


async def _watched_locks(wing: Wing, api: httpx.AsyncClient, count: int, tablets: list[str]
                         ) -> tuple[list[float], list[float], list[float], Stalls]:
    """`one_tablet_locks`, with the time beacons' arrivals and the loop's stalls recorded."""
    beacons: list[float] = []
    starts: list[float] = []
    async with wing.observer(2) as watcher:
        await watcher.subscribe(topics.WING_TIME, qos=0)

        async def watch() -> None:
            async for _message in watcher.messages:
                beacons.append(time.perf_counter())

        watching = asyncio.create_task(watch())
        stalls = Stalls().start()
        try:
            one = await one_tablet_locks(api, tablets, count, starts=starts)
        finally:
            stalls.stop()
            watching.cancel()
            with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
                await watching
    return one, starts, beacons, stalls


def _explain(samples: list[float], starts: list[float], beacons: list[float], stalls: Stalls,
             began: float) -> None:
    """Say on stderr what overlapped the slowest samples (a beacon, a GC pause, a stall)."""
    worst = sorted(range(len(samples)), key=samples.__getitem__, reverse=True)[:5]
    click.echo(f"lock samples: beacons at {[round(b - began, 1) for b in beacons]} s; "
               f"longest GC pause {stalls.longest_gc()[0] * 1000:.0f} ms", err=True)
    for index in worst:
        start, end = starts[index], starts[index] + samples[index]
        near = [f"beacon {b - start:+.2f} s" for b in beacons if start - 1 < b < end]
        click.echo(f"  {samples[index] * 1000:.0f} ms at {start - began:.1f} s: "
                   f"{', '.join(near + stalls.overlapping(start, end)) or 'nothing seen'}",
                   err=True)


async def wing_lockdown(wing: Wing, api: httpx.AsyncClient) -> tuple[list[float], float]:
    """Per-tablet `reported` arrival after one wing lockdown, and the API's confirm-all time."""
    tablets = set(wing.local.tablets)
    async with wing.observer(1) as collector:
        await collector.subscribe(topics.tablet_filter(topics.TabletChannel.REPORTED), qos=1)
        arrivals: dict[str, float] = {}
        done = asyncio.Event()
        target_version: list[int] = []

        async def collect() -> None:
            async for message in collector.messages:
                if message.retain or not target_version:
                    continue
                # Only the three fields it needs, read as plain JSON: the observer shares the
                # loop with the tablets, and a full model check of 2,000 reports would slow
                # them (the floor's observer reads nothing).
                report = json.loads(bytes(message.payload))  # type: ignore[arg-type]
                device = report.get("device")
                if (device in tablets and device not in arrivals
                        and (report.get("lockdown_version") or 0) >= target_version[0]
                        and report.get("lock", {}).get("locked") is True):
                    arrivals[device] = time.perf_counter()
                    if len(arrivals) == len(tablets):
                        done.set()

        collecting = asyncio.create_task(collect())
        target_version.append(await _next_lockdown_version(api))
        started = time.perf_counter()
        response = await api.post("/v1/lock", json={
            "wing": True, "locked": True, "reason": "benchmark lockdown", "by": "bench",
            "wait_s": 120})
        confirmed = time.perf_counter() - started
        outcome = response.json()
        wanted = target_version[0]
        if response.status_code != 200 or outcome["pending"] or outcome["version"] != wanted:
            raise RuntimeError(f"wing lockdown not confirmed: {str(outcome)[:300]}")
        await asyncio.wait_for(done.wait(), 60)
        collecting.cancel()
        with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
            await collecting
        return [arrivals[t] - started for t in wing.local.tablets], confirmed


def _backlog_warnings(wing: Wing) -> int:
    """aiomqtt's warning of a publish backlog on the gateway's client, counted in its log."""
    log = wing.local.root / "gateway" / "gateway.log"
    return log.read_text(errors="replace").count("pending publish calls") if log.exists() else 0


async def _next_lockdown_version(api: httpx.AsyncClient) -> int:
    tablets = (await api.get("/v1/tablets")).json()
    return max(t["lockdown"]["version"] for t in tablets) + 1


async def measure(tablets: int, samples: int, tls: bool) -> list[Row]:
    root = scratch()
    label = "mTLS" if tls else "plain TCP"
    wing = Wing(root, tablets, tls)
    try:
        rtt = await floor_round_trips(wing, samples)
        fan = await floor_fan_out(wing)
        compiled = await compiled_fan_out(wing)
        wing.local.start_gateway()
        transport = httpx.AsyncHTTPTransport(uds=str(wing.local.gateway_api))
        probing = wing.local.tablets[-PROBES:]
        rest = [patient(wing.local.agent_config(t, resolved=False)) for t in wing.local.tablets
                if t not in probing]
        async with (
            httpx.AsyncClient(transport=transport, base_url="http://gateway", timeout=180) as api,
            probes([wing.local.agent_config(t, resolved=False) for t in probing]),
            # The rest of the wing niced: on real tablets its CPUs are not the probes', the
            # gateway's or the broker's (its handling of a beacon took the probes' CPU here).
            probes(*split(rest, WING_PROCESSES), nice=WING_NICE) as wing_pids,
        ):
            settle()
            await asyncio.sleep(SETTLE_S)  # the births' reconciling ends before sampling
            began = time.perf_counter()
            one, starts, beacons, stalls = await _watched_locks(wing, api, samples, probing)
            span = time.perf_counter() - began
            _explain(one, starts, beacons, stalls, began)
            renice(wing_pids, 0)  # the wing lockdown: every tablet at the floors' priority
            arrivals, confirmed = await wing_lockdown(wing, api)
        backlog = _backlog_warnings(wing)
        at_beacon = [x for x, t in zip(one, starts, strict=True)
                     if any(t - 1 <= b <= t + x + 1 for b in beacons)]
        rtt50, rtt99, _ = summary(rtt)
        fan50, fan99, _ = summary(fan)
        one50, one99, _ = summary(one)
        arr50, arr99, _ = summary(arrivals)
        one_name = f"lock one tablet ({label})"
        wing_name = f"wing lockdown, {tablets} tablets ({label})"
        _c50, c99, _ = summary(compiled)
        paho = "paho in one process"
        swarm_label = "compiled swarm"
        return [
            Row(one_name, "p50", ms(one50), ms(rtt50), f"{one50 / rtt50:.1f}×", ""),
            Row(one_name, f"p99 of {len(one)} over {span:.0f} s", ms(one99), ms(rtt99),
                f"{one99 / rtt99:.1f}×", f"≤ {TARGET_ONE_P99_S * 1000:.0f} ms in every run"),
            Row(one_name, "max", ms(max(one)), ms(max(rtt)), f"{max(one) / max(rtt):.1f}×", ""),
            Row(one_name, f"max of the {len(at_beacon)} within 1 s of one of {len(beacons)} "
                "time beacons", ms(max(at_beacon, default=0.0)), ms(max(rtt)),
                f"{max(at_beacon, default=0.0) / max(rtt):.1f}×", "no stall at a beacon"),
            Row(wing_name, "reported p50", ms(arr50), f"{ms(fan50)} ({paho})",
                f"{arr50 / fan50:.2f}×", ""),
            Row(wing_name, "reported p99", ms(arr99), f"{ms(fan99)} ({paho})",
                f"{arr99 / fan99:.2f}×", f"≤ {TARGET_RATIO}× floor"),
            Row(wing_name, "reported p99", ms(arr99), f"{ms(c99)} ({swarm_label})",
                f"{arr99 / c99:.2f}×", "reported beside"),
            Row(wing_name, "gateway confirms all", ms(confirmed), f"{ms(fan[-1])} ({paho})",
                f"{confirmed / fan[-1]:.2f}×", ""),
            Row(f"gateway publish backlog ({label})", "\"There are N pending publish calls\" "
                f"in the gateway's log, {tablets} births to the wing lockdown", str(backlog),
                "-", "-", "0"),
        ]
    finally:
        wing.local.stop()
        shutil.rmtree(root, ignore_errors=True)


def run(tablets: int, samples: int, tls: bool) -> list[Row]:
    return asyncio.run(measure(tablets, samples, tls))

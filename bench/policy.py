"""Policy benchmarks: how fast the schedule answers, and how fast a wing applies a new policy.

`evaluation`: decisions per second of `Schedule.decide` at random instants of a year and random
profiles (a warm schedule, as on a tablet, and a cold one, as right after a new policy arrives),
beside the floor of converting an instant to the prison's local time, which any answer needs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import resource
import tempfile
import time
import zoneinfo
from datetime import datetime
from pathlib import Path

from bench import floor, swarm
from bench.probe import probes, split
from bench.stats import Row, ms
from bench.wing_rig import bench_wing, tablet_ids
from cellbridge.fleet import settle
from common.broker import Mosquitto
from common.mqtt import BrokerConfig
from gateway.policy_file import load_rules
from wire.policy import WingPolicy, wing_policy
from wire.schedule import Schedule, utc_ms

EXAMPLE = Path(__file__).parents[1] / "gateway" / "policies" / "example.toml"
TABLET_PROCESSES = 4
"""Child processes the simulated tablets run in (`bench.probe`)."""
PROFILES = ("basic", "standard", "enhanced", "resettlement")
YEAR_START, YEAR_END = utc_ms("2026-01-01T00:00Z"), utc_ms("2027-01-01T00:00Z")


def example_policy(version: int = 1, issued: int = 0, expires: int = 2**52) -> WingPolicy:
    return wing_policy(
        load_rules(EXAMPLE), audience="wing:A", version=version, issued=issued, expires=expires
    )


def _rate(work: int, seconds: float) -> str:
    return f"{work / seconds:,.0f}/s"


def evaluation(count: int = 20_000, seed: int = 1) -> list[Row]:
    rng = random.Random(seed)
    policy = example_policy()
    instants = [rng.randrange(YEAR_START, YEAR_END) for _ in range(count)]
    profiles = [rng.choice(PROFILES) for _ in range(count)]
    tz = zoneinfo.ZoneInfo("Europe/London")

    started = time.perf_counter()
    for instant in instants:
        datetime.fromtimestamp(instant / 1000, tz)
    floor = time.perf_counter() - started

    # A tablet asks about "now" again and again: instants close together, a warm schedule.
    schedule = Schedule(policy)
    nearby = sorted(instants)
    started = time.perf_counter()
    for instant, profile in zip(nearby, profiles, strict=True):
        schedule.decide(profile, instant)
    warm = time.perf_counter() - started

    # Scattered instants over a year: every answer may need its days expanded afresh.
    cold_count = max(1, count // 10)
    started = time.perf_counter()
    for instant, profile in zip(instants[:cold_count], profiles, strict=False):
        Schedule(policy).decide(profile, instant)
    cold = time.perf_counter() - started

    floor_rate = count / floor
    return [
        Row(
            "policy evaluation",
            "decisions/s, warm schedule",
            _rate(count, warm),
            f"{floor_rate:,.0f} local-time conversions/s",
            f"{(count / warm) / floor_rate:.2f}",
            "≥ 10,000/s",
        ),
        Row(
            "policy evaluation",
            "decisions/s, fresh schedule each time",
            _rate(cold_count, cold),
            f"{floor_rate:,.0f} local-time conversions/s",
            f"{(cold_count / cold) / floor_rate:.3f}",
            "≥ 200/s",
        ),
    ]




# -- publish → every tablet reporting the new policy hash -------------------------------------


class BacklogWarnings(logging.Handler):
    """Counts aiomqtt's "There are N pending publish calls" from any client in this process
    (here: the gateway's) while attached to the root logger."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        if "pending publish calls" in record.getMessage():
            self.count += 1


async def _publish_to_reports(tablets: int, workdir: Path, backlog: BacklogWarnings
                              ) -> tuple[float, int, list[float], list[float]]:
    broker = Mosquitto(workdir / "broker").start()
    try:
        fan_out = await floor.fan_out_plain(broker, tablets)
        broker_config = BrokerConfig(host=broker.host, port=broker.port)
        compiled = await swarm.fan_out({d: broker_config for d in tablet_ids(tablets)},
                                       floor.raw_client(broker, "swarm-observer"))
        wing = bench_wing(workdir, broker_config, tablets)
        service, configs = wing.service, wing.configs
        logging.getLogger().addHandler(backlog)  # after the floors: the gateway's client only
        gateway = asyncio.create_task(service.run())
        try:
            # The tablets in child processes (`bench.probe`), the gateway in this one: 2,000
            # agents and a gateway in one process need more descriptors than the hard limit.
            async with probes(*split(configs, TABLET_PROCESSES)):
                while len(service.reported) < tablets:  # every tablet has reported once
                    await asyncio.sleep(0.1)
                settle()
                started = time.perf_counter()
                outcome = await service.policy.apply(load_rules(EXAMPLE), "bench", wait_s=600)
                elapsed = time.perf_counter() - started
            return elapsed, len(outcome.confirmed), fan_out, compiled
        finally:
            gateway.cancel()
            with contextlib.suppress(BaseException):
                await gateway
            service.close()
    finally:
        broker.kill()


def publish_to_reports(tablets: int = 2000) -> list[Row]:
    """Time from `staff policy apply` (sign, keep, publish) until all `tablets` agents (in
    `TABLET_PROCESSES` child processes; the gateway in this one) on a real broker have applied
    the policy and reported its hash; the floor is one raw publish
    fanned out to as many plain MQTT clients and answered by each."""
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 65536), hard))
    # On tmpfs like the lock benchmark: each real tablet fsyncs its own flash in parallel;
    # 2,000 fsyncs through this machine's one disk would measure the disk, not the path.
    shm = Path("/dev/shm")
    with tempfile.TemporaryDirectory(prefix="cbp-", dir=shm if shm.is_dir() else None
                                     ) as directory:
        workdir = Path(directory)
        (workdir / "s").mkdir()
        backlog = BacklogWarnings()
        try:
            elapsed, confirmed, fan_out, compiled = asyncio.run(
                _publish_to_reports(tablets, workdir, backlog))
        finally:
            logging.getLogger().removeHandler(backlog)
    floor_all = max(fan_out)
    compiled_all = max(compiled)
    measure = f"publish → all {tablets} tablets report the new policy hash ({confirmed} did)"
    return [
        Row("policy publish", measure, ms(elapsed),
            f"{ms(floor_all)} raw fan-out to {tablets} and back (paho in one process)",
            f"{elapsed / floor_all:.1f}×", "≤ 2× floor; < 10 s for 2,000"),
        Row("policy publish", measure, ms(elapsed),
            f"{ms(compiled_all)} the same with a compiled swarm (libmosquitto echo processes)",
            f"{elapsed / compiled_all:.1f}×", "reported beside"),
        Row("gateway publish backlog (plain TCP)", "\"There are N pending publish calls\" from "
            f"the gateway's client, {tablets} births to all reported", str(backlog.count),
            "-", "-", "0"),
    ]


def run(tablets: int = 2000) -> list[Row]:
    """Every policy benchmark (what `make bench` calls)."""
    return [*evaluation(), *publish_to_reports(tablets)]


if __name__ == "__main__":
    import sys

    from bench.stats import markdown

    print(markdown(run(int(sys.argv[1]) if len(sys.argv) > 1 else 2000)))

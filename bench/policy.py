"""Policy benchmarks: how fast the schedule answers, and how fast a wing applies a new policy.

`evaluation`: decisions per second of `Schedule.decide` at random instants of a year and random
profiles (a warm schedule, as on a tablet, and a cold one, as right after a new policy arrives),
beside the floor of converting an instant to the prison's local time, which any answer needs.
"""

from __future__ import annotations

import random
import time
import zoneinfo
from datetime import datetime
from pathlib import Path

from bench.stats import Row
from gateway.policy_file import load_rules
from wire.policy import WingPolicy, wing_policy
from wire.schedule import Schedule, utc_ms

EXAMPLE = Path(__file__).parents[1] / "gateway" / "policies" / "example.toml"
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


if __name__ == "__main__":
    from bench.stats import markdown

    print(markdown(evaluation()))

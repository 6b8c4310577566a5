"""Web allow-list decisions (issue 14): the pure decision, and the helper Squid runs asking the
gateway's decision socket, against the same helper and socket answering without deciding."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.stats import Row
from gateway import squid_helper
from gateway.policy_file import load_rules
from gateway.web_decider import DecisionServer
from wire.policy import wing_policy
from wire.schedule import Schedule
from wire.webaccess import Subject, WebDecision, decide

EXAMPLE = Path(__file__).resolve().parents[1] / "gateway" / "policies" / "example.toml"
HOSTS = ("www.gov.uk", "findajob.dwp.gov.uk", "evilgov.uk", "gov.uk.evil.example",
         "www.universal-credit.service.gov.uk", "WWW.OPEN.EDU.", "203.0.113.9")
NOON = 1_796_904_000_000  # a weekday noon in December 2026 (open)


def _decider() -> tuple[object, object]:
    policy = wing_policy(load_rules(EXAMPLE), audience="wing:A", version=1, issued=0, expires=1)
    schedule = Schedule(policy)
    subject = Subject(True, "resettlement", False)

    def real(_device: str, host: str) -> WebDecision:
        return decide(host, subject, policy, NOON, schedule)

    def floor(_device: str, host: str) -> WebDecision:
        return WebDecision(True, "floor", host)

    return real, floor


def _pure_rate(count: int) -> float:
    real, _ = _decider()
    started = time.perf_counter()
    for i in range(count):
        real("T1", HOSTS[i % len(HOSTS)])  # type: ignore[operator]
    return count / (time.perf_counter() - started)


async def _helper_rate(decider: object, count: int) -> float:
    directory = Path(tempfile.mkdtemp(prefix="cb-bench-web-"))
    server = DecisionServer(directory / "d.sock", decider)  # type: ignore[arg-type]
    await server.start()
    lines = "".join(f"{i} T1 {HOSTS[i % len(HOSTS)]}\n" for i in range(count))
    try:
        def run() -> float:
            started = time.perf_counter()
            result = subprocess.run(
                [sys.executable, squid_helper.__file__, str(directory / "d.sock"), "connect"],
                input=lines, capture_output=True, text=True, timeout=600, check=True)
            elapsed = time.perf_counter() - started
            assert result.stdout.count("\n") == count
            return count / elapsed
        return await asyncio.to_thread(run)
    finally:
        await server.close()
        shutil.rmtree(directory, ignore_errors=True)


def run(count: int = 20_000) -> list[Row]:
    real, floor = _decider()
    pure = _pure_rate(count)
    helper = asyncio.run(_helper_rate(real, count))
    transport = asyncio.run(_helper_rate(floor, count))
    return [
        Row("web decision", "pure decisions/s (example policy, resettlement)",
            f"{pure:,.0f}/s", "-", "-", "≥ 20,000/s"),
        Row("web decision", "helper decisions/s via the gateway's socket", f"{helper:,.0f}/s",
            f"{transport:,.0f}/s (same helper, socket answers without deciding)",
            f"{helper / transport:.2f}", "≥ 20,000/s"),
    ]

"""A prison-wide lockdown across bridged wings against the same number of tablets in one wing,
in one run (issue 20's benchmark, bounded by default).

The prison (`tests/prison/rig.py`, as the prison tests run it): real mosquitto per wing with the
generated bridge section, a real prison broker, each bridge through the rig's TCP relay (a
thread per direction: one extra local hop), and in this one process the prison service, every
wing gateway and every tablet's `Agent` (beyond `IN_PROCESS_MAX` tablets the agents run in child
processes, `bench.probe`, `PER_PROCESS` each). Measured, for each shape:

- prison lockdown: `issue_lockdown` into the prison store; per tablet, the time until the prison
  view shows it confirmed (its wing answered the command and the tablet's bridged `reported`
  carries the wing lockdown that applies it), sampled every `POLL_S`; p50, p99, and all;
- wing lockdown (the single wing only, the floor): the wing gateway's own lockdown, per tablet
  the time until the gateway holds its `reported` with that version, sampled the same way.

Before measuring, every wing locks and unlocks once (not measured). Both lockdowns include the
gateway's lockdown coalescing (`lockdown_coalesce_s`, 0.2 s in the rig).

Every part runs on this machine's cores, in one event loop: the numbers compare the shapes with
each other in the same run, not with a deployment where each wing has its own host.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import time
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

from agent.config import AgentConfig
from bench.probe import patient, probes, split
from bench.scratch import scratch
from bench.stats import Row, ms, summary
from cellbridge.fleet import wait_until
from gateway.desired import LockRequest
from gateway.fleet import Selector
from prison.commands import issue_lockdown
from tests.prison.rig import PRISON, PrisonRig
from wire.envelope import private_key_from_pem

POLL_S = 0.02
CONFIRM_TIMEOUT_S = 300.0
WING_NAMES = "ABCDEFGHJKLMNPQRSTUV"
IN_PROCESS_MAX = 400
PER_PROCESS = 500


async def _prison_lockdown(rig: PrisonRig) -> tuple[list[float], float]:
    """Per-tablet confirmation times at the prison, and the time until all confirmed."""
    assert rig.service is not None
    store = rig.service.store
    key = private_key_from_pem((rig.material / "service" / "signing.key").read_bytes())
    expected = {(w, t) for w in rig.wings for t in rig.tablets[w]}
    started = time.perf_counter()
    command = issue_lockdown(store, key, PRISON, locked=True, by="bench", reason="benchmark",
                             now_ms=time.time_ns() // 1_000_000, ttl_s=3600)
    seen: dict[tuple[str, str], float] = {}
    deadline = started + CONFIRM_TIMEOUT_S
    while len(seen) < len(expected):
        now = time.perf_counter()
        if now > deadline:
            raise RuntimeError(f"prison lockdown: {len(expected) - len(seen)} tablets not "
                               f"confirmed in {CONFIRM_TIMEOUT_S:.0f} s")
        for wing in rig.wings:
            answer = store.applied(wing)
            if answer is None or answer.command_version < command.version:
                continue
            for row in store.tablets(wing):
                if row.lockdown_version >= answer.lockdown_version:
                    seen.setdefault((wing, row.device), now - started)
        await asyncio.sleep(POLL_S)
    samples = [seen[k] for k in expected]
    return samples, max(samples)


async def _wing_lockdown(rig: PrisonRig, wing: str) -> tuple[list[float], float]:
    gateway = rig.gateways[wing]
    started = time.perf_counter()
    outcome = await gateway.lock(Selector(wing=True), LockRequest(True, "bench", "benchmark"))
    seen: dict[str, float] = {}
    deadline = started + CONFIRM_TIMEOUT_S
    while len(seen) < len(outcome.targets):
        now = time.perf_counter()
        if now > deadline:
            raise RuntimeError("wing lockdown not confirmed in time")
        for device in outcome.targets:
            report = gateway.fleet.reported.get(device)
            if report is not None and report.lockdown_version >= outcome.version:
                seen.setdefault(device, now - started)
        await asyncio.sleep(POLL_S)
    samples = list(seen.values())
    return samples, max(samples)


def _tablets_in(processes: int
                ) -> Callable[[list[AgentConfig]], AbstractAsyncContextManager[object]] | None:
    """Run the tablets in `processes` child processes (`bench.probe`; 0: in this one)."""
    if processes <= 0:
        return None
    return lambda configs: probes(*split([patient(c) for c in configs], processes))


async def _shape(wings: dict[str, int], with_wing_floor: bool, processes: int = 0
                 ) -> dict[str, tuple[list[float], float]]:
    root = scratch("cellbridge-bench-prison-")
    rig = PrisonRig(root, wings)
    rig.start_brokers()
    results = {}
    try:
        async with rig.running(tablets=_tablets_in(processes)):
            for wing in rig.wings:
                await rig.wait_link(wing, up=True, timeout=120)
            assert rig.service is not None
            store = rig.service.store
            total = sum(wings.values())
            # The prison view has every tablet before the clock starts.
            await wait_until(lambda: len(store.tablets()) == total, 120)
            # Warm-up, not measured: every wing locks and unlocks once (the first lockdown after
            # a start pays for first-time work on every tablet; both shapes pay it here).
            for gateway in rig.gateways.values():
                for locked in (True, False):
                    await gateway.lock(Selector(wing=True),
                                       LockRequest(locked, "bench", "warm-up"), wait_s=120)
            if with_wing_floor:
                results["wing"] = await _wing_lockdown(rig, rig.wings[0])
                await rig.gateways[rig.wings[0]].lock(
                    Selector(wing=True), LockRequest(False, "bench", "reset"), wait_s=60)
            results["prison"] = await _prison_lockdown(rig)
    finally:
        rig.stop_brokers()
        with contextlib.suppress(OSError):
            shutil.rmtree(root, ignore_errors=True)
    return results


def _rows(name: str, samples: list[float], total: float, floor: float | None) -> list[Row]:
    p50, p99, _ = summary(samples)
    ratio = f"{total / floor:.2f}×" if floor else ""
    return [Row(name, "per tablet p50 / p99", f"{ms(p50)} / {ms(p99)}", "", "", ""),
            Row(name, "all confirmed", ms(total), ms(floor) if floor else "", ratio, "")]


def run(wings: int = 8, per_wing: int = 25) -> list[Row]:
    """`wings` bridged wings of `per_wing` tablets, then one wing of `wings * per_wing`; the
    tablets in this process up to `IN_PROCESS_MAX`, beyond it in child processes of
    `PER_PROCESS` each (a process's descriptors and one loop do not stretch to thousands)."""
    n = wings * per_wing
    processes = 0 if n <= IN_PROCESS_MAX else -(-n // PER_PROCESS)
    many = {WING_NAMES[i]: per_wing for i in range(wings)}
    spread = asyncio.run(_shape(many, with_wing_floor=False, processes=processes))
    single = asyncio.run(_shape({"A": n}, with_wing_floor=True, processes=processes))
    floor = single["wing"][1]
    where = f"; tablets in {processes} processes" if processes else ""
    return [
        *_rows(f"wing lockdown, 1 wing × {n} (no prison{where})", *single["wing"], None),
        *_rows(f"prison lockdown, 1 wing × {n}{where}", *single["prison"], floor),
        *_rows(f"prison lockdown, {wings} wings × {per_wing}{where}", *spread["prison"], floor),
    ]


if __name__ == "__main__":
    import sys

    from bench.stats import markdown

    args = [int(a) for a in sys.argv[1:3]]
    print(markdown(run(*args)))

"""`python -m agent.updates.run_once CONFIG [TARGET VERSION]`: offer one target and run the engine
until it settles or asks for a reboot. A real process for the power-cut tests (kill -9) and the
benchmark; on a tablet the agent service drives the engine instead.

Prints one JSON line: the final state, when each state was entered (seconds since start, and the
process's CPU seconds, all threads, at that point) and the process's peak RSS. Exit codes:
0 settled, 10 reboot requested, 11 waiting for the window, 12 retry later.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from agent.updates.config import UpdatesConfig, build_engine, system_now
from agent.updates.engine import Outcome
from agent.updates.store import UpdateRecord
from common.config import load

EXIT = {Outcome.SETTLED: 0, Outcome.REBOOT: 10, Outcome.WAITING: 11, Outcome.RETRY: 12,
        Outcome.BUSY: 12}


def peak_rss_kib() -> int:
    """VmHWM: unlike getrusage's ru_maxrss, it is not inherited from the parent across exec."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def main(argv: list[str]) -> int:
    started = time.monotonic()
    config = load(UpdatesConfig, Path(argv[0]))
    health_file = config.work_dir / "unhealthy"
    entered: list[tuple[str, float]] = []
    cpu: list[tuple[str, float]] = [("start", round(time.process_time(), 3))]

    def report(record: UpdateRecord) -> None:
        if not entered or entered[-1][0] != record.state.value:
            entered.append((record.state.value, round(time.monotonic() - started, 3)))
            cpu.append((record.state.value, round(time.process_time(), 3)))

    engine = build_engine(config, now=system_now, health=lambda: not health_file.exists(),
                          report=report)
    if len(argv) >= 3 and argv[1]:
        engine.offer(argv[1], argv[2])
    outcome = engine.run()
    print(json.dumps({"state": engine.state().state.value, "entered": entered, "cpu": cpu,
                      "seconds": round(time.monotonic() - started, 3),
                      "cpu_seconds": round(time.process_time(), 3),
                      "peak_rss_kib": peak_rss_kib()}), flush=True)
    return EXIT[outcome]


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

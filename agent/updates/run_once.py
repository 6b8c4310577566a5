"""`python -m agent.updates.run_once CONFIG TARGET VERSION`: offer one target and run the engine
until it settles or asks for a reboot. A real process for the power-cut tests (kill -9) and the
benchmark; on a tablet the agent service drives the engine instead.

Exit codes: 0 settled, 10 reboot requested, 11 waiting for the window, 12 retry later.
"""

from __future__ import annotations

import sys
from pathlib import Path

from agent.updates.config import UpdatesConfig, build_engine, system_now
from agent.updates.engine import Outcome
from cellbridge.config import load

EXIT = {Outcome.SETTLED: 0, Outcome.REBOOT: 10, Outcome.WAITING: 11, Outcome.RETRY: 12,
        Outcome.BUSY: 12}


def main(argv: list[str]) -> int:
    config = load(UpdatesConfig, Path(argv[0]))
    health_file = config.work_dir / "unhealthy"
    engine = build_engine(config, now=system_now, health=lambda: not health_file.exists())
    if len(argv) >= 3 and argv[1]:
        engine.offer(argv[1], argv[2])
    outcome = engine.run()
    print(engine.state().state.value, flush=True)
    return EXIT[outcome]


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

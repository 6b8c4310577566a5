"""A real agent process whose clocks a test moves: `python -m tests.support.clocked_agent CONFIG`.

The agent's trusted clock runs on a monotonic source and watches the system clock for jumps
(agent/clock.py). Tests that cross a curfew or move a tablet's "system time" run this launcher
instead of `cellbridge agent run`: it is the same `serve_agent`, with the two sources offset by
the seconds written in two files (named by the environment variables below), so production code
carries no test hook.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from pathlib import Path

from agent.clock import MonotonicSource, WallSource, boottime

MONOTONIC_OFFSET_ENV = "CELLBRIDGE_TEST_CLOCK_OFFSET_FILE"
"""A file holding seconds to add to the monotonic clock (tests move time forward)."""
WALL_OFFSET_ENV = "CELLBRIDGE_TEST_WALL_OFFSET_FILE"
"""A file holding seconds to add to the system clock as this process sees it."""


class OffsetMonotonic:
    """`boottime()` plus the seconds written in a file.

    The offset may only grow (a monotonic clock never goes back); an unreadable or smaller value
    keeps the last one.
    """

    def __init__(self, path: Path, base: MonotonicSource = boottime) -> None:
        self.path = path
        self.base = base
        self.offset = 0.0

    def __call__(self) -> float:
        try:
            offset = float(self.path.read_text(encoding="ascii").strip() or 0)
        except (OSError, ValueError):
            offset = self.offset
        self.offset = max(self.offset, offset)
        return self.base() + self.offset


class OffsetWall:
    """`time.time()` plus the seconds written in a file (any sign; unreadable: the last value)."""

    def __init__(self, path: Path, base: WallSource = time.time) -> None:
        self.path = path
        self.base = base
        self.offset = 0.0

    def __call__(self) -> float:
        with contextlib.suppress(OSError, ValueError):
            self.offset = float(self.path.read_text(encoding="ascii").strip() or 0)
        return self.base() + self.offset


def wanted(env: dict[str, str] | os._Environ[str]) -> bool:
    """Does `env` ask for moved clocks?"""
    return bool(env.get(MONOTONIC_OFFSET_ENV) or env.get(WALL_OFFSET_ENV))


def main(argv: list[str]) -> None:
    from agent.cli import serve_agent

    monotonic_file = os.environ.get(MONOTONIC_OFFSET_ENV)
    wall_file = os.environ.get(WALL_OFFSET_ENV)
    serve_agent(
        Path(argv[0]),
        monotonic=OffsetMonotonic(Path(monotonic_file)) if monotonic_file else boottime,
        wall=OffsetWall(Path(wall_file)) if wall_file else time.time,
    )


if __name__ == "__main__":
    main(sys.argv[1:])

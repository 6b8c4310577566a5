"""What held the event loop up while a benchmark sampled: garbage-collector pauses (timed from
`gc.callbacks`) and loop stalls (a 10 ms ticker that woke late), each with its start on the
`time.perf_counter` clock, so a slow sample can be matched to what overlapped it."""

from __future__ import annotations

import asyncio
import gc
import time
from dataclasses import dataclass, field
from typing import Any

TICK_S = 0.01
STALL_S = 0.05


@dataclass
class Stalls:
    gc_pauses: list[tuple[float, float, int]] = field(default_factory=list)
    """(start, seconds, generation) of every collection."""
    loop_stalls: list[tuple[float, float]] = field(default_factory=list)
    """(start, seconds) of every tick that came `STALL_S` or more late."""
    _gc_started: float = 0.0
    _ticker: asyncio.Task[None] | None = None

    def _on_gc(self, phase: str, info: dict[str, Any]) -> None:
        now = time.perf_counter()
        if phase == "start":
            self._gc_started = now
        else:
            self.gc_pauses.append((self._gc_started, now - self._gc_started, info["generation"]))

    async def _tick(self) -> None:
        while True:
            before = time.perf_counter()
            await asyncio.sleep(TICK_S)
            late = time.perf_counter() - before - TICK_S
            if late >= STALL_S:
                self.loop_stalls.append((before, late))

    def start(self) -> Stalls:
        gc.callbacks.append(self._on_gc)
        self._ticker = asyncio.get_running_loop().create_task(self._tick())
        return self

    def stop(self) -> None:
        if self._on_gc in gc.callbacks:
            gc.callbacks.remove(self._on_gc)
        if self._ticker is not None:
            self._ticker.cancel()

    def longest_gc(self) -> tuple[float, int]:
        """The longest pause (seconds) and its generation; (0, -1) if none."""
        return max(((s, g) for _t, s, g in self.gc_pauses), default=(0.0, -1))

    def overlapping(self, start: float, end: float) -> list[str]:
        """What overlapped [start, end]: "gc2 812 ms", "stall 640 ms", ..."""
        found = [f"gc{g} {s * 1000:.0f} ms" for t, s, g in self.gc_pauses
                 if t < end and t + s > start and s >= 0.005]
        found += [f"loop stall {s * 1000:.0f} ms" for t, s in self.loop_stalls
                  if t < end and t + s + TICK_S > start]
        return found

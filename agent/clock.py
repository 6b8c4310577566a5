"""The tablet's trusted clock: the last verified gateway time plus the monotonic time since.

A Pi has no RTC and a prisoner may move the system clock, so the wall clock is never used as the
time: it is only watched, so a jump can be noticed (and audited) and then ignored. With no gateway
time since boot there is no trusted time at all (`now_ms()` is None) and the policy fails closed to
curfew rules (`wire.schedule.Schedule.decide(..., None)`).

The monotonic source counts time spent suspended (CLOCK_BOOTTIME where there is one), so a tablet
that sleeps through a curfew's start wakes up knowing it. Both sources are injectable (tests move
them: tests/support/clocked_agent.py).
"""

from __future__ import annotations

import datetime
import time
from collections.abc import Callable
from dataclasses import dataclass

MonotonicSource = Callable[[], float]
"""Seconds from an arbitrary origin that never goes back (not even across a wall-clock change)."""
WallSource = Callable[[], float]

JUMP_TOLERANCE_MS = 2_000
"""How far the wall clock may drift against the monotonic clock before it counts as a jump."""

def boottime() -> float:
    """Monotonic seconds that include time spent suspended."""
    clock = getattr(time, "CLOCK_BOOTTIME", None)
    return time.clock_gettime(clock) if clock is not None else time.monotonic()


@dataclass(frozen=True, slots=True)
class ClockJump:
    """The system clock moved by `delta_ms` against the monotonic clock (positive: forward)."""

    delta_ms: int


class TrustedClock:
    def __init__(
        self,
        *,
        monotonic: MonotonicSource = boottime,
        wall: WallSource = time.time,
        floor_ms: int = 0,
    ) -> None:
        self._monotonic = monotonic
        self._wall = wall
        self._anchor: tuple[int, float] | None = None
        self._floor_ms = floor_ms
        self._wall_offset = self._wall_minus_monotonic()

    def _wall_minus_monotonic(self) -> float:
        return self._wall() - self._monotonic()

    def anchor(self, gateway_ms: int) -> int | None:
        """Take `gateway_ms` (a verified signed gateway time, arriving now) as the time.
        Returns how far that moved the trusted time (ms), or None if there was none before."""
        before = self.now_ms()
        self._anchor = (gateway_ms, self._monotonic())
        self._floor_ms = max(self._floor_ms, gateway_ms)
        return None if before is None else gateway_ms - before

    def raise_floor(self, at_least_ms: int) -> None:
        """Carry a trusted time known before (e.g. from the store) as a lower bound."""
        self._floor_ms = max(self._floor_ms, at_least_ms)

    @property
    def trusted(self) -> bool:
        return self._anchor is not None

    def now_ms(self) -> int | None:
        """The trusted time, or None before the first gateway time since this clock started."""
        if self._anchor is None:
            return None
        gateway_ms, at = self._anchor
        return gateway_ms + int((self._monotonic() - at) * 1000)

    def now_utc(self) -> datetime.datetime | None:
        """`now_ms` as an aware datetime (the update engine's clock)."""
        now = self.now_ms()
        return None if now is None else datetime.datetime.fromtimestamp(now / 1000, datetime.UTC)

    def floor_ms(self) -> int:
        """A time the present is certainly not before: the latest trusted time ever known here
        (carried across restarts by the caller). 0 if none. Use it where any lower bound will do,
        such as checking that a long-lived document has not expired before time is trusted."""
        now = self.now_ms()
        return max(self._floor_ms, now) if now is not None else self._floor_ms

    def check_wall(self) -> ClockJump | None:
        """Has the system clock jumped since the last check? Reports each jump once."""
        offset = self._wall_minus_monotonic()
        delta_ms = int((offset - self._wall_offset) * 1000)
        if abs(delta_ms) <= JUMP_TOLERANCE_MS:
            return None
        self._wall_offset = offset
        return ClockJump(delta_ms)

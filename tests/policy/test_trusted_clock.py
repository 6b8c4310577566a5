"""The trusted clock: gateway time plus monotonic time; the wall clock is watched, never believed."""

from __future__ import annotations

from pathlib import Path

from agent.clock import ClockJump, TrustedClock
from tests.support.clocked_agent import OffsetMonotonic

GATEWAY_TIME = 1_790_000_000_000


class Sources:
    """Hand-driven monotonic and wall clocks (seconds)."""

    def __init__(self) -> None:
        self.mono = 500.0
        self.wall = 1_600_000_000.0

    def monotonic(self) -> float:
        return self.mono

    def time(self) -> float:
        return self.wall

    def elapse(self, seconds: float) -> None:
        self.mono += seconds
        self.wall += seconds


def clock(sources: Sources, floor_ms: int = 0) -> TrustedClock:
    return TrustedClock(monotonic=sources.monotonic, wall=sources.time, floor_ms=floor_ms)


def test_there_is_no_trusted_time_before_the_first_gateway_time() -> None:
    sources = Sources()
    assert clock(sources).now_ms() is None


def test_trusted_time_is_the_gateway_time_plus_monotonic_time_since() -> None:
    sources = Sources()
    trusted = clock(sources)
    trusted.anchor(GATEWAY_TIME)
    sources.elapse(90.5)
    assert trusted.now_ms() == GATEWAY_TIME + 90_500


def test_moving_the_system_clock_changes_nothing_but_is_noticed_once() -> None:
    sources = Sources()
    trusted = clock(sources)
    trusted.anchor(GATEWAY_TIME)
    for jump in (3 * 3600, -3 * 3600, 9 * 86_400, -30 * 86_400):
        sources.wall += jump
        sources.elapse(1)
        assert trusted.check_wall() == ClockJump(jump * 1000)
        assert trusted.check_wall() is None
    assert trusted.now_ms() == GATEWAY_TIME + 4_000


def test_ordinary_drift_is_not_a_jump() -> None:
    sources = Sources()
    trusted = clock(sources)
    sources.wall += 1.5
    assert trusted.check_wall() is None


def test_a_later_gateway_time_takes_over() -> None:
    sources = Sources()
    trusted = clock(sources)
    trusted.anchor(GATEWAY_TIME)
    sources.elapse(30)
    trusted.anchor(GATEWAY_TIME + 31_000)
    sources.elapse(1)
    assert trusted.now_ms() == GATEWAY_TIME + 32_000


def test_anchoring_says_how_far_it_moved_the_trusted_time() -> None:
    sources = Sources()
    trusted = clock(sources)
    assert trusted.anchor(GATEWAY_TIME) is None  # there was no trusted time before
    sources.elapse(30)
    assert trusted.anchor(GATEWAY_TIME + 31_000) == 1_000
    assert trusted.anchor(GATEWAY_TIME + 29_500) == -1_500


def test_the_floor_is_the_latest_time_ever_trusted() -> None:
    sources = Sources()
    trusted = clock(sources, floor_ms=GATEWAY_TIME)
    assert (trusted.now_ms(), trusted.floor_ms()) == (None, GATEWAY_TIME)
    trusted.anchor(GATEWAY_TIME + 5_000)
    sources.elapse(10)
    assert trusted.floor_ms() == GATEWAY_TIME + 15_000


def test_a_test_offset_file_moves_the_monotonic_clock_forward_only(tmp_path: Path) -> None:
    offset = tmp_path / "offset"
    source = OffsetMonotonic(offset, base=lambda: 100.0)
    assert source() == 100.0
    offset.write_text("3600")
    assert source() == 3700.0
    offset.write_text("60")
    assert source() == 3700.0
    offset.write_text("garbage")
    assert source() == 3700.0

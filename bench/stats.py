"""Percentiles and the benchmark table."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass


def percentile(samples: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile; `samples` need not be sorted."""
    if not samples:
        raise ValueError("no samples")
    ordered = sorted(samples)
    rank = max(0, min(len(ordered) - 1, round(fraction * len(ordered) + 0.5) - 1))
    return ordered[rank]


@dataclass(frozen=True)
class Row:
    benchmark: str
    measure: str
    value: str
    floor: str
    ratio: str
    target: str

    @staticmethod
    def header() -> Row:
        return Row("benchmark", "measure", "value", "floor (same run)", "ratio", "target")


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def summary(samples: Sequence[float]) -> tuple[float, float, float]:
    """p50, p99 and mean."""
    return percentile(samples, 0.50), percentile(samples, 0.99), statistics.fmean(samples)


def markdown(rows: Sequence[Row]) -> str:
    lines = []
    for index, row in enumerate([Row.header(), *rows]):
        cells = [row.benchmark, row.measure, row.value, row.floor, row.ratio, row.target]
        lines.append("| " + " | ".join(cells) + " |")
        if index == 0:
            lines.append("|" + "---|" * len(cells))
    return "\n".join(lines)

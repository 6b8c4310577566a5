"""Counts for the fuzz campaigns: cases tried, crashes (an exception out of a parser) and
fail-opens (hostile input accepted), printed at the end of the run and written to
`bench-results/fuzz.json` for the README's table."""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field

EXAMPLES = int(os.environ.get("CELLBRIDGE_FUZZ_EXAMPLES", "150"))
"""Cases per property: bounded in `make test`, larger with `make fuzz`."""


@dataclass
class Tally:
    tried: Counter[str] = field(default_factory=Counter)
    crashes: Counter[str] = field(default_factory=Counter)
    fail_opens: Counter[str] = field(default_factory=Counter)

    def case(self, campaign: str) -> None:
        self.tried[campaign] += 1

    def crash(self, campaign: str) -> None:
        self.crashes[campaign] += 1

    def fail_open(self, campaign: str) -> None:
        self.fail_opens[campaign] += 1

    def rows(self) -> list[tuple[str, int, int, int]]:
        return [
            (name, self.tried[name], self.crashes[name], self.fail_opens[name])
            for name in sorted(self.tried)
        ]

    def add(self, rows: list[tuple[str, int, int, int]]) -> None:
        """Add another process's rows (a parallel worker's, `Tally.rows`)."""
        for name, tried, crashes, fail_opens in rows:
            self.tried[name] += tried
            self.crashes[name] += crashes
            self.fail_opens[name] += fail_opens


TALLY = Tally()

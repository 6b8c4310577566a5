from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.prison.rig import PrisonRig

TABLETS_PER_WING = 50 if os.environ.get("CELLBRIDGE_SLOW") == "1" else 3
"""The issue's 3 x 50 under `make test-all`; a few per wing in `make test` (bounded time)."""


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[PrisonRig]:
    rig = PrisonRig(tmp_path, dict.fromkeys(("A", "B", "C"), TABLETS_PER_WING))
    rig.start_brokers()
    try:
        yield rig
    finally:
        rig.stop_brokers()

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.prison.rig import PrisonRig


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[PrisonRig]:
    rig = PrisonRig(tmp_path, {"A": 3, "B": 3, "C": 3})
    rig.start_brokers()
    try:
        yield rig
    finally:
        rig.stop_brokers()

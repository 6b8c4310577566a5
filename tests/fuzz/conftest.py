from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.fuzz.campaign import TALLY
from tests.gateway.conftest import gateway, make_gateway, peer  # noqa: F401  (real gateway)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    rows = TALLY.rows()
    if not rows:
        return
    terminalreporter.section("fuzz campaigns")
    for name, tried, crashes, fail_opens in rows:
        terminalreporter.write_line(
            f"{name}: {tried} cases, {crashes} crashes, {fail_opens} fail-opens"
        )
    out = os.environ.get("CELLBRIDGE_FUZZ_REPORT")
    if out:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(json.dumps(
            [dict(zip(("campaign", "cases", "crashes", "fail_opens"), r, strict=True))
             for r in rows], indent=1))

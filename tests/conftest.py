"""Fixtures that start the real parts: the wing's mosquitto, with the configuration `provision
wing` generates (mutual TLS, ACL, CRL) for a demo estate made once per test session.

`make test` runs the suite in parallel (pytest-xdist, `-n 2 --dist loadgroup`): each worker is a
process of its own with its own session fixtures (demo estate, Kivy window on its own Xvfb
display), and every broker, gateway and agent takes a free port and a fresh directory. A test
module with a module- or class-scoped fixture runs whole on one worker (`pytest_collection_
modifyitems` below), so that fixture is built once, not once per worker.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from provisioning.demo_estate import DemoEstate
from tests.fuzz.campaign import TALLY
from tests.support.broker import WingBroker

WIDE_SCOPES = ("module", "class", "package")


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Under `--dist loadgroup`: keep a module together on one worker when one of its tests uses
    a fixture wider than a test (built once per module, e.g. a host-tools venv) and the test has
    no `xdist_group` of its own. Without xdist the mark does nothing."""
    for item in items:
        if item.get_closest_marker("xdist_group"):
            continue
        info = getattr(item, "_fixtureinfo", None)
        if info is None:
            continue
        if any(d.scope in WIDE_SCOPES for defs in info.name2fixturedefs.values() for d in defs):
            item.add_marker(pytest.mark.xdist_group(item.nodeid.split("::")[0]))


def pytest_sessionfinish(session: pytest.Session) -> None:
    """On a parallel worker: hand the fuzz campaigns' counts to the controller."""
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:
        workeroutput["fuzz_tally"] = TALLY.rows()


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: object) -> None:
    """On the controller: add a finished worker's fuzz counts (pytest-xdist's hook)."""
    TALLY.add(getattr(node, "workeroutput", {}).get("fuzz_tally", []))


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


@pytest.fixture(scope="session")
def demo_estate(tmp_path_factory: pytest.TempPathFactory) -> DemoEstate:
    """Unencrypted demo keys, wing `w1`; tablets are enrolled the first time a test asks."""
    return DemoEstate(tmp_path_factory.mktemp("estate") / "estate", wing="w1")


@pytest.fixture
def broker(demo_estate: DemoEstate) -> Iterator[WingBroker]:
    """A fresh wing broker (mutual TLS) for one test; the test may stop, kill and restart it."""
    mosquitto = WingBroker(demo_estate).start()
    try:
        yield mosquitto
    finally:
        mosquitto.remove()


@pytest.fixture
def plain_broker() -> Iterator[WingBroker]:
    """Plain TCP, anonymous: only for comparisons with the mutual-TLS broker."""
    mosquitto = WingBroker.plain().start()
    try:
        yield mosquitto
    finally:
        mosquitto.remove()

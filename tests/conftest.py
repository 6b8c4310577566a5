"""Fixtures that start the real parts: the wing's mosquitto, with the configuration `provision
wing` generates (mutual TLS, ACL, CRL) for a demo estate made once per test session.

`make test` runs the suite in parallel (pytest-xdist, `-n auto --dist worksteal`): each worker is
a process of its own with its own session fixtures (demo estate, Kivy window on its own Xvfb
display), and every broker, gateway and agent takes a free port and a fresh directory. Each worker
starts on a contiguous share of the collection and, once it runs dry, takes half of what another
has left: a module may be split between workers, so a module-scoped fixture may be built once on
each (it must hold nothing a test relies on another test of the module to have done), and no test
may rely on running after another. (`--dist loadfile` kept modules whole but sends the files with
fewest tests last, so a file of a few long tests ran alone at the end.)
"""

from __future__ import annotations

import json
import os
import resource
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

import pytest

from provisioning.demo_estate import DemoEstate
from tests.fuzz.campaign import TALLY
from tests.support.broker import WingBroker


def _cpu_seconds() -> float:
    """This process's CPU time and its reaped children's (the brokers, gateways and agents a
    test started and stopped)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item) -> Generator[None, None, None]:
    """`CELLBRIDGE_CPU_REPORT=FILE`: append each test's CPU-seconds (set-up to tear-down, with
    the processes it started) to FILE, one JSON line per test, to find where the suite's time
    goes."""
    out = os.environ.get("CELLBRIDGE_CPU_REPORT")
    began = _cpu_seconds() if out else 0.0
    yield
    if out:
        line = json.dumps({"test": item.nodeid, "cpu_s": round(_cpu_seconds() - began, 3)})
        with open(out, "a", encoding="utf-8") as report:
            report.write(line + "\n")


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

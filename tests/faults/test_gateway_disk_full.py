"""The gateway's disk fills up during a state write (issue 13, campaign "faults"): staff get one
clear line and a non-zero exit, nothing is half-written, the last good state holds (a lock is
never dropped), the gateway keeps running, and the lost write is audited once space returns."""

from __future__ import annotations

import os
import pwd
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.faults.disk import fill, needs_root, small_disk
from tests.fuzz.campaign import TALLY
from tests.support.broker import WingBroker
from tests.support.gateway import Gateway

pytestmark = [needs_root, pytest.mark.timeout(120)]

CAMPAIGN = "disk full: gateway state write"
ME = pwd.getpwuid(os.getuid()).pw_name


@pytest.fixture
def gateway_on_small_disk(tmp_path: Path, broker: WingBroker) -> Iterator[Gateway]:
    gateway = Gateway(tmp_path / "gw", broker.host, broker.port, tls=broker.gateway_tls(),
                      tablets=[("T1", "C1", "L1"), ("T2", "C1", "L1")])
    with small_disk(gateway.state_dir):
        try:
            yield gateway.start()
        finally:
            gateway.close()


def desired_rows(gateway: Gateway) -> dict[str, tuple[int, int]]:
    with sqlite3.connect(f"file:{gateway.state_dir / 'gateway.db'}?mode=ro", uri=True) as db:
        rows = db.execute("SELECT device, version, locked FROM desired").fetchall()
    return {device: (version, locked) for device, version, locked in rows}


def test_a_full_disk_refuses_the_change_keeps_the_lock_and_audits_once_space_returns(
        gateway_on_small_disk: Gateway) -> None:
    gateway = gateway_on_small_disk
    locked = gateway.staff("lock", "--device", "T1", "--reason", "search")
    assert locked.returncode in (0, 1), locked.stderr  # 1: stored and sent, not confirmed yet
    before = desired_rows(gateway)
    assert before["T1"][1] == 1

    filler = fill(gateway.state_dir)
    for verb, args in (("unlock", ("--device", "T1")), ("lock", ("--wing",)),
                       ("unlock", ("--cell", "C1"))):
        TALLY.case(CAMPAIGN)
        result = gateway.staff(verb, *args, "--reason", "while full")
        assert "Traceback" not in result.stderr
        if result.returncode == 0:
            TALLY.fail_open(CAMPAIGN)
        assert result.returncode == 3
        assert result.stderr.count("\n") == 1 and result.stderr.startswith(
            "Error: the gateway's disk is full: nothing was changed"), result.stderr
    assert gateway.process is not None and gateway.process.poll() is None, gateway.log()
    assert desired_rows(gateway) == before  # nothing half-written: T1 still locked, same version
    status = {t["id"]: t for t in gateway.staff_json("status")["tablets"]}
    assert status["T1"]["desired"] == {"version": before["T1"][0], "locked": True,
                                       "reported_version": None}

    filler.unlink()
    unlocked = gateway.staff("unlock", "--device", "T1", "--reason", "space again")
    assert unlocked.returncode in (0, 1), unlocked.stderr
    entries = gateway.staff_json("audit")["entries"]
    lost = [e for e in entries if e["action"] == "write_failed_disk_full"]
    # One entry per lost staff write, naming what it would have recorded, then the new one.
    assert [[(x["actor"].split(" ")[0], x["action"], x["target"]) for x in e["detail"]["lost"]]
            for e in lost] == [[(f"staff:os:{ME}", "unlock", "devices:T1")],
                               [(f"staff:os:{ME}", "lock", "wing:A")],
                               [(f"staff:os:{ME}", "unlock", "cell:C1")]]
    assert entries[-4:-1] == lost and entries[-1]["action"] == "unlock"
    assert gateway.staff("audit", "--verify").returncode == 0
    assert desired_rows(gateway)["T1"][1] == 0

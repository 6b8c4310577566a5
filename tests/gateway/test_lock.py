"""Lock and unlock through the staff CLI, observed by tablets on the real broker."""

from __future__ import annotations

import json
import subprocess
import sys

import aiomqtt
import pytest

from tests.support.gateway import REPO_ROOT
from wire import topics
from wire.documents import DesiredState
from wire.envelope import Accepted
from wire.topics import TabletChannel

# A hang is a failure, reported well before the suite's own limit.
pytestmark = pytest.mark.timeout(90)

T1_DESIRED = topics.tablet("T1", TabletChannel.DESIRED)


async def test_lock_publishes_a_retained_signed_desired_state_one_version_higher(gateway, peer):
    first = await gateway.acli("lock", "--device", "T1", "--reason", "cell search")
    second = await gateway.acli("unlock", "--device", "T1", "--reason", "search over")
    assert (first.returncode, second.returncode) == (0, 0), first.stderr + second.stderr

    # A tablet that connects only now gets the latest state from the broker's retained copy.
    async with peer("T1", answer=False) as tablet:
        await tablet.wait_until(lambda: bool(tablet.on(T1_DESIRED)))
        delivered = tablet.on(T1_DESIRED)[0]
    assert delivered.retain
    assert isinstance(delivered.verdict, Accepted)
    document = delivered.verdict.document
    assert isinstance(document, DesiredState)
    assert document.version == 3  # after the first desired state the gateway issued T1
    assert document.audience == "device:T1"
    assert (document.lock.locked, document.lock.reason) == (False, "search over")


async def test_lock_wait_returns_0_once_the_tablet_reports_the_new_state(gateway, peer):
    async with peer("T1") as tablet:
        result = await gateway.acli("lock", "--device", "T1", "--reason", "search", "--wait", "20")
        assert result.returncode == 0, result.stderr
        assert "confirmed" in result.stdout
        assert tablet.desired is not None and tablet.desired.lock.locked


async def test_lock_wait_exits_1_naming_the_tablet_that_never_answers(gateway, peer):
    async with peer("T1"), peer("T2", answer=False):
        result = await gateway.acli(
            "lock", "--cell", "C1", "--reason", "search", "--wait", "2", "--json"
        )
    assert result.returncode == 1
    assert json.loads(result.stdout)["pending"] == ["T2"]
    assert json.loads(result.stdout)["confirmed"] == ["T1"]
    assert result.stderr.count("\n") == 1 and "T2" in result.stderr and "T1" not in result.stderr


async def test_lock_wait_ends_early_naming_a_tablet_that_refused_and_why(gateway, peer):
    async with peer("T1"), peer("T2", refuse="expired: clock skew"):
        result = await gateway.acli(
            "lock", "--cell", "C1", "--reason", "search", "--wait", "60", "--json"
        )
    assert result.returncode == 1
    answer = json.loads(result.stdout)
    assert answer["confirmed"] == ["T1"]
    assert answer["rejected"] == {"T2": "expired: clock skew"}
    assert result.stderr == "Error: not confirmed by 1 of 2: refused by T2 (expired: clock skew)\n"


async def test_a_wing_lockdown_is_one_retained_publish_not_one_per_tablet(gateway, broker):
    observer = broker.context(broker.observer_tls(1))
    async with aiomqtt.Client(broker.host, broker.port, tls_context=observer) as watcher:
        await watcher.subscribe([("wing/lockdown", 1), ("tablet/+/desired", 1)])
        result = await gateway.acli("lock", "--wing", "--reason", "incident", "--json")
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)["targets"] == ["T1", "T2", "T3"]
        # A later device lock is the sentinel: everything the wing lock sent came before it.
        sentinel = await gateway.acli("lock", "--device", "T3", "--reason", "sentinel")
        assert sentinel.returncode == 0, sentinel.stderr
        seen = []
        async for message in watcher.messages:
            if message.retain:
                continue  # each tablet's first desired state, retained since registration
            seen.append(str(message.topic))
            if str(message.topic) == "tablet/T3/desired":
                break
    assert seen == ["wing/lockdown", "tablet/T3/desired"]


async def test_a_wing_lockdown_is_confirmed_by_the_lockdown_version_each_tablet_reports(
    gateway, peer
):
    async with peer("T1"), peer("T2"), peer("T3") as t3:
        result = await gateway.acli("lock", "--wing", "--reason", "incident", "--wait", "20")
        assert result.returncode == 0, result.stderr
        assert t3.lockdown is not None and t3.lockdown.lock.reason == "incident"


def test_locking_an_unknown_tablet_exits_2_with_one_line(gateway):
    result = gateway.cli("lock", "--device", "T1", "--device", "NOPE", "--reason", "search")
    assert result.returncode == 2
    assert result.stderr == "Error: unknown tablet NOPE\n"


def test_an_empty_reason_is_refused_with_exit_2(gateway):
    result = gateway.cli("lock", "--device", "T1", "--reason", "  ")
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "reason" in result.stderr


def test_a_lock_naming_two_kinds_of_target_is_a_usage_error(gateway):
    result = gateway.cli("lock", "--device", "T1", "--wing", "--reason", "x")
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1


def test_an_unreachable_gateway_exits_3_with_one_line(gateway):
    gateway.stop()
    result = gateway.cli("lock", "--device", "T1", "--reason", "search")
    assert result.returncode == 3
    assert result.stderr.count("\n") == 1 and "unreachable" in result.stderr


async def test_status_json_lists_every_tablet_with_its_lock_versions_and_presence(gateway, peer):
    async with peer("T1") as tablet:
        await tablet.birth()
        result = await gateway.acli("lock", "--device", "T1", "--reason", "search", "--wait", "20")
        assert result.returncode == 0, result.stderr
        status = await gateway.acli("status", "--json")
    tablets = json.loads(status.stdout)["tablets"]
    assert [t["id"] for t in tablets] == ["T1", "T2", "T3"]
    t1 = tablets[0]
    assert t1["online"] is True and t1["last_seen"] is not None
    assert t1["locked"] is True
    assert t1["lock"]["source"] == "device" and t1["lock"]["reason"] == "search"
    assert t1["desired"] == {"version": 2, "locked": True, "reported_version": 2}
    assert t1["in_sync"] is True
    assert tablets[1]["online"] is False and tablets[1]["locked"] is None
    assert t1["profile"] == "standard"
    assert set(t1) == {"id", "cell", "landing", "online", "boot_id", "last_seen", "profile",
                       "signed_in", "locked", "lock", "desired", "lockdown", "in_sync"}


def test_status_for_humans_is_a_table_with_a_row_per_tablet(gateway):
    result = gateway.cli("status")
    assert result.returncode == 0
    curfew, *lines = result.stdout.splitlines()
    assert curfew == "Curfew: no wing policy applied yet."
    assert lines[0].split()[:5] == ["TABLET", "CELL", "LANDING", "ONLINE", "LOCKED"]
    assert [line.split()[0] for line in lines[1:]] == ["T1", "T2", "T3"]


def test_a_tablet_registered_through_the_cli_can_be_locked(gateway):
    gateway.register("T9", "C9", "L2")
    assert gateway.staff_json("lock", "--cell", "C9", "--reason", "search")["targets"] == ["T9"]


def test_registering_an_invalid_tablet_id_exits_2_with_one_line(gateway):
    result = subprocess.run(
        [sys.executable, "-m", "cellbridge", "gateway", "register", "--device", "bad id/+",
         "--cell", "C9", "--landing", "L2"],
        capture_output=True, text=True, env=gateway.env(), cwd=REPO_ROOT, timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("Error: id:")


"""Rollouts through the real gateway process and broker: staff start one with the CLI, simulated
tablets receive the signed update target and report progress, the gateway advances or stops."""

from __future__ import annotations

import json
import os
import pwd
from collections.abc import Callable

from tests.gateway.tablet_peer import TabletPeer, now_ms
from tests.support.gateway import Gateway
from wire.documents import ReportedState, UpdateReport
from wire.topics import TabletChannel

TARGET = "os/cellbridge-os-1.1.0.raucb"


async def report_update(tablet: TabletPeer, state: str) -> None:
    """What the agent's bridge publishes: the applied desired version plus the engine's state."""
    assert tablet.desired_mark is not None
    report = ReportedState(
        device=tablet.device, desired_version=tablet.desired_mark.version, lockdown_version=0,
        lock=tablet._lock_view(), profile="standard", at=now_ms(), boot_id="boot-1",
        agent_version="test-peer",
        update=UpdateReport(state=state, target=TARGET, version="1.1.0"),  # type: ignore[arg-type]
    )
    await tablet.publish(TabletChannel.REPORTED, report.model_dump_json().encode(), retain=True)


def offered(tablet: TabletPeer) -> bool:
    return tablet.desired is not None and tablet.desired.update is not None


async def start(gateway: Gateway, *extra: str) -> None:
    result = await gateway.acli("update", "start", "--id", "r1", "--target", TARGET,
                                  "--version", "1.1.0", "--canary", "T1", *extra)
    assert result.returncode == 0, result.stderr


async def status(gateway: Gateway) -> dict:  # type: ignore[type-arg]
    result = await gateway.acli("update", "status", "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)  # type: ignore[no-any-return]


async def test_the_canary_updates_first_then_the_rest(
    gateway: Gateway, peer: Callable[..., TabletPeer]
) -> None:
    async with peer("T1") as t1, peer("T2") as t2, peer("T3") as t3:
        await start(gateway, "--rest", "T2", "--rest", "T3")
        await t1.wait_until(lambda: offered(t1))
        assert t1.desired is not None and t1.desired.update is not None
        assert (t1.desired.update.target, t1.desired.update.rollout) == (TARGET, "r1")
        assert not offered(t2) and not offered(t3)

        await report_update(t1, "downloading")
        await report_update(t1, "committed")
        await t2.wait_until(lambda: offered(t2))
        await t3.wait_until(lambda: offered(t3))
        view = await status(gateway)
        assert view["rollouts"][0]["stage"] == "rest"
        assert view["rollouts"][0]["counts"]["succeeded"] == 1
        rows = {t["id"]: t for t in view["tablets"]}
        assert rows["T1"]["reported"]["state"] == "committed"
        assert rows["T2"]["desired"]["version"] == "1.1.0"


async def test_a_failing_canary_stops_the_rollout_before_the_rest(
    gateway: Gateway, peer: Callable[..., TabletPeer]
) -> None:
    async with peer("T1") as t1, peer("T2") as t2:
        await start(gateway, "--rest", "T2", "--max-failures", "0.2")
        await t1.wait_until(lambda: offered(t1))
        await report_update(t1, "rolled_back")
        for _ in range(50):
            view = await status(gateway)
            if view["rollouts"][0]["stage"] == "stopped":
                break
        assert view["rollouts"][0]["stage"] == "stopped"
        assert "1 of 1 tablets failed" in view["rollouts"][0]["reason"]
        assert not offered(t2)
        text = await gateway.acli("update", "status")
        assert "stopped" in text.stdout and "T1" in text.stdout


async def test_a_lock_keeps_the_update_target(gateway: Gateway,
                                              peer: Callable[..., TabletPeer]) -> None:
    async with peer("T1") as t1:
        await start(gateway)
        await t1.wait_until(lambda: offered(t1))
        result = await gateway.acli("lock", "--device", "T1", "--reason", "search")
        assert result.returncode == 0, result.stderr
        await t1.wait_until(lambda: t1.desired is not None and t1.desired.lock.locked)
        assert offered(t1)


async def test_a_rollout_naming_an_unknown_tablet_is_refused(gateway: Gateway) -> None:
    result = await gateway.acli("update", "start", "--id", "r9", "--target", TARGET,
                                  "--version", "1.1.0", "--canary", "NOPE")
    assert result.returncode == 2
    assert "unknown tablets NOPE" in result.stderr


async def test_a_rollout_of_a_malformed_target_is_refused_in_one_line(gateway: Gateway) -> None:
    result = await gateway.acli("update", "start", "--id", "r9", "--target", "../../keys/x",
                                  "--version", "1.1.0", "--canary", "T1")
    assert result.returncode == 2
    assert result.stderr.startswith("Error: target/version:")
    assert len(result.stderr.strip().splitlines()) == 1
    status = await gateway.acli("update", "status", "--json")
    assert json.loads(status.stdout)["rollouts"] == []
    audit = await gateway.acli("audit", "--json")
    refused = [e for e in json.loads(audit.stdout)["entries"] if e["action"] == "rollout_refused"]
    assert refused and refused[-1]["target"] == "rollout:r9"


async def test_a_window_that_ends_before_it_starts_is_refused(gateway: Gateway) -> None:
    result = await gateway.acli("update", "start", "--id", "r9", "--target", TARGET,
                                  "--version", "1.1.0", "--canary", "T1", "--window",
                                  "2030-01-02T04:00", "2030-01-02T01:00")
    assert result.returncode == 2
    assert "window_end must be after window_start" in result.stderr


async def test_a_second_rollout_to_the_same_tablets_is_refused(gateway: Gateway) -> None:
    await start(gateway, "--rest", "T2")
    again = await gateway.acli("update", "start", "--id", "r2", "--target", TARGET,
                                 "--version", "1.1.0", "--canary", "T2")
    assert again.returncode == 2
    assert again.stderr == ("Error: rollout r1 (1.1.0, canary) already covers T2: cancel it or "
                            "wait until it is done\n")
    assert [r["id"] for r in (await status(gateway))["rollouts"]] == ["r1"]


async def test_cancelling_a_rollout_withdraws_the_update_and_frees_its_tablets(
    gateway: Gateway, peer: Callable[..., TabletPeer]
) -> None:
    async with peer("T1") as t1:
        await start(gateway, "--rest", "T2")
        await t1.wait_until(lambda: offered(t1))
        cancelled = await gateway.acli("update", "cancel", "r1", "--reason", "wrong build",
                                         "--by", "it.lead")
        assert cancelled.returncode == 0, cancelled.stderr
        assert cancelled.stdout.startswith("rollout r1 cancelled")
        await t1.wait_until(lambda: not offered(t1))
        view = (await status(gateway))["rollouts"][0]
        me = pwd.getpwuid(os.getuid()).pw_name  # who cancelled: the OS account, --by a note
        assert (view["stage"], view["reason"]) == (
            "cancelled", f"canary: cancelled by os:{me} (it.lead): wrong build")
        again = await gateway.acli("update", "cancel", "r1")
        assert (again.returncode, again.stderr) == (2, "Error: rollout r1 is already cancelled\n")
        unknown = await gateway.acli("update", "cancel", "r7")
        assert (unknown.returncode, unknown.stderr) == (2, "Error: no rollout r7 (rollouts: r1)\n")
        audit = json.loads((await gateway.acli("audit", "--json")).stdout)["entries"]
        assert [e["actor"] for e in audit if e["action"] == "rollout_cancelled"] == [
            f"staff:os:{me} (it.lead)"]
        # Its tablets are free for the next rollout.
        await gateway.acli("update", "start", "--id", "r2", "--target", TARGET,
                             "--version", "1.1.0", "--canary", "T1")
        await t1.wait_until(lambda: offered(t1))


async def test_a_paused_rollout_offers_nothing_until_resumed(
    gateway: Gateway, peer: Callable[..., TabletPeer]
) -> None:
    async with peer("T1") as t1:
        await start(gateway)
        await t1.wait_until(lambda: offered(t1))
        paused = await gateway.acli("update", "pause", "r1")
        assert paused.returncode == 0, paused.stderr
        await t1.wait_until(lambda: not offered(t1))
        assert "rollout r1: 1.1.0 canary (paused)" in (
            await gateway.acli("update", "status")).stdout
        resumed = await gateway.acli("update", "resume", "r1")
        assert (resumed.returncode, resumed.stdout) == (0, "rollout r1 resumed\n")
        await t1.wait_until(lambda: offered(t1))

"""Rollout rules, table by table: canary first, then the rest; stop above the failure share."""

from __future__ import annotations

import pytest

from gateway.rollout import Rollout, step
from wire.documents import LockView, ReportedState, UpdateReport

TARGET = "os/cellbridge-os-1.1.0.raucb"


def rollout(**kw: object) -> Rollout:
    values: dict[str, object] = {"id": "r1", "target": TARGET, "version": "1.1.0",
                                 "canary": ("T1", "T2"), "rest": ("T3", "T4", "T5"),
                                 "max_failure_share": 0.2}
    values.update(kw)
    return Rollout.model_validate(values)


def report(device: str, state: str, target: str = TARGET) -> ReportedState:
    return ReportedState(device=device, desired_version=1, lockdown_version=0,
                         lock=LockView(locked=False), profile="standard", at=1, boot_id="b",
                         agent_version="t",
                         update=UpdateReport(state=state, target=target))  # type: ignore[arg-type]


def reports(**states: str) -> dict[str, ReportedState]:
    return {d: report(d, s) for d, s in states.items()}


def test_a_new_rollout_waits_for_its_canaries() -> None:
    result = step(rollout(), reports(T1="downloading"))
    assert result.rollout.stage == "canary" and not result.offer and not result.withdraw


def test_the_rest_is_offered_once_every_canary_succeeded() -> None:
    result = step(rollout(), reports(T1="committed", T2="committed"))
    assert result.rollout.stage == "rest"
    assert result.offer == ("T3", "T4", "T5")


def test_a_canary_still_installing_holds_the_rest_back() -> None:
    result = step(rollout(), reports(T1="committed", T2="trial_boot"))
    assert result.rollout.stage == "canary" and not result.offer


@pytest.mark.parametrize(("states", "stopped"), [
    ({"T1": "rolled_back", "T2": "downloading"}, True),  # 1 of 2 > 20 %
    ({"T1": "failed", "T2": "committed"}, True),
    ({"T1": "committed", "T2": "committed"}, False),
])
def test_canary_failures_above_the_share_stop_the_rollout(states: dict[str, str],
                                                          stopped: bool) -> None:
    result = step(rollout(), reports(**states))
    assert (result.rollout.stage == "stopped") is stopped
    if stopped:
        assert "canary: 1 of 2 tablets failed" in result.rollout.reason
        assert not result.offer


def test_a_stopped_rollout_withdraws_the_update_from_tablets_that_have_not_started() -> None:
    big = rollout(canary=("T1", "T2", "T3", "T4"), rest=("T5",), max_failure_share=0.25)
    result = step(big, reports(T1="rolled_back", T2="failed", T3="idle"))
    assert result.rollout.stage == "stopped"
    assert result.withdraw == ("T3", "T4")


def test_failures_exactly_at_the_share_do_not_stop_it() -> None:
    five = rollout(canary=("T1", "T2", "T3", "T4", "T5"), rest=())
    result = step(five, reports(T1="failed", T2="committed", T3="committed", T4="committed",
                                T5="committed"))
    assert result.rollout.stage == "done"


def test_failures_in_the_second_stage_stop_it_too() -> None:
    second = rollout(stage="rest")
    result = step(second, reports(T1="committed", T2="committed", T3="rolled_back",
                                  T4="failed", T5="downloading"))
    assert result.rollout.stage == "stopped"
    assert result.rollout.reason.startswith("rest: 2 of 5")


def test_a_report_about_another_release_is_not_an_outcome() -> None:
    result = step(rollout(), {"T1": report("T1", "failed", target="os/other-1.0.raucb"),
                              "T2": report("T2", "failed", target="os/other-1.0.raucb")})
    assert result.rollout.stage == "canary"


def test_a_finished_rollout_stays_finished() -> None:
    done = rollout(stage="done")
    assert step(done, reports(T1="failed", T2="failed")).rollout == done


# Staff's hand on a running rollout: cancel, pause, resume.

def test_a_cancelled_rollout_ends_and_withdraws_the_update_from_tablets_not_started() -> None:
    from gateway.rollout import cancel

    result = cancel(rollout(), reports(T1="downloading"), "officer", "wrong release")
    assert result.rollout.stage == "cancelled"
    assert result.rollout.reason == "canary: cancelled by officer: wrong release"
    assert result.withdraw == ("T2",) and not result.offer
    assert step(result.rollout, reports(T1="committed", T2="committed")).offer == ()
    with pytest.raises(ValueError, match="already cancelled"):
        cancel(result.rollout, {}, "officer", "")


def test_a_paused_rollout_starts_no_tablet_and_holds_the_next_stage_until_resumed() -> None:
    from gateway.rollout import set_paused

    paused = set_paused(rollout(), reports(T1="downloading"), True)
    assert paused.rollout.paused and paused.withdraw == ("T2",)
    held = step(paused.rollout, reports(T1="committed", T2="committed"))
    assert held.rollout.stage == "canary" and held.offer == ()
    with pytest.raises(ValueError, match="already paused"):
        set_paused(paused.rollout, {}, True)

    resumed = set_paused(paused.rollout, reports(T1="committed"), False)
    assert not resumed.rollout.paused and resumed.offer == ("T2",)
    assert step(resumed.rollout, reports(T1="committed", T2="committed")).offer == (
        "T3", "T4", "T5")


def test_a_rollout_sharing_a_tablet_with_a_running_one_is_refused() -> None:
    from gateway.rollout import overlap

    running = rollout(id="r1")
    assert overlap(rollout(id="r2", canary=("T9",), rest=()), [running]) is None
    assert overlap(rollout(id="r2", canary=("T9",), rest=("T4",)), [running]) == (
        "rollout r1 (1.1.0, canary) already covers T4: cancel it or wait until it is done")
    finished = running.model_copy(update={"stage": "done"})
    assert overlap(rollout(id="r2"), [finished]) is None


@pytest.mark.parametrize(("target", "version", "problem"), [
    (TARGET, "1.1.0", None),
    ("os/cellbridge-os-9.9.9.raucb", "9.9.9", "the release repository has no target "
     "os/cellbridge-os-9.9.9.raucb (it has os/cellbridge-os-1.1.0.raucb)"),
    (TARGET, "1.2.0", f"{TARGET} is version 1.1.0, not 1.2.0"),
    ("apps/education/3.2.0.raucb", "3.2.0", "apps/education/3.2.0.raucb is not an OS release"),
])
def test_a_rollouts_target_must_be_a_signed_os_release_of_that_version(
    target: str, version: str, problem: str | None,
) -> None:
    from gateway.rollout import target_problem

    targets = {TARGET: {"length": 1, "hashes": {}, "custom": {"kind": "os", "version": "1.1.0"}},
               "apps/education/3.2.0.raucb": {"custom": {"kind": "app", "version": "3.2.0"}}}
    assert target_problem(targets, target, version) == problem

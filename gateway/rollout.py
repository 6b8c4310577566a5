"""Rollouts, pure: a release goes to a canary group first, then to the rest, and stops itself when
more than a set share of the tablets it reached report failure.

`step()` takes a rollout and what tablets reported and returns the rollout's next form plus what
the gateway must do (offer the update to more tablets, or withdraw it). Staff may pause a rollout
(it offers nothing more until resumed; tablets already updating carry on) or cancel it (the update
is withdrawn from every tablet that has not started it). `target_problem` checks a rollout's
release against the repository's signed targets and `overlap` against the rollouts running. No I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from wire.documents import Millis, ReportedState, UpdateTarget

Stage = Literal["canary", "rest", "done", "stopped", "cancelled"]
ACTIVE_STAGES = ("canary", "rest")
"""Stages in which a rollout still offers its release (paused or not)."""
TabletOutcome = Literal["waiting", "in_progress", "succeeded", "failed"]
SETTLED_OUTCOMES = ("succeeded", "failed")


class Rollout(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: Annotated[str, Field(pattern=r"^[A-Za-z0-9._-]{1,64}$")]
    target: str
    version: str
    canary: tuple[str, ...]
    rest: tuple[str, ...] = ()
    max_failure_share: Annotated[float, Field(ge=0.0, le=1.0)] = 0.2
    window_start: Millis | None = None
    window_end: Millis | None = None
    by: str = ""
    created: Millis = 0
    stage: Stage = "canary"
    reason: str = ""
    """Why it stopped, or was cancelled."""
    paused: bool = False
    """Paused by staff: no tablet starts the update, and the next stage waits, until resumed."""

    def update_target(self) -> UpdateTarget:
        return UpdateTarget(target=self.target, version=self.version, rollout=self.id,
                            window_start=self.window_start, window_end=self.window_end)

    def reached(self) -> tuple[str, ...]:
        """The tablets this rollout has offered the update to so far."""
        return self.canary if self.stage == "canary" or not self._rest_released() else (
            *self.canary, *self.rest)

    def _rest_released(self) -> bool:
        return self.stage in ("rest", "done") or (self.stage in ("stopped", "cancelled") and
                                                  self.reason.startswith("rest:"))

    def active(self) -> bool:
        return self.stage in ACTIVE_STAGES


@dataclass(frozen=True)
class Step:
    rollout: Rollout
    offer: tuple[str, ...] = ()
    """Tablets to give the update target now."""
    withdraw: tuple[str, ...] = ()
    """Tablets whose update target to take back (the rollout stopped before they started)."""


def outcome(rollout: Rollout, report: ReportedState | None) -> TabletOutcome:
    """What one tablet's report says about this rollout's release."""
    if report is None or report.update is None:
        return "waiting"
    update = report.update
    if update.target != rollout.target:
        return "waiting"
    if update.state == "committed":
        return "succeeded"
    if update.state in ("rolled_back", "failed"):
        return "failed"
    if update.state == "idle":
        return "waiting"
    return "in_progress"


def step(rollout: Rollout, reports: Mapping[str, ReportedState]) -> Step:
    if not rollout.active():
        return Step(rollout)
    reached = rollout.reached()
    outcomes = {d: outcome(rollout, reports.get(d)) for d in reached}
    failed = sum(1 for o in outcomes.values() if o == "failed")
    if reached and failed / len(reached) > rollout.max_failure_share:
        stage_tag = "rest" if rollout.stage == "rest" else "canary"
        stopped = rollout.model_copy(update={
            "stage": "stopped",
            "reason": f"{stage_tag}: {failed} of {len(reached)} tablets failed "
                      f"(more than {rollout.max_failure_share:.0%})"})
        not_started = tuple(d for d in reached if outcomes[d] == "waiting")
        return Step(stopped, withdraw=not_started)
    if all(o in SETTLED_OUTCOMES for o in outcomes.values()):
        if rollout.stage == "canary" and rollout.rest and rollout.paused:
            return Step(rollout)  # the canaries are done; the rest waits for resume
        if rollout.stage == "canary" and rollout.rest:
            return Step(rollout.model_copy(update={"stage": "rest"}), offer=rollout.rest)
        return Step(rollout.model_copy(update={"stage": "done"}))
    return Step(rollout)


def summary(rollout: Rollout, reports: Mapping[str, ReportedState]) -> dict[str, int]:
    counts = {"waiting": 0, "in_progress": 0, "succeeded": 0, "failed": 0}
    for device in rollout.reached():
        counts[outcome(rollout, reports.get(device))] += 1
    counts["not_reached"] = len(rollout.canary) + len(rollout.rest) - len(rollout.reached())
    return counts


def cancel(rollout: Rollout, reports: Mapping[str, ReportedState], by: str, reason: str) -> Step:
    """Staff cancel `rollout`: it ends, and every tablet it reached that has not started the
    update has it withdrawn (one already installing finishes or rolls back on its own)."""
    if not rollout.active():
        raise ValueError(f"rollout {rollout.id} is already {rollout.stage}")
    stage_tag = "rest" if rollout.stage == "rest" else "canary"
    cancelled = rollout.model_copy(update={
        "stage": "cancelled", "paused": False,
        "reason": f"{stage_tag}: cancelled by {by}" + (f": {reason}" if reason else "")})
    not_started = tuple(d for d in rollout.reached()
                        if outcome(rollout, reports.get(d)) == "waiting")
    return Step(cancelled, withdraw=not_started)


def set_paused(rollout: Rollout, reports: Mapping[str, ReportedState], paused: bool) -> Step:
    """Pause `rollout`: no tablet starts its update until it is resumed (the offer is withdrawn
    from those that have not started; those installing finish). Resume: offered again."""
    if not rollout.active():
        raise ValueError(f"rollout {rollout.id} is already {rollout.stage}")
    if rollout.paused == paused:
        raise ValueError(f"rollout {rollout.id} is {'already' if paused else 'not'} paused")
    not_started = tuple(d for d in rollout.reached()
                        if outcome(rollout, reports.get(d)) == "waiting")
    changed = rollout.model_copy(update={"paused": paused})
    return Step(changed, withdraw=not_started) if paused else Step(changed, offer=not_started)


def overlap(new: Rollout, running: Iterable[Rollout]) -> str | None:
    """Why `new` may not start alongside `running` (a tablet may follow one rollout at a time:
    the later would silently replace the earlier's update target), or None."""
    mine = {*new.canary, *new.rest}
    for other in running:
        if other.active():
            shared = sorted(mine & {*other.canary, *other.rest})
            if shared:
                more = f" and {len(shared) - 5} more" if len(shared) > 5 else ""
                return (f"rollout {other.id} ({other.version}, {other.stage}) already covers "
                        f"{', '.join(shared[:5])}{more}: cancel it or wait until it is done")
    return None


def target_problem(targets: Mapping[str, Any], target: str, version: str) -> str | None:
    """What is wrong with offering `target` at `version`, given the repository's signed targets
    (`signed.targets` of its targets.json), or None. A target a tablet would never find, or whose
    version differs, would otherwise hang in `waiting` for ever."""
    entry = targets.get(target)
    if not isinstance(entry, Mapping):
        known = sorted(t for t in targets if t.startswith("os/"))
        hint = f" (it has {', '.join(known[-5:])})" if known else " (it has no OS release yet)"
        return f"the release repository has no target {target}{hint}"
    custom = entry.get("custom")
    if not isinstance(custom, Mapping) or custom.get("kind") != "os":
        return f"{target} is not an OS release"
    if custom.get("version") != version:
        return f"{target} is version {custom.get('version')}, not {version}"
    return None

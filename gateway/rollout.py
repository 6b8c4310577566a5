"""Rollouts, pure: a release goes to a canary group first, then to the rest, and stops itself when
more than a set share of the tablets it reached report failure.

`step()` takes a rollout and what tablets reported and returns the rollout's next form plus what
the gateway must do (offer the update to more tablets, or withdraw it). No I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from wire.documents import Millis, ReportedState, UpdateTarget

Stage = Literal["canary", "rest", "done", "stopped"]
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
    """Why it stopped."""

    def update_target(self) -> UpdateTarget:
        return UpdateTarget(target=self.target, version=self.version, rollout=self.id,
                            window_start=self.window_start, window_end=self.window_end)

    def reached(self) -> tuple[str, ...]:
        """The tablets this rollout has offered the update to so far."""
        return self.canary if self.stage == "canary" or not self._rest_released() else (
            *self.canary, *self.rest)

    def _rest_released(self) -> bool:
        return self.stage in ("rest", "done") or (self.stage == "stopped" and
                                                  self.reason.startswith("rest:"))


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
    if rollout.stage in ("done", "stopped"):
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

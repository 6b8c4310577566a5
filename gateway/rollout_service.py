"""Rollouts inside the gateway service: kept in one JSON file (atomic), advanced on every report a
tablet sends, carried out through each tablet's signed desired state (its update target). A new
rollout's release is checked against the repository the gateway serves, and its tablets against
the rollouts already running; staff may pause, resume or cancel one."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from common.files import write_atomic
from gateway.fleet import InputError, TargetError
from gateway.issuer import Issue, device_of
from gateway.parts import Parts
from gateway.rollout import (
    Rollout,
    Step,
    cancel,
    outcome,
    overlap,
    set_paused,
    step,
    summary,
    target_problem,
)
from gateway.store import Audit
from wire.documents import ReportedState, UpdateTarget
from wire.prison import MAX_ROLLOUTS_UP, RolloutProgress
from wire.tuf_layout import TufLayout

log = logging.getLogger(__name__)


class RolloutManager:
    def __init__(self, path: Path, parts: Parts, repository: Path | None = None) -> None:
        """`repository`: the published TUF repository the gateway serves (None: it serves none,
        and a rollout's target cannot be checked here)."""
        self.path = path
        self.repository = repository
        self._parts = parts
        self._fleet = parts.fleet
        self._issuer = parts.issuer
        self._clock = parts.clock
        self.rollouts: dict[str, Rollout] = self._load()

    def _load(self) -> dict[str, Rollout]:
        try:
            data = json.loads(self.path.read_text())
            return {r["id"]: Rollout.model_validate(r) for r in data}
        except FileNotFoundError:
            return {}
        except (ValueError, ValidationError, KeyError, TypeError) as exc:
            # Never guess a rollout's progress: start with none, keep the file for inspection.
            log.error("rollouts file %s unreadable: %s", self.path, exc)
            self.path.rename(self.path.with_suffix(".unreadable"))
            return {}

    def _save(self) -> None:
        data = json.dumps([r.model_dump(mode="json") for r in self.rollouts.values()], indent=1)
        write_atomic(self.path, data.encode())

    async def start(self, rollout: Rollout) -> Step:
        if rollout.id in self.rollouts:
            raise InputError(f"rollout {rollout.id} exists")
        devices = [*rollout.canary, *rollout.rest]
        if not rollout.canary:
            raise InputError("a rollout needs at least one canary tablet")
        if len(set(devices)) != len(devices):
            raise InputError("a tablet is named twice")
        unknown = [d for d in devices if d not in self._fleet.tablets]
        if unknown:
            raise TargetError("unknown tablets " + ", ".join(unknown))
        problem = self._target_problem(rollout) or overlap(rollout, self.rollouts.values())
        if problem:
            raise InputError(problem)
        try:  # checked before anything is saved: a rollout on file is one the tablets can take
            target = rollout.update_target()
        except ValueError as exc:
            raise InputError(f"target/version: {exc}") from exc
        rollout = rollout.model_copy(update={"created": self._clock(), "stage": "canary"})
        self.rollouts[rollout.id] = rollout
        self._save()
        await self.set_update(list(rollout.canary), target, rollout.by)
        return await self.advance(rollout.id)

    def _target_problem(self, rollout: Rollout) -> str | None:
        if self.repository is None:
            return None
        try:
            targets = json.loads(TufLayout(self.repository).role_file("targets").read_text())
            signed = targets["signed"]["targets"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            return f"the release repository {self.repository} cannot be read: {exc}"
        return target_problem(signed, rollout.target, rollout.version)

    def _known(self, rollout_id: str) -> Rollout:
        try:
            return self.rollouts[rollout_id]
        except KeyError:
            known = ", ".join(self.rollouts) or "none yet"
            raise TargetError(f"no rollout {rollout_id} (rollouts: {known})") from None

    async def cancel(self, rollout_id: str, by: str, reason: str) -> Rollout:
        """End a running rollout; the update is withdrawn from tablets that have not started."""
        try:
            result = cancel(self._known(rollout_id), self._fleet.reported, by, reason)
        except ValueError as exc:
            raise InputError(str(exc)) from exc
        return await self._apply(result, by, "rollout_cancelled")

    async def pause(self, rollout_id: str, by: str, paused: bool, reason: str = "") -> Rollout:
        """Pause (or resume) a running rollout: see `gateway.rollout.set_paused`. `reason` goes
        into the audit entry."""
        try:
            result = set_paused(self._known(rollout_id), self._fleet.reported, paused)
        except ValueError as exc:
            raise InputError(str(exc)) from exc
        changed = await self._apply(result, by, "rollout_paused" if paused else "rollout_resumed",
                                    reason)
        return changed if paused else (await self.advance(rollout_id)).rollout

    async def _apply(self, result: Step, by: str, action: str, reason: str | None = None
                     ) -> Rollout:
        rollout = result.rollout
        self.rollouts[rollout.id] = rollout
        self._save()
        await self._parts.audit(Audit(self._clock(), f"staff:{by}", action,
                                      f"rollout:{rollout.id}",
                                      {"reason": rollout.reason if reason is None else reason}))
        if result.offer:
            await self.set_update(list(result.offer), rollout.update_target(), by)
        if result.withdraw:
            await self.set_update(list(result.withdraw), None, by)
        return rollout

    async def refused(self, rollout_id: str, target: str, version: str, by: str, error: str
                      ) -> None:
        """Audit a rollout staff asked for and the gateway refused."""
        await self._parts.audit(Audit(
            self._clock(), f"staff:{by}", "rollout_refused", f"rollout:{rollout_id}",
            {"target": target, "version": version, "error": error}))

    def wing_tablets(self) -> list[str]:
        return sorted(self._fleet.tablets)

    async def advance(self, rollout_id: str) -> Step:
        result = step(self.rollouts[rollout_id], self._fleet.reported)
        if result.rollout != self.rollouts[rollout_id]:
            self.rollouts[rollout_id] = result.rollout
            self._save()
            log.info("rollout %s: %s %s", rollout_id, result.rollout.stage, result.rollout.reason)
            await self._parts.audit(Audit(
                self._clock(), "gateway", f"rollout_{result.rollout.stage}",
                f"rollout:{rollout_id}", {"reason": result.rollout.reason}))
        if result.offer:
            await self.set_update(list(result.offer), result.rollout.update_target(), "rollout")
        if result.withdraw:
            await self.set_update(list(result.withdraw), None, "rollout")
        return result

    async def set_update(self, devices: list[str], update: UpdateTarget | None, by: str
                         ) -> dict[str, int]:
        """Sign, record and publish each tablet's next desired state with `update` as its update
        target (None withdraws it), the lock and profile carried over. Returns the versions."""
        now = self._clock()
        unknown = [d for d in devices if d not in self._fleet.tablets]
        if unknown:
            raise TargetError("unknown tablets " + ", ".join(unknown))

        def plan() -> Issue:
            return Issue(desired=[
                self._issuer.revision(d, now, self._fleet.reported_desired(d)).model_copy(
                    update={"update": update})
                for d in devices
            ], audit=Audit(now, f"staff:{by}", "update" if update else "update_withdrawn",
                           f"devices:{','.join(devices[:20])}", {
                               "target": update.target if update else None,
                               "version": update.version if update else None,
                               "rollout": update.rollout if update else None,
                               "devices": devices}))

        issue = await self._issuer.issue(plan)
        await self._parts.publisher.desired(*devices)
        return {device_of(d): d.version for d in issue.desired}

    def observe(self, report: ReportedState) -> None:
        """A report arrived: advance the rollouts it may concern (in a task: it publishes)."""
        for rollout in self.rollouts.values():
            if rollout.active() and report.device in rollout.reached():
                self._parts.publisher.spawn(self.advance(rollout.id))

    def progress(self) -> list[RolloutProgress]:
        """For the prison: the active rollouts, then the newest others, counted."""
        reported = self._fleet.reported
        chosen = sorted(self.rollouts.values(), key=lambda r: (not r.active(), -r.created))
        return [RolloutProgress(id=r.id, version=r.version[:64], stage=r.stage, paused=r.paused,
                                tablets=len(r.canary) + len(r.rest), reason=r.reason[:500],
                                **summary(r, reported))
                for r in chosen[:MAX_ROLLOUTS_UP]]

    def status(self) -> dict[str, Any]:
        """Every rollout with its counts, and every tablet's update state."""
        reported = self._fleet.reported
        tablets = []
        for device in sorted(self._fleet.tablets):
            report = reported.get(device)
            desired = self._issuer.desired.get(device)
            wanted = desired.document.update if desired else None
            tablets.append({
                "id": device,
                "desired": wanted.model_dump() if wanted else None,
                "reported": report.update.model_dump() if report and report.update else None,
                "outcome": (outcome(self.rollouts[wanted.rollout], report)
                            if wanted and wanted.rollout in self.rollouts else None),
                "apps": [a.model_dump() for a in report.apps] if report else [],
            })
        return {
            "rollouts": [{**r.model_dump(mode="json"), "counts": summary(r, reported)}
                         for r in self.rollouts.values()],
            "tablets": tablets,
        }

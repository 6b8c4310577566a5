"""Rollouts inside the gateway service: kept in one JSON file (atomic), advanced on every report a
tablet sends, carried out through the service's signed desired state."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from common.files import write_atomic
from gateway.rollout import Rollout, Step, outcome, step, summary
from gateway.service import GatewayService, InputError, TargetError
from wire.documents import ReportedState

log = logging.getLogger(__name__)


class RolloutManager:
    def __init__(self, service: GatewayService, path: Path | None = None) -> None:
        self.service = service
        self.path = path or service.config.state_dir / "rollouts.json"
        self.rollouts: dict[str, Rollout] = self._load()
        self._tasks: set[asyncio.Task[Any]] = set()
        service.report_hooks.append(self.observe)

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
        unknown = [d for d in devices if d not in self.service.tablets]
        if unknown:
            raise TargetError("unknown tablets " + ", ".join(unknown))
        rollout = rollout.model_copy(update={"created": self.service.clock(), "stage": "canary"})
        self.rollouts[rollout.id] = rollout
        self._save()
        await self.service.set_update(list(rollout.canary), rollout.update_target(), rollout.by)
        return await self.advance(rollout.id)

    async def advance(self, rollout_id: str) -> Step:
        result = step(self.rollouts[rollout_id], self.service.reported)
        if result.rollout != self.rollouts[rollout_id]:
            self.rollouts[rollout_id] = result.rollout
            self._save()
            log.info("rollout %s: %s %s", rollout_id, result.rollout.stage, result.rollout.reason)
            now = self.service.clock()
            self.service.store.audit(now, "gateway", f"rollout_{result.rollout.stage}",
                                     f"rollout:{rollout_id}", {"reason": result.rollout.reason})
        if result.offer:
            await self.service.set_update(list(result.offer), result.rollout.update_target(),
                                          "rollout")
        if result.withdraw:
            await self.service.set_update(list(result.withdraw), None, "rollout")
        return result

    def observe(self, report: ReportedState) -> None:
        """A report arrived: advance the rollouts it may concern (in a task: it publishes)."""
        for rollout in self.rollouts.values():
            if rollout.stage in ("canary", "rest") and report.device in rollout.reached():
                task = asyncio.get_running_loop().create_task(self.advance(rollout.id))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

    def status(self) -> dict[str, Any]:
        """Every rollout with its counts, and every tablet's update state."""
        reported = self.service.reported
        tablets = []
        for device in sorted(self.service.tablets):
            report = reported.get(device)
            desired = self.service.desired.get(device)
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

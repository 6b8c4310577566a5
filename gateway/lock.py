"""Staff lock and unlock (state, not commands): a new signed desired state per tablet,
or one wing lockdown for the whole wing, then, if asked, a wait for the targets to report it."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from typing import Literal

from gateway.desired import LockRequest, is_behind, next_desired, next_lockdown
from gateway.fleet import InputError, Selector, TargetError
from gateway.issuer import Issue, device_of
from gateway.parts import Parts
from gateway.store import Audit
from wire.documents import Ack, ReportedState


@dataclass(frozen=True, slots=True)
class LockOutcome:
    targets: list[str]
    version: int
    confirmed: list[str]
    pending: list[str]
    """Not confirmed: did not answer in time, or refused (then also in `rejected`)."""
    rejected: dict[str, str]
    """Targets that refused the document they were sent, with their reason."""


@dataclass(eq=False)
class _Waiter:
    """One staff request waiting for its targets to report the version it issued to each."""

    kind: Literal["desired", "lockdown"]
    needs: dict[str, int]
    pending: set[str]
    rejected: dict[str, str] = field(default_factory=dict)
    done: asyncio.Event = field(default_factory=asyncio.Event)

    def applied(self, report: ReportedState) -> None:
        device = report.device
        have = report.desired_version if self.kind == "desired" else report.lockdown_version
        if device in self.pending and not is_behind(self.needs[device], have):
            self.pending.discard(device)
            self.rejected.pop(device, None)
        self._settle()

    def refused(self, device: str, ref: str, reason: str) -> None:
        """The tablet refused the very document this request issued to it."""
        if device in self.pending and ref == f"{self.kind}/{self.needs[device]}":
            self.rejected[device] = reason
        self._settle()

    def _settle(self) -> None:
        # Done when every target has applied it or said it never will.
        if self.pending <= self.rejected.keys():
            self.done.set()


class Locks:
    def __init__(self, parts: Parts) -> None:
        self._parts = parts
        self._waiters: list[_Waiter] = []

    async def lock(self, selector: Selector, request: LockRequest, wait_s: float = 0.0
                   ) -> LockOutcome:
        """Sign, record and publish the new lock state, then wait up to `wait_s` for the
        targets to report it applied."""
        parts = self._parts
        issuer, fleet = parts.issuer, parts.fleet
        action = "lock" if request.locked else "unlock"
        actor = f"staff:{request.by}"
        target = selector.describe(parts.wing)
        now = parts.clock()
        try:
            if not request.reason.strip():
                raise InputError("a reason is required")
            devices = fleet.resolve(selector)
        except (InputError, TargetError) as exc:
            await parts.audit(Audit(now, actor, f"{action}_refused", target, {
                "reason": request.reason, "error": str(exc)}))
            raise

        def audit(version: int) -> Audit:
            return Audit(now, actor, action, target, {
                "reason": request.reason, "version": version, "devices": devices})

        def plan() -> Issue:
            if selector.wing:
                current = issuer.lockdown.document if issuer.lockdown else None
                doc = next_lockdown(current, parts.wing, request, now, issuer.ttl_ms,
                                    reported=fleet.reported_lockdowns())
                return Issue(lockdown=doc, audit=audit(doc.version))
            docs = []
            for device in devices:
                stored = issuer.desired.get(device)
                docs.append(next_desired(stored.document if stored else None, device, request,
                                         now, issuer.ttl_ms,
                                         reported=fleet.reported_desired(device)))
            return Issue(desired=docs, audit=audit(max(d.version for d in docs)))

        issue = await issuer.issue(plan)
        if issue.lockdown is not None:
            version = issue.lockdown.version
            waiter = _Waiter("lockdown", dict.fromkeys(devices, version), set(devices))
        else:
            version = max(d.version for d in issue.desired)
            waiter = _Waiter("desired", {device_of(d): d.version for d in issue.desired},
                             set(devices))
        for device in devices:
            report = fleet.reported.get(device)
            if report is not None:
                waiter.applied(report)
        if waiter.pending:
            self._waiters.append(waiter)
        try:
            if selector.wing:
                await parts.publisher.lockdown()
            else:
                await parts.publisher.desired(*devices)
            if wait_s > 0 and waiter.pending:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(waiter.done.wait(), wait_s)
        finally:
            with contextlib.suppress(ValueError):
                self._waiters.remove(waiter)
        return LockOutcome(
            targets=devices,
            version=version,
            confirmed=[d for d in devices if d not in waiter.pending],
            pending=sorted(waiter.pending),
            rejected=dict(sorted(waiter.rejected.items())),
        )

    def on_report(self, report: ReportedState) -> None:
        for waiter in self._waiters:
            waiter.applied(report)

    def on_refused(self, device: str, ack: Ack) -> None:
        for waiter in self._waiters:
            waiter.refused(device, ack.ref, ack.reason)

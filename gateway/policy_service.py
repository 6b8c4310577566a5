"""The gateway's side of the wing policy: staff apply rules, set profiles and seal app manifests.

The issuer signs and keeps the policy (one envelope file in the state directory, so a restarted
gateway re-publishes exactly the document the tablets already hold); the publisher sends it on
every (re)connect and to tablets born reporting an older hash; the renewal clock re-issues it
before it expires. Every publish, every refusal and every profile change is in the audit trail.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from gateway.issuer import Issue, SignedPolicy
from gateway.parts import Parts
from gateway.store import Audit
from wire.documents import DesiredState, ReportedState, wing_audience
from wire.envelope import canonical_json
from wire.manifest import AppManifest
from wire.policy import RULE_FIELDS, WingPolicy, policy_hash, wing_policy
from wire.schedule import Schedule

log = logging.getLogger(__name__)

MANIFEST_TTL_MS = 5 * 365 * 86_400_000
"""App manifests live as long as the build may: the policy's pinned version retires a build."""


class PolicyInputError(Exception):
    """Rules or a profile change that cannot be published as given; one line for staff."""


@dataclass(frozen=True, slots=True)
class PolicyOutcome:
    version: int
    hash: str
    changed: bool
    targets: list[str]
    confirmed: list[str]
    pending: list[str]


@dataclass(eq=False)
class _HashWaiter:
    hash: str
    pending: set[str]
    done: asyncio.Event = field(default_factory=asyncio.Event)


def first_error(exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"])
    message = str(first["msg"]).removeprefix("Value error, ")
    return f"{where}: {message}" if where else message


class PolicyService:
    def __init__(self, parts: Parts) -> None:
        self._wing = parts.wing
        self._fleet = parts.fleet
        self._issuer = parts.issuer
        self._parts = parts
        self.clock = parts.clock
        self._waiters: list[_HashWaiter] = []
        problem = self._issuer.load_policy()
        if problem is not None:
            # Not fatal: tablets keep the policy they hold; staff re-apply a file. (At start-up,
            # before the event loop serves anything: written at once.)
            log.error("%s unreadable (%s): no policy will be published until one is applied",
                      self._issuer.policy_path, problem)
            parts.store.append(Audit(
                parts.clock(), "gateway", "policy_unreadable", f"wing:{self._wing}",
                {"file": str(self._issuer.policy_path), "error": problem[:200]}))

    # -- the document ---------------------------------------------------------------------

    @property
    def document(self) -> WingPolicy | None:
        return self._issuer.policy.document if self._issuer.policy else None

    @property
    def hash(self) -> str:
        return self._issuer.policy.hash if self._issuer.policy else ""

    def rules(self) -> dict[str, Any] | None:
        if self.document is None:
            return None
        return self.document.model_dump(mode="json", include=set(RULE_FIELDS))

    def schedule(self) -> Schedule | None:
        return Schedule(self.document) if self.document is not None else None

    # -- staff actions --------------------------------------------------------------------

    async def _refused(self, now: int, by: str, action: str, target: str, error: str) -> None:
        await self._parts.audit(Audit(now, f"staff:{by}", action, target, {"error": error}))

    def _checked(self, rules: dict[str, Any], version: int, now: int) -> WingPolicy:
        """The policy `rules` make, or PolicyInputError saying why tablets would refuse it."""
        try:
            canonical_json(rules)  # refuses floats with a clear reason
            document = wing_policy(rules, audience=wing_audience(self._wing), version=version,
                                   issued=now, expires=now + self._issuer.ttl_ms)
        except ValidationError as exc:
            raise PolicyInputError(first_error(exc)) from exc
        except ValueError as exc:
            raise PolicyInputError(str(exc)) from exc
        size = len(canonical_json(document.model_dump(mode="json")))
        if size > WingPolicy.MAX_BYTES:  # tablets would refuse it: publish nothing
            raise PolicyInputError(
                f"the signed policy would be {size} bytes, cap {WingPolicy.MAX_BYTES}")
        return document

    async def apply(self, rules: dict[str, Any], by: str, wait_s: float = 0.0) -> PolicyOutcome:
        """Validate, sign, keep and publish new rules (a new version), then wait up to `wait_s`
        for every tablet to report the new policy hash. Unchanged rules publish nothing."""
        now = self.clock()
        target = f"wing:{self._wing}"

        def plan(current: SignedPolicy | None) -> tuple[WingPolicy, Audit] | None:
            # Clock-based, so even a gateway that lost its policy file issues a version newer
            # than what tablets hold (they refuse anything not newer).
            version = max((current.document.version if current else 0) + 1, now)
            document = self._checked(rules, version, now)
            if current is not None and policy_hash(document) == current.hash:
                return None
            return document, Audit(now, f"staff:{by}", "policy_publish", target, {
                "version": version, "hash": policy_hash(document), "name": document.name})

        try:
            changed = await self._issuer.issue_policy(plan) is not None
        except PolicyInputError as exc:
            await self._refused(now, by, "policy_refused", target, str(exc))
            raise
        if changed:
            await self._parts.publisher.policy()
        targets = sorted(self._fleet.tablets)
        waiter = _HashWaiter(self.hash, {d for d in targets if not self._has_current(d)})
        if waiter.pending and wait_s > 0:
            self._waiters.append(waiter)
            try:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(waiter.done.wait(), wait_s)
            finally:
                with contextlib.suppress(ValueError):
                    self._waiters.remove(waiter)
        pending = sorted(waiter.pending)
        assert self.document is not None
        return PolicyOutcome(self.document.version, self.hash, changed, targets,
                             [d for d in targets if d not in waiter.pending], pending)

    async def set_profile(self, devices: list[str], profile: str, by: str) -> int:
        """Give `devices` the privilege `profile` (a new desired version each, lock unchanged)."""
        now = self.clock()
        actor, target = f"staff:{by}", "devices:" + ",".join(devices[:20])
        message = ""
        if self.document is not None and profile not in self.document.profiles:
            known = ", ".join(sorted(self.document.profiles))
            message = f"unknown profile {profile!r} (the wing policy has {known})"
        elif (unknown := [d for d in devices if d not in self._fleet.tablets]) or not devices:
            message = ("unknown tablet " + ", ".join(unknown)) if unknown else "name a tablet"
        if message:
            await self._refused(now, by, "profile_refused", target, message)
            raise PolicyInputError(message)

        def plan() -> Issue:
            docs = [DesiredState.model_validate(self._issuer.revision(
                device, now, self._fleet.reported_desired(device)
            ).model_copy(update={"profile": profile}).model_dump()) for device in devices]
            return Issue(desired=docs, audit=Audit(now, actor, "profile", target, {
                "profile": profile, "devices": devices}))

        issue = await self._issuer.issue(plan)
        await self._parts.publisher.desired(*devices)
        return max(d.version for d in issue.desired)

    async def sign_manifest(self, fields: dict[str, Any], by: str) -> bytes:
        """Seal an app manifest with the wing key: admits this exact build to the wing's tablets
        (the policy still decides who may use it, and pins its version)."""
        now = self.clock()
        try:
            manifest = AppManifest.model_validate_json(canonical_json({
                **fields, "audience": wing_audience(self._wing), "version": now,
                "issued": now, "expires": now + MANIFEST_TTL_MS,
            }))
        except ValidationError as exc:
            message = first_error(exc)
            await self._refused(now, by, "app_sign_refused",
                                f"app:{fields.get('app', '?')}"[:120], message)
            raise PolicyInputError(message) from exc
        except ValueError as exc:
            raise PolicyInputError(str(exc)) from exc
        size = len(canonical_json(manifest.model_dump(mode="json")))
        if size > AppManifest.MAX_BYTES:  # tablets would refuse it: sign nothing
            message = f"the signed manifest would be {size} bytes, cap {AppManifest.MAX_BYTES}"
            await self._refused(now, by, "app_sign_refused", f"app:{manifest.app}", message)
            raise PolicyInputError(message)
        await self._parts.audit(Audit(now, f"staff:{by}", "app_sign", f"app:{manifest.app}", {
            "version": manifest.app_version, "files": len(manifest.files),
            "manifest_version": manifest.version}))
        return self._issuer.seal(manifest)

    # -- what tablets report -----------------------------------------------------------------

    def _has_current(self, device: str) -> bool:
        report = self._fleet.reported.get(device)
        return report is not None and report.policy_hash == self.hash

    def on_report(self, report: ReportedState) -> None:
        for waiter in list(self._waiters):
            if report.device in waiter.pending and report.policy_hash == waiter.hash:
                waiter.pending.discard(report.device)
                if not waiter.pending:
                    waiter.done.set()

    def summary(self) -> dict[str, Any]:
        """The current policy and how many tablets report it."""
        tablets = self._fleet.tablets
        current = [d for d in tablets if self._has_current(d)]
        return {
            "version": self.document.version if self.document else None,
            "hash": self.hash or None,
            "name": self.document.name if self.document else None,
            "issued": self.document.issued if self.document else None,
            "expires": self.document.expires if self.document else None,
            "tablets": len(tablets),
            "tablets_current": len(current),
            "tablets_behind": sorted(set(tablets) - set(current)),
            "rules": self.rules(),
        }

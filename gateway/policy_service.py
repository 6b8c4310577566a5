"""The gateway's side of the wing policy: sign, keep, publish and re-issue it; set profiles.

The signed policy is kept as one envelope file in the state directory (written atomically), so a
restarted gateway re-publishes exactly the document the tablets already hold. `wing/policy` is
retained; the gateway re-publishes it on every (re)connect, when a tablet is born reporting an
older policy hash (coalesced, like `wing/lockdown`), and as a new version before it expires.
Every publish and every profile change is in the audit trail.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from common.files import write_atomic
from gateway.desired import needs_reissue
from gateway.store import StoredDocument
from wire import topics
from wire.documents import (
    DesiredState,
    ReportedState,
    SignedTime,
    wing_audience,
)
from wire.envelope import canonical_json, seal
from wire.manifest import AppManifest
from wire.policy import RULE_FIELDS, WingPolicy, policy_hash, wing_policy
from wire.schedule import Schedule

if TYPE_CHECKING:
    from gateway.service import GatewayService

log = logging.getLogger(__name__)

POLICY_FILE = "wing-policy.envelope"
MANIFEST_TTL_MS = 5 * 365 * 86_400_000
"""App manifests live as long as the build may: the policy's pinned version retires a build."""
TIME_COALESCE_S = 0.5
"""A tablet born gets a time beacon within this, not up to `time_beacon_s` later."""


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


class PolicyPublisher:
    def __init__(self, service: GatewayService) -> None:
        self.service = service
        self.path: Path = service.config.state_dir / POLICY_FILE
        self.document: WingPolicy | None = None
        self.envelope: bytes | None = None
        self.hash = ""
        self._waiters: list[_HashWaiter] = []
        self._republish: asyncio.Task[None] | None = None
        self._published_at = float("-inf")
        self._time_beacon: asyncio.Task[None] | None = None
        self._load()

    # -- the document ---------------------------------------------------------------------

    def _load(self) -> None:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return
        try:
            body = json.loads(raw)["body"]
            document = WingPolicy.model_validate_json(body)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            # Not fatal: tablets keep the policy they hold; staff re-apply a file.
            log.error("%s unreadable (%s): no policy will be published until one is applied",
                      self.path, exc)
            self.service.store.audit(self.service.clock(), "gateway", "policy_unreadable",
                                     f"wing:{self.service.config.wing}",
                                     {"file": str(self.path), "error": str(exc)[:200]})
            return
        self.document, self.envelope, self.hash = document, raw, policy_hash(document)

    def _save(self, document: WingPolicy, envelope: bytes) -> None:
        write_atomic(self.path, envelope)
        self.document, self.envelope, self.hash = document, envelope, policy_hash(document)

    def _sign(self, rules: dict[str, Any], version: int, now: int) -> tuple[WingPolicy, bytes]:
        document = wing_policy(
            rules,
            audience=wing_audience(self.service.config.wing),
            version=version,
            issued=now,
            expires=now + self.service.ttl_ms,
        )
        return document, seal(document, self.service._key)

    def rules(self) -> dict[str, Any] | None:
        if self.document is None:
            return None
        return self.document.model_dump(mode="json", include=set(RULE_FIELDS))

    def schedule(self) -> Schedule | None:
        return Schedule(self.document) if self.document is not None else None

    # -- staff actions --------------------------------------------------------------------

    async def apply(self, rules: dict[str, Any], by: str, wait_s: float = 0.0) -> PolicyOutcome:
        """Validate, sign, keep and publish new rules (a new version), then wait up to `wait_s`
        for every tablet to report the new policy hash. Unchanged rules publish nothing."""
        service = self.service
        now = service.clock()
        actor = f"staff:{by}"
        target = f"wing:{service.config.wing}"
        # Clock-based, so even a gateway that lost its policy file issues a version newer than
        # what tablets hold (they refuse anything not newer).
        version = max((self.document.version if self.document else 0) + 1, now)
        try:
            canonical_json(rules)  # refuses floats with a clear reason
            document, envelope = self._sign(rules, version, now)
        except ValidationError as exc:
            message = first_error(exc)
            service.store.audit(now, actor, "policy_refused", target, {"error": message})
            raise PolicyInputError(message) from exc
        except ValueError as exc:
            service.store.audit(now, actor, "policy_refused", target, {"error": str(exc)})
            raise PolicyInputError(str(exc)) from exc
        size = len(canonical_json(document.model_dump(mode="json")))
        if size > WingPolicy.MAX_BYTES:  # tablets would refuse it: publish nothing
            message = f"the signed policy would be {size} bytes, cap {WingPolicy.MAX_BYTES}"
            service.store.audit(now, actor, "policy_refused", target, {"error": message})
            raise PolicyInputError(message)
        changed = policy_hash(document) != self.hash
        if changed:
            self._save(document, envelope)
            service.store.audit(now, actor, "policy_publish", target, {
                "version": version, "hash": self.hash, "name": document.name})
            await self.publish()
        targets = sorted(service.tablets)
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
        service = self.service
        now = service.clock()
        actor, target = f"staff:{by}", "devices:" + ",".join(devices[:20])
        if self.document is not None and profile not in self.document.profiles:
            known = ", ".join(sorted(self.document.profiles))
            message = f"unknown profile {profile!r} (the wing policy has {known})"
            service.store.audit(now, actor, "profile_refused", target, {"error": message})
            raise PolicyInputError(message)
        unknown = [d for d in devices if d not in service.tablets]
        if unknown or not devices:
            message = ("unknown tablet " + ", ".join(unknown)) if unknown else "name a tablet"
            service.store.audit(now, actor, "profile_refused", target, {"error": message})
            raise PolicyInputError(message)
        records = []
        for device in devices:
            doc = service.revision(device, now).model_copy(update={"profile": profile})
            doc = DesiredState.model_validate(doc.model_dump())
            records.append(StoredDocument(doc, seal(doc, service._key)))
        service.store.put_desired(records)
        for record in records:
            service.desired[record.document.audience.split(":", 1)[1]] = record
        service.store.audit(now, actor, "profile", target, {"profile": profile,
                                                            "devices": devices})
        await asyncio.gather(*(service._publish_desired(d) for d in devices))
        return max(r.document.version for r in records)

    def sign_manifest(self, fields: dict[str, Any], by: str) -> bytes:
        """Seal an app manifest with the wing key: admits this exact build to the wing's tablets
        (the policy still decides who may use it, and pins its version)."""
        service = self.service
        now = service.clock()
        try:
            manifest = AppManifest.model_validate_json(canonical_json({
                **fields, "audience": wing_audience(service.config.wing), "version": now,
                "issued": now, "expires": now + MANIFEST_TTL_MS,
            }))
        except ValidationError as exc:
            message = first_error(exc)
            service.store.audit(now, f"staff:{by}", "app_sign_refused",
                                f"app:{fields.get('app', '?')}"[:120], {"error": message})
            raise PolicyInputError(message) from exc
        except ValueError as exc:
            raise PolicyInputError(str(exc)) from exc
        size = len(canonical_json(manifest.model_dump(mode="json")))
        if size > AppManifest.MAX_BYTES:  # tablets would refuse it: sign nothing
            message = f"the signed manifest would be {size} bytes, cap {AppManifest.MAX_BYTES}"
            service.store.audit(now, f"staff:{by}", "app_sign_refused", f"app:{manifest.app}",
                                {"error": message})
            raise PolicyInputError(message)
        service.store.audit(now, f"staff:{by}", "app_sign", f"app:{manifest.app}", {
            "version": manifest.app_version, "files": len(manifest.files),
            "manifest_version": manifest.version})
        return seal(manifest, service._key)

    # -- publishing and reconciling ---------------------------------------------------------

    async def publish(self) -> None:
        if self.envelope is not None:
            self._published_at = asyncio.get_running_loop().time()
            await self.service._publish(topics.WING_POLICY, self.envelope, retain=True)

    def _has_current(self, device: str) -> bool:
        report = self.service.reported.get(device)
        return report is not None and report.policy_hash == self.hash

    def on_reported(self, report: ReportedState) -> None:
        for waiter in list(self._waiters):
            if report.device in waiter.pending and report.policy_hash == waiter.hash:
                waiter.pending.discard(report.device)
                if not waiter.pending:
                    waiter.done.set()

    def on_birth(self, device: str) -> None:
        """A tablet came online: it needs the time now (it enforces curfew rules until it has
        some), and the current policy if it has not reported it; each at most once per
        coalescing window, however many tablets are born."""
        self._time_soon()
        if self.envelope is None or self._has_current(device):
            return
        if self._republish is not None and not self._republish.done():
            return
        loop = asyncio.get_running_loop()
        delay = max(0.0, self._published_at + self.service.config.lockdown_coalesce_s - loop.time())

        async def republish() -> None:
            await asyncio.sleep(delay)
            await self.publish()

        self._republish = loop.create_task(republish())

    def _time_soon(self) -> None:
        if self._time_beacon is not None and not self._time_beacon.done():
            return
        service = self.service

        async def beat() -> None:
            await asyncio.sleep(TIME_COALESCE_S)
            now = service.clock()
            version = max(now, service._last_time_version + 1)
            service._last_time_version = version
            beacon = SignedTime(audience=wing_audience(service.config.wing), version=version,
                                issued=now, expires=now + int(service.config.time_beacon_s * 3000))
            await service._publish(topics.WING_TIME, seal(beacon, service._key), retain=False,
                                   qos=0)

        self._time_beacon = asyncio.get_running_loop().create_task(beat())

    async def reissue_if_expiring(self) -> bool:
        service = self.service
        if self.document is None:
            return False
        now = service.clock()
        if not needs_reissue(self.document.expires, now, service.config.reissue_margin_s * 1000):
            return False
        document = self.document.model_copy(update={
            "version": max(self.document.version + 1, now), "issued": now,
            "expires": now + service.ttl_ms})
        self._save(document, seal(document, service._key))
        service.store.audit(now, "gateway", "policy_reissue", f"wing:{service.config.wing}",
                            {"version": document.version, "hash": self.hash})
        await self.publish()
        return True

    async def run(self) -> None:
        interval = max(0.5, min(60.0, self.service.config.reissue_margin_s / 4))
        while True:
            await self.reissue_if_expiring()
            await asyncio.sleep(interval)

    def summary(self) -> dict[str, Any]:
        """The current policy and how many tablets report it."""
        service = self.service
        current = [d for d in service.tablets if self._has_current(d)]
        return {
            "version": self.document.version if self.document else None,
            "hash": self.hash or None,
            "name": self.document.name if self.document else None,
            "issued": self.document.issued if self.document else None,
            "expires": self.document.expires if self.document else None,
            "tablets": len(service.tablets),
            "tablets_current": len(current),
            "tablets_behind": sorted(set(service.tablets) - set(current)),
            "rules": self.rules(),
        }

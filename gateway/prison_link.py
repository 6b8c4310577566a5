"""The wing gateway's side of the prison link (docs/prison.md): prison commands in, the wing's
audit trail and its answers to commands out, all through the wing broker's bridge.

A prison command is verified against the prison's key (never trusted by tablets), then carried
out as the wing's own decision: a prison lockdown becomes a wing lockdown, signed with the wing
key, through `Locks` like a staff lockdown. The newest command applied is kept on disk, so a
retained or re-queued copy is not applied twice and an older one is refused. The audit trail goes
up entry by entry after the last one sent; the prison asks again from where it has a gap.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from common.files import write_atomic
from gateway.config import PrisonLinkConfig
from gateway.desired import LockRequest
from gateway.fleet import Selector
from gateway.lock import Locks
from gateway.parts import Parts
from gateway.rollout_service import RolloutManager
from gateway.store import Audit
from wire import prison as wp
from wire.envelope import (
    Accepted,
    AlreadyApplied,
    AppliedMark,
    key_id,
    open_envelope,
    public_key_from_pem,
)

log = logging.getLogger(__name__)

AUDIT_BATCH = 200
AUDIT_POLL_S = 0.5
SUMMARY_CHECK_S = 2.0
"""How often the wing's summary is recomputed; it goes up when it changed..."""
SUMMARY_REFRESH_S = 60.0
"""...and at least this often (its `at` then says the wing is alive and counting)."""


class PrisonLink:
    def __init__(self, config: PrisonLinkConfig, parts: Parts, locks: Locks, state_dir: Path,
                 *, rollouts: RolloutManager | None = None,
                 clock: Callable[[], int] | None = None) -> None:
        self._config = config
        self._rollouts = rollouts
        self._parts = parts
        self._locks = locks
        self._clock = clock or parts.clock
        key: Ed25519PublicKey = public_key_from_pem(config.public_key.read_bytes())
        self._keys = {key_id(key): key}
        self._state_path = state_dir / "prison-link.json"
        self._mark: AppliedMark | None = None
        self._answer: wp.Applied | None = None
        self._load()
        self._sent = 0
        """The last audit sequence number published up (0: none since start)."""
        self._wake = asyncio.Event()
        self._summary_sent: wp.WingSummary | None = None
        self._summary_sent_at = self._summary_checked = -SUMMARY_REFRESH_S

    # -- commands down ---------------------------------------------------------------------

    async def handle(self, topic: str, payload: bytes) -> None:
        """A message on the wing broker's `prison/#` (what the bridge brought down)."""
        if topic == wp.PRISON_COMMAND:
            await self._command(payload)
        elif topic == wp.PRISON_SYNC:
            try:
                request = wp.SyncRequest.model_validate_json(payload)
            except ValueError:
                log.warning("malformed prison sync request refused")
                return
            self._sent = min(self._sent, request.after)
            self._wake.set()

    async def _command(self, payload: bytes) -> None:
        parts = self._parts
        now = self._clock()
        verdict = open_envelope(payload, wp.PrisonLockdown, trusted_keys=self._keys,
                                audience=wp.prison_audience(self._config.prison), now_ms=now,
                                applied=self._mark)
        if isinstance(verdict, AlreadyApplied):
            await self._publish_answer()
            return
        if not isinstance(verdict, Accepted):
            await parts.audit(Audit(now, f"prison:{self._config.prison}", "prison_refused",
                                    f"wing:{parts.wing}", {"reason": verdict.reason.value,
                                                           "detail": verdict.detail}))
            if verdict.version is not None and (self._mark is None
                                                or verdict.version > self._mark.version):
                self._answer = wp.Applied(command_version=verdict.version, at=now,
                                          refused=f"{verdict.reason.value}: {verdict.detail}")
                await self._publish_answer()
            return
        command = verdict.document
        outcome = await self._locks.lock(
            Selector(wing=True),
            LockRequest(locked=command.locked, by=f"prison:{self._config.prison}:{command.by}",
                        reason=command.reason))
        self._mark = AppliedMark(command.version, verdict.digest)
        self._answer = wp.Applied(command_version=command.version,
                                  lockdown_version=outcome.version,
                                  targets=tuple(outcome.targets), at=self._clock())
        self._save()
        await self._publish_answer()

    async def _publish_answer(self) -> None:
        if self._answer is not None:
            await self._parts.publisher.publish(
                wp.UPLINK_APPLIED, self._answer.model_dump_json().encode(), retain=True)

    async def on_connect(self) -> None:
        """(Re)connected to the wing broker: give the prison our answer and audit again."""
        await self._publish_answer()
        self._summary_sent, self._summary_checked = None, -SUMMARY_REFRESH_S
        self._wake.set()

    # -- audit up --------------------------------------------------------------------------

    async def run(self) -> None:
        """Publish new audit entries as they are appended (polled: the store has no hook)."""
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), AUDIT_POLL_S)
            self._wake.clear()
            if self._parts.publisher.connected.is_set():
                await self._send_audit()
                await self._send_summary()

    async def _send_audit(self) -> None:
        parts = self._parts
        while True:
            rows = await parts.io(
                parts.store.read,
                "SELECT seq, at, actor, action, target, detail, prev, hash FROM audit "
                "WHERE seq > ? ORDER BY seq LIMIT ?", [self._sent, AUDIT_BATCH])
            if not rows:
                return
            for seq, at, actor, action, target, detail, prev, digest in rows:
                entry = wp.AuditUp(seq=seq, at=at, actor=actor, action=action, target=target,
                                   detail=json.loads(detail) if detail else {}, prev=prev,
                                   hash=digest)
                if not await parts.publisher.publish(
                        wp.UPLINK_AUDIT, entry.model_dump_json().encode(), retain=False):
                    return
                self._sent = seq

    # -- the wing's summary up ------------------------------------------------------------

    def summary(self) -> wp.WingSummary:
        """What the gateway counts of its wing now, and its rollouts' progress."""
        fleet, lockdown = self._parts.fleet, self._parts.issuer.lockdown
        reports = [r for d, r in fleet.reported.items() if d in fleet.tablets]
        return wp.WingSummary(
            at=self._clock(), tablets=len(fleet.tablets),
            online=sum(1 for d, s in fleet.statuses.items()
                       if d in fleet.tablets and s.state == "online"),
            locked=sum(r.lock.locked for r in reports),
            in_curfew=sum(r.curfew == "curfew" for r in reports),
            lockdown_version=lockdown.document.version if lockdown else 0,
            rollouts=tuple(self._rollouts.progress()) if self._rollouts else ())

    async def _send_summary(self) -> None:
        now = time.monotonic()
        if now - self._summary_checked < SUMMARY_CHECK_S:
            return
        self._summary_checked = now
        summary = self.summary()
        if summary.same_as(self._summary_sent) and now - self._summary_sent_at < SUMMARY_REFRESH_S:
            return
        if await self._parts.publisher.publish(
                wp.UPLINK_SUMMARY, summary.model_dump_json().encode(), retain=True):
            self._summary_sent, self._summary_sent_at = summary, now

    # -- the applied mark on disk ----------------------------------------------------------

    def _load(self) -> None:
        try:
            saved = json.loads(self._state_path.read_text())
            self._mark = AppliedMark(int(saved["version"]), str(saved["digest"]))
            self._answer = wp.Applied.model_validate(saved["answer"])
        except FileNotFoundError:
            return
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("ignoring unreadable %s: %s", self._state_path, exc)

    def _save(self) -> None:
        assert self._mark is not None and self._answer is not None
        write_atomic(self._state_path, json.dumps({
            "version": self._mark.version, "digest": self._mark.digest,
            "answer": self._answer.model_dump(mode="json")}).encode())

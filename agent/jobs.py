"""One-off jobs from the wing (`tablet/{id}/cmd`, `wire.jobs`): verified like every signed
document, run at most once (the ids run are kept in the store, across restarts), acknowledged
`received` → `in_progress` → `succeeded` / `failed`, or `rejected` (expired, another tablet's,
already run, bad signature: each audited).

A **wipe** erases the tablet's user data and keeps what makes it this tablet (its identity,
enrolment, trusted keys, the applied documents and the OS): the request outbox (`requests.db`),
and everything inside each configured `user_data_dirs` (the shell's lesson progress and display
settings, each app's data folder), never the folders themselves and never anything outside them
(a symlink inside is removed, not followed). Before anything is erased the tablet records that
it was reset, so the shell shows "This tablet was reset" (locked) from the first byte deleted;
it stays so until a desired state newer than the one in effect at the wipe arrives, and, if the
wipe could not finish, until another wipe does (fail closed).

A **reboot** runs the configured `reboot_command` (none configured: the job fails).
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import subprocess
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from agent.audit import AuditEvent, AuditTrail
from agent.expiry import ExpiryJudge, Held
from agent.store import AuditRow, ResetMark, Store, StoreError
from wire import topics
from wire.documents import Ack, AckState, device_audience
from wire.envelope import Accepted, Refused
from wire.jobs import Job, job_ref
from wire.localapi import RESET_REASON

log = logging.getLogger(__name__)

MAX_HELD_JOBS = 4
"""Jobs kept while only trusted time can judge them (the gateway sends a pending job again at the
tablet's next birth)."""


class WipeError(Exception):
    """The wipe could not finish: the tablet stays locked as reset."""


def check_data_dir(path: Path, keep: Sequence[Path]) -> Path:
    """`path` if it is a folder a wipe may empty: absolute, not a symlink, not the root, and
    neither inside nor around any of `keep` (the agent's state, its apps). Raises ValueError."""
    if not path.is_absolute():
        raise ValueError(f"{path}: a user data folder must be an absolute path")
    resolved = Path(os.path.realpath(path))
    if resolved != Path(os.path.abspath(path)):
        raise ValueError(f"{path}: a user data folder must not be or pass through a symlink")
    if resolved == Path(resolved.anchor):
        raise ValueError(f"{path}: the root is not a user data folder")
    for kept in keep:
        kept = Path(os.path.realpath(kept))
        if resolved == kept or resolved in kept.parents or kept in resolved.parents:
            raise ValueError(f"{path}: overlaps {kept}, which a wipe keeps")
    return path


def empty_folder(path: Path, keep: Sequence[Path]) -> int:
    """Remove everything inside `path` (checked again by `check_data_dir`), never following a
    symlink; the number of entries removed. Raises WipeError."""
    try:
        check_data_dir(path, keep)
    except ValueError as exc:
        raise WipeError(str(exc)) from exc
    if not path.exists():
        return 0
    removed = 0
    try:
        with os.scandir(path) as entries:
            for entry in list(entries):
                if entry.is_dir(follow_symlinks=False):
                    shutil.rmtree(entry.path)
                else:
                    os.unlink(entry.path)
                removed += 1
    except OSError as exc:
        raise WipeError(f"cannot empty {path}: {exc.strerror or exc}") from exc
    return removed


class JobRunner:
    def __init__(
        self,
        store: Store,
        *,
        device: str,
        trusted_keys: Mapping[str, Ed25519PublicKey],
        judge: ExpiryJudge,
        now_ms: Callable[[], int],
        audit: AuditTrail,
        ack: Callable[[Ack], Awaitable[None]],
        erase_outbox: Callable[[], Awaitable[None]],
        data_dirs: Sequence[Path],
        keep: Sequence[Path],
        desired_version: Callable[[], int],
        changed: Callable[[], None],
        reboot_command: Sequence[str] = (),
    ) -> None:
        """`erase_outbox` empties the request outbox (raises StoreError or OSError);
        `desired_version` is the applied desired state's version (0: none); `changed` is
        called when the reset state changes."""
        self._store = store
        self._device = device
        self._keys = trusted_keys
        self._judge = judge
        self._now_ms = now_ms
        self._audit = audit
        self._ack_out = ack
        self._erase_outbox = erase_outbox
        self._data_dirs = list(data_dirs)
        self._keep = list(keep)
        self._desired_version = desired_version
        self._changed = changed
        self._reboot_command = list(reboot_command)
        self.topic = topics.tablet(device, topics.TabletChannel.CMD)
        self._held: list[bytes] = []
        self._running = asyncio.Lock()
        self.reset: ResetMark | None = None

    async def load(self) -> None:
        self.reset = await asyncio.to_thread(self._store.reset_mark)

    @property
    def locked_reason(self) -> str | None:
        """What the shell shows while the tablet is locked as reset (None: it is not)."""
        if self.reset is None:
            return None
        return RESET_REASON if self.reset.complete else f"{RESET_REASON} (the reset failed)"

    async def desired_applied(self, version: int) -> None:
        """A desired state was applied: a newer one than at a finished wipe ends the reset."""
        mark = self.reset
        if mark is None or not mark.complete or version <= mark.floor:
            return
        try:
            await asyncio.to_thread(self._store.set_reset, None)
        except StoreError as exc:
            log.error("%s: cannot end the reset state: %s", self._device, exc)
            return
        self.reset = None
        await self._audit.record(AuditEvent.APPLIED, self.topic, "reset_ended",
                                 f"desired version {version}")
        self._changed()

    async def on_job(self, raw: bytes) -> None:
        verdict = self._judge.open(raw, Job, trusted_keys=self._keys,
                                   audience=device_audience(self._device))
        if isinstance(verdict, Held):
            self._held = [*self._held[-(MAX_HELD_JOBS - 1):], raw]
            await self._audit.warn(AuditEvent.HELD, self.topic, "untrusted_clock", verdict.detail)
            return
        if isinstance(verdict, Refused):
            await self._refuse("?", verdict.reason.value, verdict.detail)
            return
        assert isinstance(verdict, Accepted)
        job = verdict.document
        assert isinstance(job, Job)
        async with self._running:  # one job at a time: the replay check sees every job run
            await self._take(job)

    async def time_trusted(self) -> None:
        held, self._held = self._held, []
        for raw in held:
            await self.on_job(raw)

    async def _take(self, job: Job) -> None:
        try:
            done = await asyncio.to_thread(self._store.job_state, job.id)
        except StoreError as exc:
            await self._refuse(job.id, "store_unavailable", str(exc))
            return
        if done is not None:
            await self._refuse(job.id, "replayed", f"job already taken here ({done})")
            return
        try:
            await asyncio.to_thread(self._store.record_job, job.id, job.kind, "in_progress",
                                    self._now_ms(), self._row("received", job))
        except StoreError as exc:  # not run: nothing recorded, so nothing may run
            await self._refuse(job.id, "store_unavailable", str(exc))
            return
        await self._ack(job.id, "received", "")
        await self._ack(job.id, "in_progress", "")
        try:
            detail = await (self._wipe(job) if job.kind == "wipe" else self._reboot())
        except (WipeError, StoreError, OSError) as exc:
            await self._finish(job, "failed", str(exc)[:400])
            return
        await self._finish(job, "succeeded", detail)

    async def _finish(self, job: Job, state: AckState, detail: str) -> None:
        try:
            await asyncio.to_thread(self._store.record_job, job.id, job.kind, state,
                                    self._now_ms(), self._row(state, job, detail))
        except StoreError as exc:
            log.error("%s: cannot record job %s %s: %s", self._device, job.id, state, exc)
        if state == "failed":
            log.warning("%s: job %s (%s) failed: %s", self._device, job.id, job.kind, detail)
        await self._ack(job.id, state, detail if state == "failed" else "")

    async def _wipe(self, job: Job) -> str:
        floor = self._desired_version()
        started = ResetMark(self._now_ms(), floor, complete=False)
        await asyncio.to_thread(self._store.set_reset, started)  # locked before any erasing
        self.reset = started
        self._changed()
        await self._erase_outbox()
        removed = 0
        for folder in self._data_dirs:
            removed += await asyncio.to_thread(empty_folder, folder, self._keep)
        finished = ResetMark(started.at, floor, complete=True)
        await asyncio.to_thread(self._store.set_reset, finished)
        self.reset = finished
        self._changed()
        return f"wiped by {job.by}: outbox and {removed} entries in {len(self._data_dirs)} folders"

    async def _reboot(self) -> str:
        if not self._reboot_command:
            raise WipeError("no reboot_command configured on this tablet")
        result = await asyncio.to_thread(subprocess.run, self._reboot_command,
                                         capture_output=True, timeout=60, check=False)
        if result.returncode != 0:
            raise WipeError(f"reboot command exited {result.returncode}")
        return "reboot requested"

    def _row(self, state: str, job: Job, detail: str = "") -> AuditRow:
        return AuditRow(self._now_ms(), f"job_{state}", self.topic, job.kind,
                        f"{job.id} by {job.by}: {job.reason} {detail}".strip()[:1000])

    async def _refuse(self, job_id: str, reason: str, detail: str) -> None:
        await self._audit.warn(AuditEvent.REFUSED, self.topic, reason, detail)
        await self._ack(job_id, "rejected", f"{reason}: {detail}")

    async def _ack(self, job_id: str, state: AckState, reason: str) -> None:
        try:
            await self._ack_out(Ack(ref=job_ref(job_id), state=state, reason=reason[:500],
                                    at=self._now_ms()))
        except Exception as exc:  # the job's record is kept; the gateway asks again later
            log.warning("%s: ack of %s not sent: %s", self._device, job_id, exc)

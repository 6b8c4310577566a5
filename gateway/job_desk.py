"""One-off jobs for tablets (`wire.jobs`): staff ask, a second member of staff approves a wipe,
the gateway signs the job once and sends it on `tablet/{id}/cmd` (QoS 1, never retained), again
at every birth of the tablet until the tablet takes it or it expires, and follows its acks.

Nothing reaches a tablet before the approval: a wipe's request is only a row and an audit entry.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import uuid
from typing import Any

from gateway.job_book import JobBook, JobConflict, StoredJob
from gateway.parts import Parts
from wire import topics
from wire.documents import Ack, device_audience
from wire.jobs import JOB_KINDS, TWO_PERSON_KINDS, Job
from wire.topics import TabletChannel

JOB_TTL_MS = 30 * 60 * 1000
"""How long a signed job may still be taken: an offline tablet that comes back later gets
nothing (the job is `expired`, audited)."""
SWEEP_S = 5.0
MAX_REASON = 500


class UnknownJob(Exception):
    """No such job, or no such tablet."""


class JobInputError(Exception):
    """The job cannot be made or approved as asked."""


class JobDesk:
    def __init__(self, parts: Parts) -> None:
        self._wing = parts.wing
        self._fleet = parts.fleet
        self._issuer = parts.issuer
        self._publisher = parts.publisher
        self._io = parts.io
        self._clock = parts.clock
        self._book = JobBook(parts.store)

    # -- from staff ------------------------------------------------------------------------

    async def request(self, device: str, kind: str, reason: str, by: str, who: str
                      ) -> dict[str, Any]:
        """Ask for a job; a two-person kind waits for `approve`, any other is signed and sent
        now. Raises UnknownJob (no such tablet) or JobInputError."""
        if kind not in JOB_KINDS:
            raise JobInputError(f"no job kind {kind!r}")
        if device not in self._fleet.tablets:
            raise UnknownJob(f"no tablet {device!r} on wing {self._wing}")
        reason = reason.strip()
        if not reason or len(reason) > MAX_REASON:
            raise JobInputError(f"give a reason of 1-{MAX_REASON} characters")
        _check_text(reason, by)
        now = self._clock()
        job = await self._io(self._book.request, "J" + uuid.uuid4().hex, device, kind, reason,
                             by, who, now)
        if kind not in TWO_PERSON_KINDS:
            envelope, expires = self._sign(job, now)
            job = await self._io(self._book.signed, job, envelope, expires, now)
            await self._send([job])
        return job.as_json()

    async def approve(self, job_id: str, by: str, who: str) -> dict[str, Any]:
        """The second member of staff's approval: only now is the job signed (naming both) and
        sent. Raises UnknownJob or JobInputError (same person, lapsed...; audited)."""
        _check_text(job_id, by)
        now = self._clock()
        try:
            job = await self._io(self._book.check_approval, job_id, by, who, now)
            if job is None:
                raise UnknownJob(f"no job {job_id!r}")
            job = dataclasses.replace(job, approved_who=who)
            envelope, expires = self._sign(job, now)
            job = await self._io(self._book.approve, job, by, who, now, envelope, expires)
        except JobConflict as exc:
            raise JobInputError(str(exc)) from exc
        await self._send([job])
        return job.as_json()

    async def listing(self, device: str | None = None) -> list[dict[str, Any]]:
        await self.sweep()
        return [job.as_json() for job in await self._io(self._book.listing, device)]

    async def get(self, job_id: str) -> dict[str, Any]:
        job = await self._io(self._book.get, job_id)
        if job is None:
            raise UnknownJob(f"no job {job_id!r}")
        return job.as_json()

    # -- to and from tablets ---------------------------------------------------------------

    async def on_ack(self, device: str, ack: Ack) -> None:
        """Follow a job's progress. A job the tablet had already taken (sent again after its ack
        was lost) comes back `rejected` as `replayed`, naming the state it ended in there."""
        if not ack.ref.startswith("job/"):
            return
        state: str = ack.state
        if state == "rejected" and ack.reason.startswith("replayed:"):
            state = next((s for s in ("succeeded", "failed") if f"({s})" in ack.reason), state)
        await self._io(self._book.mark, ack.ref.removeprefix("job/"), device, state,
                       ack.reason, self._clock())

    def on_birth(self, device: str) -> None:
        """A tablet came (back) online: its jobs still in date, again."""
        self._publisher.spawn(self._resend(device))

    async def republish(self) -> None:
        await self._resend(None)

    async def _resend(self, device: str | None) -> None:
        await self.sweep()
        await self._send(await self._io(self._book.to_send, device, self._clock()))

    async def sweep(self) -> None:
        """Lapse requests not approved in time, expire jobs not taken in time, end as `unknown`
        jobs taken but never reported finished (audited)."""
        now = self._clock()
        await self._io(self._book.lapse, now)
        await self._io(self._book.expire, now)
        await self._io(self._book.time_out, now)

    async def run(self) -> None:
        while True:
            await asyncio.sleep(SWEEP_S)
            with contextlib.suppress(Exception):  # a full disk: swept again next time
                await self.sweep()

    def _sign(self, job: StoredJob, now: int) -> tuple[bytes, int]:
        expires = now + JOB_TTL_MS
        document = Job.model_validate({
            "audience": device_audience(job.device), "version": max(now, 1), "issued": now,
            "expires": expires, "id": job.id, "kind": job.kind, "by": job.signed_by,
            "reason": job.reason})
        return self._issuer.seal(document), expires

    async def _send(self, jobs: list[StoredJob]) -> None:
        for job in jobs:
            if job.envelope is None or job.device not in self._fleet.tablets:
                continue
            sent = await self._publisher.publish(
                topics.tablet(job.device, TabletChannel.CMD), job.envelope, retain=False)
            if sent and job.state == "pending":
                await self._io(self._book.mark, job.id, job.device, "sent", "", self._clock())



def _check_text(*texts: str) -> None:
    """Text that has no UTF-8 spelling (a lone surrogate) is refused, not stored."""
    for text in texts:
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise JobInputError("text must be valid UTF-8") from exc

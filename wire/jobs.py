"""One-off jobs for one tablet (`tablet/{id}/cmd`, gateway → tablet, QoS 1, never retained).

A `Job` is a signed body like every gateway document: for one tablet (`device:<id>` audience),
short-lived (`expires` at most `MAX_JOB_TTL_MS` after `issued`), named by a random `id` the
tablet runs at most once, ever (it keeps the ids it has run). Its progress comes back on
`tablet/{id}/ack` as `wire.documents.Ack` with `ref = job_ref(id)`: `received`, `in_progress`,
then `succeeded` or `failed`; or `rejected` with the reason (expired, another tablet's, already
run, bad signature...).

A wipe is a two-person action: `by` names both members of staff, requester first and approver
second (`"os:alice+os:bob"`), so the tablet's record carries both.
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import StringConstraints, model_validator

from wire.documents import ShortText, SignedBody

JobKind = Literal["wipe", "reboot"]
JOB_KINDS: tuple[str, ...] = ("wipe", "reboot")
TWO_PERSON_KINDS = frozenset({"wipe"})
"""Kinds that need a second, different member of staff's approval before they are signed."""

MAX_JOB_TTL_MS = 60 * 60 * 1000
"""A job is valid for at most an hour after it is signed: an old job is never run."""

JobId = Annotated[str, StringConstraints(pattern=r"^J[0-9a-f]{32}$")]
"""`J` and a uuid4 in hex, made at the gateway when staff ask for the job."""

JobBy = Annotated[str, StringConstraints(min_length=1, max_length=250)]
"""Who ordered it; for a two-person job `first+second`."""


class Job(SignedBody):
    type: Literal["job"] = "job"
    id: JobId
    kind: JobKind
    by: JobBy
    reason: ShortText

    MAX_BYTES: ClassVar[int] = 4096

    @model_validator(mode="after")
    def _short_lived(self) -> Job:
        if not self.issued < self.expires <= self.issued + MAX_JOB_TTL_MS:
            raise ValueError(f"a job expires after it is issued and within {MAX_JOB_TTL_MS} ms")
        if self.kind in TWO_PERSON_KINDS:
            first, plus, second = self.by.partition("+")
            if not (plus and first.strip() and second.strip() and "+" not in second):
                raise ValueError(f"a {self.kind} names both approvers, as `first+second`")
        if not self.audience.startswith("device:"):
            raise ValueError("a job is for one tablet (audience device:<id>)")
        return self


def job_ref(job_id: str) -> str:
    """The `Ack.ref` of a job's progress."""
    return f"job/{job_id}"

"""Prisoners' requests (applications and complaints) and staff's answers (docs/architecture.md).

A `Request` goes tablet → gateway on `tablet/{id}/request` (QoS 1, not retained), as plain JSON
authenticated by the tablet's connection identity. Its `id` is made on the tablet, so a request
published twice (a lost PUBACK, an agent killed after sending) is one request: the gateway keeps
the first and ignores the rest.

A `RequestReply` goes gateway → tablet on `tablet/{id}/reply` (QoS 1, not retained), sealed like
every gateway document. The tablet keeps one reply per request id (a re-delivery is no change) and
acknowledges it with `Ack(ref="reply/<request id>", state="succeeded")`; the gateway sends again,
on every birth of the tablet, each reply not yet acknowledged.

A request a signed-in person wrote is theirs, not the tablet's: the gateway keeps it for them and
gives a copy (`RequestReply.asked`, with staff's answer once there is one) to each tablet of the
cell they live in now — after a move, the new cell's tablets get their earlier requests and every
later reply, and the old cell's tablets forget them. A tablet acknowledges a copy without an
answer with `Ack(ref="request/<request id>")`.
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import StringConstraints, model_validator

from wire.documents import AddedLater, Document, Millis, Name, SignedBody
from wire.prisoners import PrisonNumber

REQUEST_TYPES: tuple[str, ...] = (
    "general", "complaint", "healthcare", "visits", "canteen", "education",
)
"""The prison's usual application and complaint forms; the shell labels them."""

MAX_TEXT = 2000

MAX_OPEN = 10
"""Requests one tablet may have waiting for an answer. The tablet refuses the next one (the
prisoner waits for answers first) and the gateway refuses it too, so a tablet cannot fill the
wing's database or the staff's queue."""
TOO_MANY_OPEN = "too_many_open"
"""`RequestSaved.reason` when a tablet already has `MAX_OPEN` requests waiting."""

RequestId = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{32}$")]
"""A uuid4 in hex, made on the tablet."""
RequestType = Literal["general", "complaint", "healthcare", "visits", "canteen", "education"]
RequestText = Annotated[str, StringConstraints(min_length=1, max_length=MAX_TEXT)]


class Request(AddedLater):
    """What a prisoner wrote, as the tablet sends it."""

    ADDED_LATER = frozenset({"person"})

    id: RequestId
    type: RequestType
    text: RequestText
    created: Millis
    person: PrisonNumber | None = None
    """Who wrote it (None: written with nobody signed in, before prisoner accounts). Set on the
    tablet when written, so a request queued offline stays its writer's after a move."""

    MAX_BYTES: ClassVar[int] = 16 * 1024


class Asked(Document):
    """A person's request as the gateway keeps it: what a tablet of their cell needs to show it
    to them when it did not write it itself (they moved, or the cell has a second tablet)."""

    person: PrisonNumber
    type: RequestType
    text: RequestText
    created: Millis


class RequestReply(SignedBody, AddedLater):
    """Staff's answer to one request, for the tablet that sent it; or, for a person's request
    (`asked` set), a copy of it for a tablet of the cell they live in now, with staff's answer
    (`text`, `by`) once there is one."""

    ADDED_LATER = frozenset({"asked"})

    type: Literal["request_reply"] = "request_reply"
    request: RequestId
    text: RequestText | None
    """None: not answered yet (only in a copy: `asked` is set)."""
    by: Name | None
    asked: Asked | None = None

    MAX_BYTES: ClassVar[int] = 48 * 1024
    """Two texts of `MAX_TEXT` characters, each escaped at worst."""

    @model_validator(mode="after")
    def _answer_or_copy(self) -> RequestReply:
        if (self.text is None) != (self.by is None):
            raise ValueError("a reply has both its text and who wrote it")
        if self.text is None and self.asked is None:
            raise ValueError("a reply without an answer must carry the request (asked)")
        return self


def reply_ref(request_id: str) -> str:
    """The `Ack.ref` a tablet uses for a reply it stored (or refused)."""
    return f"reply/{request_id}"


def copy_ref(request_id: str) -> str:
    """The `Ack.ref` a tablet uses for a copy of a person's request, not answered yet, that it
    stored (or refused)."""
    return f"request/{request_id}"

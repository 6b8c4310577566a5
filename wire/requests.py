"""Prisoners' requests (applications and complaints) and staff's answers (docs/architecture.md).

A `Request` goes tablet → gateway on `tablet/{id}/request` (QoS 1, not retained), as plain JSON
authenticated by the tablet's connection identity. Its `id` is made on the tablet, so a request
published twice (a lost PUBACK, an agent killed after sending) is one request: the gateway keeps
the first and ignores the rest.

A `RequestReply` goes gateway → tablet on `tablet/{id}/reply` (QoS 1, not retained), sealed like
every gateway document. The tablet keeps one reply per request id (a re-delivery is no change) and
acknowledges it with `Ack(ref="reply/<request id>", state="succeeded")`; the gateway sends again,
on every birth of the tablet, each reply not yet acknowledged.
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import StringConstraints

from wire.documents import AddedLater, Millis, Name, SignedBody
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


class RequestReply(SignedBody):
    """Staff's answer to one request, for the tablet that sent it."""

    type: Literal["request_reply"] = "request_reply"
    request: RequestId
    text: RequestText
    by: Name


def reply_ref(request_id: str) -> str:
    """The `Ack.ref` a tablet uses for a reply it stored (or refused)."""
    return f"reply/{request_id}"

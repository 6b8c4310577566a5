"""The agent's local API for the shell: JSON lines over a Unix socket (DESIGN §1).

The shell sends requests (`{"op": ...}`); the agent answers each with one line and, after
`watch`, pushes a `state` line on every change. The shell is unprivileged and trusts nothing but
this socket; a line longer than `MAX_LINE` is a protocol error.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import Field, TypeAdapter, ValidationError

from wire.documents import Document, LockView

MAX_LINE = 64 * 1024


class ShellState(Document):
    """Everything the shell must show. The agent is its only source."""

    device: str
    locked: bool
    lock: LockView
    connected: bool
    """Whether the agent currently has a session with its wing gateway."""
    profile: str


def failsafe_state(device: str, reason: str) -> ShellState:
    """What the shell shows when it cannot know better: locked (fail closed)."""
    return ShellState(
        device=device,
        locked=True,
        lock=LockView(locked=True, source="failsafe", by="system", reason=reason),
        connected=False,
        profile="basic",
    )


class WatchRequest(Document):
    op: Literal["watch"]


class GetRequest(Document):
    op: Literal["get"]


Request = Annotated[WatchRequest | GetRequest, Field(discriminator="op")]
_REQUEST = TypeAdapter(Request)


class StateMessage(Document):
    type: Literal["state"] = "state"
    state: ShellState


class ErrorMessage(Document):
    type: Literal["error"] = "error"
    error: str


Message = Annotated[StateMessage | ErrorMessage, Field(discriminator="type")]
_MESSAGE = TypeAdapter(Message)


def encode(message: Document) -> bytes:
    return message.model_dump_json().encode("utf-8") + b"\n"


def parse_request(line: bytes) -> WatchRequest | GetRequest:
    """Parse one request line; raises ValueError with a short reason."""
    return _parse(_REQUEST, line)


def parse_message(line: bytes) -> StateMessage | ErrorMessage:
    """Parse one agent→shell line; raises ValueError with a short reason."""
    return _parse(_MESSAGE, line)


def _parse(adapter: TypeAdapter[Any], line: bytes) -> Any:
    if len(line) > MAX_LINE:
        raise ValueError(f"line over {MAX_LINE} bytes")
    try:
        return adapter.validate_python(json.loads(line))
    except (ValueError, ValidationError) as exc:
        raise ValueError(f"bad message: {str(exc).splitlines()[0]}") from exc

"""The Requests app's records: what the prisoner wrote, and where it is on its way to staff.

Pure apart from the one JSON file it is kept in. A request is `waiting` until the agent takes it
for delivery; the agent, not the shell, talks to the wing (the shell never touches the network).
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, StringConstraints, ValidationError

from device.i18n import N_
from device.storage import read_json, write_json

MAX_TEXT = 2000

REQUEST_TYPES: tuple[tuple[str, str, str], ...] = (
    ("general", N_("General application"), "envelope"),
    ("complaint", N_("Complaint"), "warning"),
    ("healthcare", N_("Healthcare"), "help"),
    ("visits", N_("Visits"), "home"),
    ("canteen", N_("Canteen and money"), "app"),
    ("education", N_("Education and work"), "book"),
)
"""(type id, label msgid, icon): the prison's usual application and complaint forms."""

TYPE_IDS = frozenset(t[0] for t in REQUEST_TYPES)


class Request(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    type: str
    text: Annotated[str, StringConstraints(min_length=1, max_length=MAX_TEXT)]
    status: Literal["waiting", "sent", "answered"] = "waiting"
    reply: str = ""


class Outbox(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    requests: tuple[Request, ...] = ()


def new_request(type_id: str, text: str) -> Request:
    """A request ready to queue; ValueError with a prisoner-safe reason if it cannot be sent."""
    text = text.strip()
    if type_id not in TYPE_IDS:
        raise ValueError(N_("Choose what your request is about."))
    if not text:
        raise ValueError(N_("Write something first."))
    if len(text) > MAX_TEXT:
        raise ValueError(N_("Your request is too long."))
    return Request(id=uuid.uuid4().hex, type=type_id, text=text)


def load(path: Path) -> Outbox:
    raw = read_json(path)
    try:
        return Outbox.model_validate(raw or {})
    except ValidationError:
        return Outbox()


def add(path: Path, request: Request) -> Outbox:
    outbox = load(path)
    updated = Outbox(requests=(*outbox.requests, request))
    write_json(path, updated.model_dump())
    return updated

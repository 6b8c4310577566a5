"""The Requests app's rules: the forms a prisoner may choose, what may be sent, and the one call
that hands a request to the agent.

The agent, not the shell, keeps the request (on disk, before it says "saved") and delivers it to
the wing; the shell never touches the network. What the shell lists comes back in the agent's
`ShellState.requests` (waiting / delivered / answered, with staff's reply).
"""

from __future__ import annotations

from pathlib import Path

from device.agent_link import AgentRefused, ask_once
from device.i18n import N_
from wire import requests as wire_requests
from wire.localapi import RequestSaved, SubmitRequest

MAX_TEXT = wire_requests.MAX_TEXT
SEND_TIMEOUT_S = 10.0

REQUEST_TYPES: tuple[tuple[str, str, str], ...] = (
    ("general", N_("General application"), "envelope"),
    ("complaint", N_("Complaint"), "warning"),
    ("healthcare", N_("Healthcare"), "cross"),
    ("visits", N_("Visits"), "people"),
    ("canteen", N_("Canteen and money"), "basket"),
    ("education", N_("Education and work"), "book"),
)
"""(type id, label msgid, icon): the prison's usual application and complaint forms."""

TYPE_IDS = frozenset(t[0] for t in REQUEST_TYPES)

STATUS_LABELS = {
    "waiting": N_("Waiting to send"),
    "delivered": N_("Sent to staff"),
    "answered": N_("Answered"),
}


def label_of(type_id: str) -> str:
    return dict((t, label) for t, label, _ in REQUEST_TYPES).get(type_id, type_id)


def checked_text(type_id: str, text: str) -> str:
    """The text to send; ValueError with a prisoner-safe reason if it cannot be sent."""
    text = text.strip()
    if type_id not in TYPE_IDS:
        raise ValueError(N_("Choose what your request is about."))
    if not text:
        raise ValueError(N_("Write something first."))
    if len(text) > MAX_TEXT:
        raise ValueError(N_("Your request is too long."))
    return text


def send(socket_path: Path | str, type_id: str, text: str,
         timeout: float = SEND_TIMEOUT_S) -> RequestSaved:
    """Hand the request to the agent on a connection of its own; any failure is a not-saved."""
    try:
        request = SubmitRequest.model_validate({"op": "request", "type": type_id, "text": text})
    except ValueError as exc:
        return RequestSaved(ok=False, reason=f"not a request the agent takes: {exc}")
    try:
        return ask_once(socket_path, request, RequestSaved, timeout)
    except AgentRefused as exc:
        return RequestSaved(ok=False, reason=str(exc))

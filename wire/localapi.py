"""The agent's local API for the shell: JSON lines over a Unix socket (docs/architecture.md).

The shell sends requests (`{"op": ...}`); the agent answers each with one line and, after
`watch`, pushes a `state` line on every change. `{"op": "launch", "app": ID}` is answered with a
`launch` line (ok, reason, argv): the shell spawns an app only on its yes. `sign_in`, `set_pin`,
`change_pin`, `sign_out`, `active`, `settings` and `lesson` are answered with a `person` line
(docs/prisoners-tablet.md).
The shell is unprivileged and trusts nothing but this socket; a line longer than `MAX_LINE` is a
protocol error.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints, TypeAdapter, ValidationError

from wire.documents import AppId, Document, LockView, Millis
from wire.prisoners import (
    MAX_LESSONS,
    DisplayName,
    Language,
    LessonId,
    LessonState,
    PrisonNumber,
    Settings,
)
from wire.requests import RequestText, RequestType

MAX_LINE = 64 * 1024


class CurfewView(Document):
    """Where the tablet stands against curfew, as the agent computes it from the stored policy."""

    state: Literal["open", "warning", "curfew", "unknown"] = "unknown"
    """`warning`: curfew starts within 15 minutes; `unknown`: no policy or no trusted time yet
    (the agent then enforces curfew rules: fail closed)."""
    starts_at: Millis | None = None
    """The next (or current) curfew window's start."""
    ends_at: Millis | None = None
    minutes_left: int | None = None
    """Whole minutes before the curfew starts, while in `warning`."""
    label: str = ""
    """What the stretch is called in policy: `curfew`, a lockdown's or a one-off's name."""


class AppTile(Document):
    """An app the shell may show on its home, lock or curfew screen."""

    id: str
    name: str
    icon: str = ""
    """An icon name from the shell's icon set, or a path inside the app's verified bundle."""
    names: dict[Language, str] = Field(default_factory=dict)
    """The name in the shell's other languages, as policy gives them (`name` is the English)."""
    allowed_now: bool
    """Whether the agent would say yes to launching it at this instant."""
    always_allowed: bool = False
    """Named in policy as allowed in curfew and when locked (e.g. the Listener line)."""
    closes_at: Millis | None = None
    """While allowed: when it stops being allowed (a curfew or the end of its profile hours), if
    within the warning period. The shell warns; when the tile turns `allowed_now=False` (or leaves
    `apps`) the shell closes the running app."""


class UpdateView(Document):
    state: str = "idle"
    """The update engine's state: idle, downloading, ..., committed, rolled_back."""
    progress: int = 0
    """0-100 within the current step."""
    message: str = ""


class RequestView(Document):
    """One of the tablet's requests as the shell lists it: `waiting` (kept on the tablet, not
    yet delivered), `delivered` (the wing has it), `answered` (with staff's `reply`)."""

    id: str
    type: str
    text: str
    """The start of what was written (the shell shows a preview)."""
    created: Millis
    status: Literal["waiting", "delivered", "answered"]
    reply: str = ""
    reply_by: str = ""


class WebSite(Document):
    """A site the Web app lists: the tablet may use it now."""

    site: str
    title: str
    purpose: str
    """One of the catalogue's purposes (housing, jobs, ...): the shell shows it in its words."""
    until: Millis | None = None
    """When it stops: the grant's expiry or the next curfew, whichever comes first (None: not
    known)."""


class WebBlocked(Document):
    """The gateway's latest refusal of a page the browser asked for (the forwarder heard it)."""

    host: str
    reason: str
    """The gateway's short reason (`not_listed`, `locked`, `proxy_unreachable`, ...)."""
    at: Millis


class WebView(Document):
    """The Web app: whether this tablet has one, what it lists, the latest refusal."""

    available: bool = False
    """The agent runs the browser's forwarder (`[web]` in its configuration)."""
    sites: tuple[WebSite, ...] = ()
    blocked: WebBlocked | None = None


MAX_SHOWN_REQUESTS = 5
"""Newest requests carried in `ShellState` (keeps a state line far below `MAX_LINE`)."""
REQUEST_PREVIEW = 200


class OccupantView(Document):
    """One person the sign-in screen offers: never their verifier, attempts or anything secret."""

    number: PrisonNumber
    display: DisplayName


class PersonView(Document):
    """Who is signed in, as the shell shows them (the signed-in header) and their settings."""

    number: PrisonNumber
    display: DisplayName
    settings: Settings = Settings()
    must_set_pin: bool = False
    """Signed in with a one-time code: the shell shows only "choose your PIN" until one is set."""
    lessons: dict[LessonId, LessonState] = Field(default_factory=dict,
                                                 max_length=MAX_LESSONS)
    """The person's lesson progress: the gateway's (their occupant record), overlaid with steps
    taken on this tablet that the gateway has not yet echoed back."""


class ShellState(Document):
    """Everything the shell must show. The agent is its only source. It never carries a PIN
    verifier (tests/agent/test_people.py checks the schema): the shell runs unprivileged."""

    device: str
    locked: bool
    lock: LockView
    connected: bool
    """Whether the agent currently has a session with its wing gateway."""
    profile: str
    """The profile whose apps (`apps`) and sites (`web`) the tablet offers now — the same one
    the launch check uses: the tablet's own (`DesiredState.profile`) on a tablet without prisoner
    accounts; on a tablet whose cell has occupants, the signed-in person's (`Occupant.profile`),
    or "" with nobody (fully) signed in: only the always-allowed apps."""
    trusted_time: Millis | None = None
    """The agent's trusted clock at the moment it sent this state (None: no trusted time yet)."""
    timezone: Annotated[str, StringConstraints(max_length=64)] | None = None
    """The wing policy's time zone (validated there), e.g. `Europe/London`: the shell shows every
    time in it (None: no policy yet)."""
    curfew: CurfewView = CurfewView()
    apps: tuple[AppTile, ...] = ()
    update: UpdateView = UpdateView()
    requests: tuple[RequestView, ...] = ()
    """The newest requests, newest first: only the signed-in person's (nobody signed in on a
    tablet with occupants: none)."""
    web: WebView = WebView()
    occupants: tuple[OccupantView, ...] = ()
    """The cell's occupants, who may sign in. Empty: the tablet has no accounts (no sign-in), or
    nobody may sign in now (locked, curfew)."""
    person: PersonView | None = None
    """Who is signed in (None: nobody). Always None while locked or in curfew: the agent ends
    the session first."""


RESET_REASON = "This tablet was reset"
"""The fail-safe lock's reason after a remote wipe (agent/jobs.py): the shell says so, and that
staff will set the tablet up for its next user."""


def is_reset(state: ShellState) -> bool:
    return state.lock.source == "failsafe" and state.lock.reason.startswith(RESET_REASON)


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


class LaunchRequest(Document):
    """Ask whether an app may start now. The shell starts the process itself, with the reply's
    `argv`, only after `ok=True`: the agent has verified the app's signed manifest and the hashes
    of its files on disk, and the policy allows it at this instant."""

    op: Literal["launch"]
    app: AppId


class SubmitRequest(Document):
    """Send a request to staff. The agent answers `RequestSaved` only once it is stored on the
    tablet (it survives a reboot); it delivers it when the wing is reachable."""

    op: Literal["request"]
    type: RequestType
    text: RequestText


class WebOpenRequest(Document):
    """Open a site of the Web app's list in the kiosk browser. Answered with a `LaunchReply`
    (`app="web"`): the agent checks the site is allowed now and gives the browser's command
    line, pointed at its forwarder; the shell starts it like any app."""

    op: Literal["web"]
    site: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_-]{0,31}$")]


PinDigits = Annotated[str, StringConstraints(pattern=r"^[0-9]{1,16}$")]
"""What the PIN pad sends: a PIN or a one-time code (digits only)."""


class SignInRequest(Document):
    """Sign `number` in with a PIN or one-time code; the agent checks it against the stored
    verifier (`PersonReply`)."""

    op: Literal["sign_in"]
    number: PrisonNumber
    pin: PinDigits


class SetPinRequest(Document):
    """Choose a PIN, in a session opened with a one-time code."""

    op: Literal["set_pin"]
    pin: PinDigits


class ChangePinRequest(Document):
    """The signed-in person changes their PIN: `old` is checked like a sign-in, `pin` must pass
    the PIN rules (`wire.prisoners.check_pin`); the shell has asked for it twice."""

    op: Literal["change_pin"]
    old: PinDigits
    pin: PinDigits


class SignOutRequest(Document):
    op: Literal["sign_out"]


class SettingsRequest(Document):
    """The signed-in person changed their language, text size or contrast: they follow them."""

    op: Literal["settings"]
    settings: Settings


class LessonRequest(Document):
    """The signed-in person moved to a step of a lesson, or finished it: it is theirs (the agent
    keeps it and sends a `lesson` event), never the tablet's."""

    op: Literal["lesson"]
    lesson: LessonId
    state: LessonState


class ActiveRequest(Document):
    """The person touched the screen: their session is not idle."""

    op: Literal["active"]


PersonRequest = (
    SignInRequest | SetPinRequest | ChangePinRequest | SignOutRequest | ActiveRequest
    | SettingsRequest | LessonRequest
)

Request = Annotated[
    WatchRequest | GetRequest | LaunchRequest | SubmitRequest | WebOpenRequest | SignInRequest
    | SetPinRequest | ChangePinRequest | SignOutRequest | ActiveRequest | SettingsRequest
    | LessonRequest,
    Field(discriminator="op"),
]
_REQUEST = TypeAdapter(Request)


class StateMessage(Document):
    type: Literal["state"] = "state"
    state: ShellState


class ErrorMessage(Document):
    type: Literal["error"] = "error"
    error: str


class LaunchReply(Document):
    """The answer to one `LaunchRequest`; `reason` is short and says why not when `ok` is False."""

    type: Literal["launch"] = "launch"
    app: str
    ok: bool
    reason: str = ""
    argv: tuple[str, ...] = ()
    """The command line to run, the verified entry point's absolute path first; empty unless ok."""


class RequestSaved(Document):
    """The answer to one `SubmitRequest`: `ok` with the request's id, or a short reason."""

    type: Literal["request_saved"] = "request_saved"
    ok: bool
    id: str = ""
    reason: str = ""


PersonOutcome = Literal[
    "ok", "wrong", "locked_out", "must_set_pin", "not_here", "refused",
]
"""`ok`: signed in (or the PIN set, or signed out); `wrong`: not the PIN (`attempts_left`);
`locked_out`: too many wrong, or no credential yet: staff must reset; `must_set_pin`: the
one-time code was right, the person must now choose a PIN; `not_here`: not an occupant of this
cell; `refused`: not now or not allowed (`reason`: locked, curfew, a PIN rule...)."""


class PersonReply(Document):
    """The answer to one sign_in / set_pin / change_pin / sign_out / active / settings / lesson
    request (`change_pin`: `wrong` is the current PIN, as at sign-in)."""

    type: Literal["person"] = "person"
    op: Literal["sign_in", "set_pin", "change_pin", "sign_out", "active", "settings", "lesson"]
    outcome: PersonOutcome
    attempts_left: int = 0
    reason: str = ""


Message = Annotated[
    StateMessage | ErrorMessage | LaunchReply | RequestSaved | PersonReply,
    Field(discriminator="type"),
]
_MESSAGE = TypeAdapter(Message)


def encode(message: Document) -> bytes:
    return message.model_dump_json().encode("utf-8") + b"\n"


def parse_request(
    line: bytes,
) -> WatchRequest | GetRequest | LaunchRequest | SubmitRequest | WebOpenRequest | PersonRequest:
    """Parse one request line; raises ValueError with a short reason."""
    return _parse(_REQUEST, line)


def parse_message(
    line: bytes,
) -> StateMessage | ErrorMessage | LaunchReply | RequestSaved | PersonReply:
    """Parse one agent→shell line; raises ValueError with a short reason."""
    return _parse(_MESSAGE, line)


def _parse(adapter: TypeAdapter[Any], line: bytes) -> Any:
    if len(line) > MAX_LINE:
        raise ValueError(f"line over {MAX_LINE} bytes")
    try:
        # JSON mode: strict models still accept a JSON array for a tuple field (apps, argv).
        return adapter.validate_json(line)
    except (ValueError, ValidationError) as exc:
        raise ValueError(f"bad message: {str(exc).splitlines()[0]}") from exc

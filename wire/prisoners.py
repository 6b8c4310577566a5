"""Prisoner accounts on the wire (docs/prisoners.md; DESIGN §10).

A person, not a tablet, owns requests, lesson progress, settings and web grants. The gateway
keeps the records; a cell's tablet learns, inside its signed desired state (`DesiredState.
occupants`), who lives in that cell and one slow-hash verifier each, so PINs are checked on the
tablet with the gateway unreachable. The agent (root) keeps the verifiers; the shell never sees one.

What the tablet learns of a person travels back as `PersonEvent`s on `tablet/{id}/person`
(QoS 1, not retained), plain JSON authenticated by the tablet's connection identity. Each event's
`id` is made on the tablet, so an event published twice (a lost PUBACK, an agent killed after
sending) is applied once: the gateway keeps the first and ignores the rest.
"""

from __future__ import annotations

import re
from typing import Annotated, ClassVar, Literal

from pydantic import Field, StringConstraints, model_validator

from wire.model import Counter, Document, Millis, WebGrant

PRISON_NUMBER_PATTERN = r"[A-Z][0-9]{4}[A-Z]{2}"
"""A prison number as the roll writes it: `A1234BC` (letter, four digits, two letters)."""
_PRISON_NUMBER = re.compile(rf"^{PRISON_NUMBER_PATTERN}$")
PrisonNumber = Annotated[str, StringConstraints(pattern=rf"^{PRISON_NUMBER_PATTERN}$")]

VERIFIER_PATTERN = (
    r"\$argon2id\$v=19\$m=\d{1,7},t=\d{1,3},p=\d{1,3}"
    r"\$[A-Za-z0-9+/]{11,64}\$[A-Za-z0-9+/]{16,128}"
)
"""An argon2id hash in its encoded (PHC string) form, as `argon2-cffi` writes it."""
Verifier = Annotated[str, StringConstraints(pattern=rf"^{VERIFIER_PATTERN}$")]

MIN_PIN_DIGITS = 6
MAX_PIN_DIGITS = 12
MAX_ATTEMPTS = 5
"""Wrong PINs (or one-time codes) in a row before a person is locked out until staff reset."""
MAX_OCCUPANTS = 4
"""People in one cell that a tablet may be told about (a shared cell is two; four leaves room)."""
MAX_LESSONS = 32
MAX_PERSON_WEB_GRANTS = 8
"""Web grants one occupant carries to the tablet (soonest to end first): four occupants' worth
stays well inside a desired state's size limit."""

LANGUAGES: tuple[str, ...] = ("en", "pl")
TEXT_SCALES: tuple[int, ...] = (100, 125, 150)
"""Text sizes in percent (an integer: a signed document carries no floats); the shell's scale
is `text_scale / 100`."""
THEMES: tuple[str, ...] = ("standard", "high_contrast")

Language = Literal["en", "pl"]
Credential = Literal["one_time", "pin"]
"""What the verifier checks: a one-time code staff issued (the person must then set a PIN), or
the person's own PIN."""
SessionEnd = Literal["sign_out", "idle", "lock", "curfew", "lockdown", "moved", "reboot"]

EventId = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{32}$")]
"""A uuid4 in hex, made on the tablet."""
LESSON_ID_PATTERN = r"[a-z0-9][a-z0-9_-]{0,63}"
"""A lesson's id: in its file (`device/lessons/*.toml`) and on the wire (the one pattern both
check), e.g. `staying-safe`, `2fa-basics`."""
LessonId = Annotated[str, StringConstraints(pattern=rf"^{LESSON_ID_PATTERN}$")]
DisplayName = Annotated[str, StringConstraints(min_length=1, max_length=40)]
"""What the tablet shows on a sign-in button: first name and initial ("John S.")."""


def is_prison_number(value: object) -> bool:
    return isinstance(value, str) and bool(_PRISON_NUMBER.match(value))


def check_prison_number(value: str) -> str:
    """Return `value` if it is a prison number, else raise ValueError saying how to write one."""
    if not is_prison_number(value):
        raise ValueError(f"invalid prison number {value!r}: write it like A1234BC")
    return value


def check_pin(pin: str) -> str:
    """Return `pin` if a person may choose it, else raise ValueError in plain words."""
    if not (pin.isascii() and pin.isdigit()):
        raise ValueError("a PIN is digits only")
    if not MIN_PIN_DIGITS <= len(pin) <= MAX_PIN_DIGITS:
        raise ValueError(f"a PIN has {MIN_PIN_DIGITS} to {MAX_PIN_DIGITS} digits")
    if len(set(pin)) == 1:
        raise ValueError("a PIN cannot be one digit repeated")
    return pin


class Settings(Document):
    """A person's display settings: they follow the person from cell to cell."""

    language: Language = "en"
    text_scale: int = 100
    """Percent, one of TEXT_SCALES."""
    theme: Literal["standard", "high_contrast"] = "standard"

    @model_validator(mode="after")
    def _known_scale(self) -> Settings:
        if self.text_scale not in TEXT_SCALES:
            raise ValueError(f"text_scale must be one of {TEXT_SCALES}")
        return self


class LessonState(Document):
    """How far a person is in one lesson."""

    step: Annotated[int, Field(ge=0, le=999)] = 0
    done: bool = False


class Occupant(Document):
    """One person of a cell, as the cell's tablet learns of them in its desired state."""

    number: PrisonNumber
    display: DisplayName
    profile: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_-]{0,31}$")] = "standard"
    """The person's privilege profile: decides their apps and web sites while signed in."""
    verifier: Verifier | None = None
    """None: no credential yet (staff must issue a one-time code) — nobody can sign in as them."""
    credential: Credential = "one_time"
    pin_epoch: Counter = 0
    """Raised by the gateway at every staff reset; the tablet clears its count of wrong
    attempts when it rises, and ignores an older epoch's events."""
    locked_out: bool = False
    """The gateway's view: MAX_ATTEMPTS wrong in a row (on any tablet) and no reset since."""
    settings: Settings = Settings()
    lessons: dict[LessonId, LessonState] = Field(default_factory=dict, max_length=MAX_LESSONS)
    web_grants: Annotated[tuple[WebGrant, ...], Field(max_length=MAX_PERSON_WEB_GRANTS)] = ()
    """The person's web grants in effect or starting later: while they are signed in, the Web
    app lists their profile's sites and these (the gateway decides every connection by them
    too); nobody else on the tablet sees them."""


class Occupants(Document):
    """The part of a tablet's desired state about who lives in its cell (at most MAX_OCCUPANTS,
    each number once)."""

    people: Annotated[tuple[Occupant, ...], Field(max_length=MAX_OCCUPANTS)] = ()

    @model_validator(mode="after")
    def _distinct(self) -> Occupants:
        numbers = [person.number for person in self.people]
        if len(set(numbers)) != len(numbers):
            raise ValueError("a person is named twice among the occupants")
        return self


PersonEventKind = Literal[
    "signed_in", "signed_out", "pin_set", "pin_failed", "pin_locked", "settings", "lesson",
]


class PersonEvent(Document):
    """Something the tablet learned of a person (`tablet/{id}/person`).

    - `signed_in` / `signed_out` (with `ended`): who is using the tablet now — the web gateway
      decides by it; nobody signed in means no web.
    - `pin_set`: the person chose a PIN after a one-time code (or changed it); `verifier` is its
      argon2id hash made on the tablet, for the gateway to keep so the PIN follows the person.
    - `pin_failed` (`attempts`: wrong in a row at this epoch) and `pin_locked`.
    - `settings`, `lesson`: what follows the person to their next cell.
    """

    id: EventId
    kind: PersonEventKind
    person: PrisonNumber
    at: Millis
    pin_epoch: Counter = 0
    ended: SessionEnd | None = None
    verifier: Verifier | None = None
    attempts: Annotated[int, Field(ge=0, le=1000)] = 0
    settings: Settings | None = None
    lesson: LessonId | None = None
    lesson_state: LessonState | None = None

    MAX_BYTES: ClassVar[int] = 4 * 1024

    @model_validator(mode="after")
    def _fields_of_kind(self) -> PersonEvent:
        wanted = {
            "signed_out": self.ended is not None,
            "pin_set": self.verifier is not None,
            "settings": self.settings is not None,
            "lesson": self.lesson is not None and self.lesson_state is not None,
        }
        if not wanted.get(self.kind, True):
            raise ValueError(f"a {self.kind} event lacks its fields")
        return self

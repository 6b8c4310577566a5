"""The wing policy document (`wing/policy`, retained, signed by the wing gateway).

It says *when* the wing's tablets may be used (weekly curfew windows in the prison's local time,
day-regime exceptions such as a bank holiday run as a Sunday, one-off overrides such as a late
association, lockdown periods) and *what* may run (the app catalogue, the apps that stay allowed in
curfew and when locked, and the privilege profiles with each app's hours) and which web sites (the
site catalogue, named in profiles; `wire.webaccess` decides a request). All times here are local
wall-clock times of `timezone`; `wire.schedule` turns them into instants, DST-correctly.

The policy hash (`policy_hash`) names the rules alone, not their envelope: a policy re-issued as a
new version with the same rules keeps its hash.
"""

from __future__ import annotations

import hashlib
import re
import zoneinfo
from collections.abc import Mapping
from datetime import date, datetime
from typing import Annotated, Any, ClassVar, Literal

from pydantic import AfterValidator, Field, StringConstraints, field_validator, model_validator

from wire.documents import AddedLater, AppId, Document, Name, ShortText, SignedBody
from wire.envelope import canonical_json
from wire.hostnames import HostError, normalise_pattern
from wire.prisoners import Language

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
"""In `date.weekday()` order."""

REQUIRED_PROFILES = ("basic", "standard", "enhanced", "resettlement")
"""The prison incentive levels plus resettlement: every policy defines all four."""

ProfileName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_-]{0,31}$")]
SiteName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_-]{0,31}$")]
"""A site of the web catalogue, as profiles and grants name it: `housing`, `universal-credit`."""
Purpose = Literal["housing", "jobs", "benefits", "id", "banking", "legal", "education"]
PURPOSES: tuple[Purpose, ...] = ("housing", "jobs", "benefits", "id", "banking", "legal",
                                 "education")
"""Why a prisoner may reach a site: the fixed list staff choose from (resettlement needs)."""
MinuteOfDay = Annotated[int, Field(ge=0, le=1439)]

_LOCAL_DATETIME = re.compile(r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})")


def local_datetime(value: str) -> datetime:
    """A `LocalDateTime` (`2026-12-24T23:00`) as a naive datetime; ValueError for any other
    text, or a time that is not on the calendar (`2026-02-30T25:00`). (What `strptime` with
    `%Y-%m-%dT%H:%M` says of two-digit fields, at a fraction of its cost: a tablet reads every
    override and lockdown of each new policy.)"""
    match = _LOCAL_DATETIME.fullmatch(value)
    if match is None:
        raise ValueError("must be a local date and time YYYY-MM-DDTHH:MM")
    year, month, day, hour, minute = map(int, match.groups())
    return datetime(year, month, day, hour, minute)


def _local_datetime(value: str) -> str:
    local_datetime(value)
    return value


def _iso_date(value: str) -> str:
    if not re.match(r"^\d{4}-\d{2}-\d{2}$", value):
        raise ValueError("must be a date YYYY-MM-DD")
    date.fromisoformat(value)
    return value


def _timezone(value: str) -> str:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {value!r}") from exc
    return value


LocalDateTime = Annotated[str, AfterValidator(_local_datetime)]
"""A wall-clock time in the policy's time zone, to the minute: `2026-12-24T23:00`."""
IsoDate = Annotated[str, AfterValidator(_iso_date)]
TimeZoneName = Annotated[str, AfterValidator(_timezone)]


def hhmm(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


class Window(Document):
    """A weekly window: on each of `days` from `start` to `end` (minutes of the local day).

    An `end` at or before `start` ends on the next day: a window across midnight belongs to the day
    it starts on (`fri 22:00-07:00` runs Friday night into Saturday morning).
    """

    days: Annotated[tuple[Weekday, ...], Field(min_length=1, max_length=7)]
    start: MinuteOfDay
    end: MinuteOfDay

    @model_validator(mode="after")
    def _sane(self) -> Window:
        if len(set(self.days)) != len(self.days):
            raise ValueError("a day is listed twice")
        if self.start == self.end:
            raise ValueError(f"window {hhmm(self.start)}-{hhmm(self.end)} is empty")
        return self

    def __str__(self) -> str:
        return f"{days_text(self.days)} {hhmm(self.start)}-{hhmm(self.end)}"


def days_text(days: tuple[Weekday, ...]) -> str:
    """Days as staff write them: `daily`, `weekdays`, `sun-thu`, `mon,wed,fri`."""
    chosen = set(days)
    for name, group in _DAY_GROUPS.items():
        if chosen == set(group):
            return name
    parts = []
    for i, day in enumerate(WEEKDAYS):
        if day not in chosen or (WEEKDAYS[i - 1] in chosen and len(chosen) < 7):
            continue
        run = [day]
        while WEEKDAYS[(i + len(run)) % 7] in chosen and len(run) < 7:
            run.append(WEEKDAYS[(i + len(run)) % 7])
        parts.append(f"{run[0]}-{run[-1]}" if len(run) > 2 else ",".join(run))
    return ",".join(parts)


_WINDOW = re.compile(
    r"^\s*(?P<days>[A-Za-z,\- ]+?)\s+(?P<start>\d{1,2}:\d{2})\s*-\s*(?P<end>\d{1,2}:\d{2})\s*$"
)
_DAY_GROUPS: dict[str, tuple[Weekday, ...]] = {
    "daily": WEEKDAYS,
    "weekdays": WEEKDAYS[:5],
    "weekends": WEEKDAYS[5:],
}


def _parse_minute(text: str) -> int:
    hours, minutes = (int(part) for part in text.split(":"))
    if hours > 23 or minutes > 59:
        raise ValueError(f"{text!r} is not a time of day (00:00-23:59)")
    return hours * 60 + minutes


def _parse_days(text: str) -> tuple[Weekday, ...]:
    days: list[Weekday] = []
    for part in (p.strip().lower() for p in text.split(",")):
        if part in _DAY_GROUPS:
            days.extend(_DAY_GROUPS[part])
            continue
        ends = [e.strip() for e in part.split("-")]
        if len(ends) > 2 or any(e not in WEEKDAYS for e in ends):
            raise ValueError(
                f"{part!r} is not a day: use mon..sun, a range like mon-fri or sun-thu, "
                "daily, weekdays or weekends"
            )
        first = WEEKDAYS.index(ends[0])  # type: ignore[arg-type]
        last = WEEKDAYS.index(ends[-1])  # type: ignore[arg-type]
        span = (last - first) % 7
        days.extend(WEEKDAYS[(first + i) % 7] for i in range(span + 1))
    if len(set(days)) != len(days):
        raise ValueError(f"{text!r} names a day twice")
    return tuple(sorted(days, key=WEEKDAYS.index))


def parse_window(text: str) -> Window:
    """`"sun-thu 22:00-07:00"` → a Window; raises ValueError saying what is wrong."""
    match = _WINDOW.match(text)
    if not match:
        raise ValueError(f"{text!r} is not DAYS HH:MM-HH:MM (e.g. \"sun-thu 22:00-07:00\")")
    start, end = _parse_minute(match["start"]), _parse_minute(match["end"])
    if start == end:
        raise ValueError(f"{text!r} is empty: it starts when it ends")
    return Window(days=_parse_days(match["days"]), start=start, end=end)


class DayRegime(Document):
    """Run `date` under the weekly windows of another weekday (a bank holiday as a Sunday)."""

    name: Name
    date: IsoDate
    as_day: Weekday


class Override(Document):
    """A one-off change: `open` lifts curfew (a late association), `curfew` adds one."""

    name: Name
    start: LocalDateTime
    end: LocalDateTime
    effect: Literal["open", "curfew"]

    @model_validator(mode="after")
    def _ordered(self) -> Override:
        if self.end <= self.start:
            raise ValueError(f"{self.name!r} ends ({self.end}) before it starts ({self.start})")
        return self


class Lockdown(Document):
    """A lockdown period: stronger than curfew and any override; only always-allowed apps run."""

    name: Name
    start: LocalDateTime
    end: LocalDateTime

    @model_validator(mode="after")
    def _ordered(self) -> Lockdown:
        if self.end <= self.start:
            raise ValueError(f"{self.name!r} ends ({self.end}) before it starts ({self.start})")
        return self


class AppEntry(AddedLater):
    """An app of the wing's catalogue, pinned to the version whose signed manifest may run."""

    ADDED_LATER = frozenset({"names"})

    name: Name
    version: Annotated[str, StringConstraints(pattern=r"^[0-9A-Za-z][0-9A-Za-z.+_-]{0,31}$")]
    icon: Annotated[str, StringConstraints(max_length=120)] = ""
    names: dict[Language, Name] = Field(default_factory=dict)
    """The app's name in the shell's other languages (`names = { pl = "..." }`): `name` is the
    English one, shown in any language not named here."""


def check_host_pattern(value: str) -> str:
    """`value` if it is a host pattern in its one spelling, else ValueError saying how to write
    it."""
    try:
        pattern = normalise_pattern(value)
    except HostError as exc:
        raise ValueError(str(exc)) from exc
    if pattern != value:
        raise ValueError(f"{value!r}: write it as {pattern!r} (lower-case, no trailing dot, "
                         "international names in their xn-- form)")
    return value


HostPattern = Annotated[str, AfterValidator(check_host_pattern)]
"""`www.gov.uk` (that name) or `*.gov.uk` (any name under gov.uk): see `wire.hostnames`."""


class Site(Document):
    """A site of the wing's web catalogue: what staff may allow, named once, with why."""

    title: Annotated[str, StringConstraints(min_length=1, max_length=80)]
    """What the prisoner reads on the Web app's list, in plain words."""
    purpose: Purpose
    hosts: Annotated[tuple[HostPattern, ...], Field(min_length=1, max_length=32)]
    sensitive: bool = False
    """A grant of it needs a second, different member of staff to approve (banking)."""


class Profile(Document):
    """A privilege profile: the apps it may use while the tablet is open, and for some of them,
    the only hours they may be used (no entry in `hours`: whenever the tablet is open); and the
    web sites of the catalogue its tablets may reach."""

    apps: tuple[AppId, ...] = ()
    sites: tuple[SiteName, ...] = ()
    hours: dict[AppId, Annotated[tuple[Window, ...], Field(min_length=1)]] = Field(
        default_factory=dict
    )

    @model_validator(mode="after")
    def _hours_for_listed_apps(self) -> Profile:
        if len(set(self.apps)) != len(self.apps):
            raise ValueError("an app is listed twice")
        if len(set(self.sites)) != len(self.sites):
            raise ValueError("a site is listed twice")
        unlisted = sorted(set(self.hours) - set(self.apps))
        if unlisted:
            raise ValueError(f"hours given for apps not in this profile: {', '.join(unlisted)}")
        return self


class WingPolicy(SignedBody, AddedLater):
    """The wing's curfew and app policy (`wing/policy`, retained, audience `wing:<id>`)."""

    ADDED_LATER = frozenset({"session_idle_minutes"})

    type: Literal["policy"] = "policy"
    name: Name
    timezone: TimeZoneName = "Europe/London"
    curfew: tuple[Window, ...] = ()
    warn_minutes: Annotated[tuple[int, ...], Field(min_length=1, max_length=5)] = (15, 5, 1)
    day_regimes: tuple[DayRegime, ...] = ()
    overrides: tuple[Override, ...] = ()
    lockdowns: tuple[Lockdown, ...] = ()
    apps: dict[AppId, AppEntry] = Field(default_factory=dict)
    always_allowed: tuple[AppId, ...] = ()
    """Allowed in curfew, lockdown and when the tablet is locked (the Listener line, legal mail)."""
    profiles: dict[ProfileName, Profile]
    sites: dict[SiteName, Site] = Field(default_factory=dict)
    """The web catalogue: every site a profile or a grant may name."""
    note: ShortText = ""
    session_idle_minutes: Annotated[int, Field(ge=1, le=240)] | None = None
    """How long a signed-in prisoner may leave the tablet untouched before their session ends
    (None: the tablet's own `session_idle_s`, 10 minutes unless configured)."""

    MAX_BYTES: ClassVar[int] = 256 * 1024

    @field_validator("warn_minutes")
    @classmethod
    def _warnings(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if any(not 1 <= m <= 120 for m in value):
            raise ValueError("each warning is 1 to 120 minutes before curfew")
        if list(value) != sorted(set(value), reverse=True):
            raise ValueError("distinct, largest first (e.g. 15, 5, 1)")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> WingPolicy:
        missing = [p for p in REQUIRED_PROFILES if p not in self.profiles]
        if missing:
            raise ValueError(f"profiles: missing {', '.join(missing)}")
        referenced = {*self.always_allowed}
        for profile in self.profiles.values():
            referenced.update(profile.apps)
        unknown = sorted(referenced - set(self.apps))
        if unknown:
            raise ValueError(f"apps not in the catalogue: {', '.join(unknown)}")
        named = {site for profile in self.profiles.values() for site in profile.sites}
        unknown = sorted(named - set(self.sites))
        if unknown:
            raise ValueError(f"sites not in the catalogue: {', '.join(unknown)}")
        dates = [d.date for d in self.day_regimes]
        if len(set(dates)) != len(dates):
            raise ValueError("day_regimes: a date is listed twice")
        return self


ENVELOPE_FIELDS = frozenset({"type", "audience", "version", "issued", "expires"})
RULE_FIELDS = frozenset(WingPolicy.model_fields) - ENVELOPE_FIELDS


def policy_hash(policy: WingPolicy) -> str:
    """sha256 of the canonical JSON of the policy's rules (not its audience, version or dates)."""
    rules = policy.model_dump(mode="json", include=set(RULE_FIELDS))
    return hashlib.sha256(canonical_json(rules)).hexdigest()


def wing_policy(rules: Mapping[str, Any], **envelope: Any) -> WingPolicy:
    """Build a WingPolicy from JSON-shaped rules (lists, strings) plus its envelope fields.

    Raises ValueError (pydantic's ValidationError is one) when the rules do not hold.
    """
    return WingPolicy.model_validate_json(canonical_json({**rules, **envelope}))

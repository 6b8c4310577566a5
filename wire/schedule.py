"""The policy's answer for an instant: what state the tablet is in and which apps may run. Pure.

`Schedule(policy).decide(profile, now_ms, locked=...)` is the one function the agent (and the
gateway's `policy show`) asks. It opens no file and reads no clock: the caller passes its trusted
time, or None when it has none, and then the answer fails closed (curfew rules).

How wall-clock times become instants (the only place DST matters): a local time on a date means the
first instant at which the prison's clock shows that time or later on that date. So on the night
the clocks go back, `01:30` is its first occurrence, and on the night they go forward a time inside
the skipped hour is the instant the clock skips it. A window keeps its wall-clock times, so a night
curfew is an hour shorter or longer across a change, as the prison's own clocks say.

Precedence, strongest first: a lockdown; a one-off override (where `open` and `curfew` overrides
overlap, curfew wins); the weekly curfew windows (with day regimes: a bank holiday run as a Sunday).
"""

from __future__ import annotations

import bisect
import itertools
import math
import zoneinfo
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Literal

from wire.policy import WEEKDAYS, Window, WingPolicy, local_datetime

Kind = Literal["open", "curfew", "lockdown"]
State = Literal["open", "warning", "curfew", "lockdown", "unknown"]

DAY_MS = 86_400_000
MINUTE_MS = 60_000
LOOKBEHIND_DAYS = 2
LOOKAHEAD_DAYS = 8
"""How far around an instant the timeline is built: an answer holds until `next_boundary`, which
is never more than about a week ahead, so the agent re-asks at least that often."""
_CACHE_DAYS = 16

CURFEW_LABEL = "curfew"
OPEN_LABEL = "open"


@dataclass(frozen=True, slots=True)
class Segment:
    """A stretch of time with one regime: [start, end) in unix milliseconds."""

    start: int
    end: int
    kind: Kind
    label: str


@dataclass(frozen=True, slots=True)
class AppDecision:
    app: str
    allowed: bool
    always_allowed: bool
    reason: str
    """Why not (or, when allowed, on what grounds): short, for the shell and the audit log."""
    until: int | None = None
    """While allowed: the instant it stops being allowed, if known (never for always-allowed)."""
    listed: bool = False
    """Always allowed, or one of the profile's apps: what the shell shows as a tile."""


@dataclass(frozen=True, slots=True)
class Decision:
    state: State
    label: str
    """The regime's name: `open`, `curfew`, an override's or a lockdown's name."""
    starts_at: int | None
    """Start of the current closed stretch (curfew/lockdown), or of the next one while open."""
    ends_at: int | None
    """End of that closed stretch."""
    minutes_left: int | None
    """While `warning`: whole minutes (rounded up) before the closed stretch starts."""
    warning: int | None
    """While `warning`: the warning threshold now in force (e.g. 15, 5 or 1 minutes)."""
    apps: tuple[AppDecision, ...]
    next_boundary: int | None
    """The answer (state and allowed apps) holds at least until this instant; None: no trusted
    time, so there is no instant to count from."""

    def app(self, app_id: str) -> AppDecision:
        for decision in self.apps:
            if decision.app == app_id:
                return decision
        return AppDecision(app_id, False, False, "not in the wing's app allow-list")

    @property
    def allowed_apps(self) -> frozenset[str]:
        return frozenset(a.app for a in self.apps if a.allowed)


def local_instant(tz: zoneinfo.ZoneInfo, day: date, minute: int) -> int:
    """The first instant (unix ms) at which the local clock shows `minute` of `day` or later."""
    hour, minutes = divmod(minute, 60)
    first = int(datetime(day.year, day.month, day.day, hour, minutes, tzinfo=tz).timestamp())
    back = datetime.fromtimestamp(first, tz)
    if (back.minute == minutes and back.hour == hour and back.day == day.day
            and back.month == day.month and back.year == day.year and back.second == 0):
        return first * 1000  # the clock shows it (nearly always: no time needs skipping)
    naive = datetime(day.year, day.month, day.day, hour, minutes)
    # A time the clock skips: find the instant the clock jumps past it.
    second = int(naive.replace(tzinfo=tz, fold=1).timestamp())
    lo, hi = min(first, second), max(first, second)
    while lo < hi:
        mid = (lo + hi) // 2
        if datetime.fromtimestamp(mid, tz).replace(tzinfo=None) >= naive:
            hi = mid
        else:
            lo = mid + 1
    return lo * 1000


def _parse_local(value: str) -> tuple[date, int]:
    moment = local_datetime(value)
    return moment.date(), moment.hour * 60 + moment.minute


@dataclass(frozen=True, slots=True)
class _Timeline:
    lo: int
    hi: int
    segments: tuple[Segment, ...]
    starts: tuple[int, ...]


class Schedule:
    """A compiled wing policy. Build once per policy; `decide` is cheap and side-effect free
    (apart from a small cache of expanded days)."""

    def __init__(self, policy: WingPolicy) -> None:
        self.policy = policy
        self.tz = zoneinfo.ZoneInfo(policy.timezone)
        self._regimes = {date.fromisoformat(r.date): r.as_day for r in policy.day_regimes}
        self._lockdowns = [self._span(x.start, x.end, "lockdown", x.name) for x in policy.lockdowns]
        self._overrides = [
            self._span(x.start, x.end, x.effect, x.name) for x in policy.overrides
        ]
        self._timelines: OrderedDict[date, _Timeline] = OrderedDict()
        self._hours: OrderedDict[tuple[str, str, date], tuple[tuple[int, int], ...]] = OrderedDict()
        self._warn = tuple(m * MINUTE_MS for m in policy.warn_minutes)
        self._last: Segment | None = None
        """The segment `segment_at` found last: the web proxy asks for every connection, and
        nearly every question falls in the same stretch (no time-zone arithmetic then)."""

    def _span(self, start: str, end: str, kind: Kind, label: str) -> Segment:
        return Segment(
            local_instant(self.tz, *_parse_local(start)),
            local_instant(self.tz, *_parse_local(end)),
            kind,
            label,
        )

    # -- expansion -------------------------------------------------------------------------

    def local_date(self, at_ms: int) -> date:
        return datetime.fromtimestamp(at_ms / 1000, self.tz).date()

    def _weekday(self, day: date) -> str:
        return self._regimes.get(day, WEEKDAYS[day.weekday()])

    def _expand(
        self, windows: tuple[Window, ...], first: date, last: date
    ) -> list[tuple[int, int]]:
        """Every occurrence of `windows` starting on a date in [first, last]."""
        spans = []
        day = first
        while day <= last:
            weekday = self._weekday(day)
            for window in windows:
                if weekday in window.days:
                    end_day = day if window.end > window.start else day + timedelta(days=1)
                    spans.append(
                        (
                            local_instant(self.tz, day, window.start),
                            local_instant(self.tz, end_day, window.end),
                        )
                    )
            day += timedelta(days=1)
        return spans

    def _timeline(self, anchor: date) -> _Timeline:
        cached = self._timelines.get(anchor)
        if cached is not None:
            self._timelines.move_to_end(anchor)
            return cached
        first = anchor - timedelta(days=LOOKBEHIND_DAYS)
        last = anchor + timedelta(days=LOOKAHEAD_DAYS)
        lo = local_instant(self.tz, first, 0)
        hi = local_instant(self.tz, last + timedelta(days=1), 0)
        # Widen to whole lockdowns/overrides that straddle the edges, so their ends are known.
        while True:
            spans = [s for s in (*self._lockdowns, *self._overrides) if s.end > lo and s.start < hi]
            new_lo = min([lo, *(s.start for s in spans)])
            new_hi = max([hi, *(s.end for s in spans)])
            if (new_lo, new_hi) == (lo, hi):
                break
            lo, hi = new_lo, new_hi
        first = datetime.fromtimestamp(lo / 1000, self.tz).date() - timedelta(days=1)
        last = datetime.fromtimestamp(hi / 1000, self.tz).date()
        curfews = [(a, b) for a, b in self._expand(self.policy.curfew, first, last) if b > lo]
        cuts = {lo, hi}
        for a, b in curfews:
            cuts.update((a, b))
        for s in spans:
            cuts.update((s.start, s.end))
        points = sorted(c for c in cuts if lo <= c <= hi)
        # How many curfews cover an instant: those started by it less those ended by it (each
        # curfew ends no earlier than it starts); two bisects instead of a scan of them all.
        curfew_starts = sorted(a for a, _ in curfews)
        curfew_ends = sorted(b for _, b in curfews)
        segments: list[Segment] = []
        for a, b in itertools.pairwise(points):
            in_curfew = (bisect.bisect_right(curfew_starts, a)
                         > bisect.bisect_right(curfew_ends, a))
            kind, label = self._regime_at(a, in_curfew, spans)
            if segments and segments[-1].kind == kind and segments[-1].label == label:
                segments[-1] = Segment(segments[-1].start, b, kind, label)
            else:
                segments.append(Segment(a, b, kind, label))
        timeline = _Timeline(lo, hi, tuple(segments), tuple(s.start for s in segments))
        self._timelines[anchor] = timeline
        if len(self._timelines) > _CACHE_DAYS:
            self._timelines.popitem(last=False)
        return timeline

    @staticmethod
    def _regime_at(at: int, in_curfew: bool, spans: list[Segment]) -> tuple[Kind, str]:
        for span in spans:
            if span.kind == "lockdown" and span.start <= at < span.end:
                return "lockdown", span.label
        overrides = [s for s in spans if s.kind != "lockdown" and s.start <= at < s.end]
        for span in overrides:
            if span.kind == "curfew":
                return "curfew", span.label
        if overrides:
            return "open", overrides[0].label
        if in_curfew:
            return "curfew", CURFEW_LABEL
        return "open", OPEN_LABEL

    def _app_hours(self, profile: str, app: str, anchor: date) -> tuple[tuple[int, int], ...]:
        key = (profile, app, anchor)
        cached = self._hours.get(key)
        if cached is not None:
            return cached
        windows = self.policy.profiles[profile].hours[app]
        spans = sorted(
            self._expand(
                windows,
                anchor - timedelta(days=LOOKBEHIND_DAYS + 1),
                anchor + timedelta(days=LOOKAHEAD_DAYS),
            )
        )
        merged: list[tuple[int, int]] = []
        for a, b in spans:
            if merged and a <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(merged[-1][1], b))
            else:
                merged.append((a, b))
        result = tuple(merged)
        self._hours[key] = result
        if len(self._hours) > 64 * _CACHE_DAYS:
            self._hours.popitem(last=False)
        return result

    # -- questions -------------------------------------------------------------------------

    def segment_at(self, at_ms: int) -> Segment:
        last = self._last
        if last is not None and last.start <= at_ms < last.end:
            return last
        timeline = self._timeline(self.local_date(at_ms))
        index = bisect.bisect_right(timeline.starts, at_ms) - 1
        self._last = found = timeline.segments[index]
        return found

    def decide(self, profile: str, now_ms: int | None, *, locked: bool = False) -> Decision:
        """What state the tablet is in at `now_ms` and which apps may run under `profile`.

        `now_ms=None` (no trusted time) fails closed: state `unknown`, only always-allowed apps.
        An unknown profile allows only the always-allowed apps. Never raises for any instant.
        """
        if now_ms is None:
            return Decision(
                "unknown", "no trusted time", None, None, None, None,
                self._apps(profile, None, "unknown", locked, None, None), None,
            )
        timeline = self._timeline(self.local_date(now_ms))
        index = bisect.bisect_right(timeline.starts, now_ms) - 1
        segments = timeline.segments
        current = segments[index]
        boundaries = [current.end]
        starts_at: int | None
        ends_at: int | None
        minutes_left = warning = None
        if current.kind != "open":
            first = index
            while first > 0 and segments[first - 1].kind != "open":
                first -= 1
            last = index
            while last + 1 < len(segments) and segments[last + 1].kind != "open":
                last += 1
            starts_at = segments[first].start if segments[first].start > timeline.lo else None
            ends_at = segments[last].end if segments[last].end < timeline.hi else None
            state: State = current.kind
            closes_at: int | None = now_ms
        else:
            nxt = index + 1
            while nxt < len(segments) and segments[nxt].kind == "open":
                nxt += 1
            if nxt < len(segments):
                starts_at = segments[nxt].start
                last = nxt
                while last + 1 < len(segments) and segments[last + 1].kind != "open":
                    last += 1
                ends_at = segments[last].end if segments[last].end < timeline.hi else None
            else:
                starts_at = ends_at = None
            state = "open"
            closes_at = starts_at
            if starts_at is not None:
                left = starts_at - now_ms
                passed = [w for w in self._warn if left <= w]
                if passed:
                    state = "warning"
                    warning = passed[-1] // MINUTE_MS
                    minutes_left = math.ceil(left / MINUTE_MS)
                boundaries.extend(starts_at - w for w in self._warn if starts_at - w > now_ms)
        apps = self._apps(profile, now_ms, current.kind, locked, closes_at, boundaries)
        return Decision(
            state, current.label, starts_at, ends_at, minutes_left, warning, apps,
            min(boundaries),
        )

    def _apps(
        self,
        profile: str,
        now_ms: int | None,
        kind: Kind | Literal["unknown"],
        locked: bool,
        closes_at: int | None,
        boundaries: list[int] | None,
    ) -> tuple[AppDecision, ...]:
        policy = self.policy
        always = set(policy.always_allowed)
        rules = policy.profiles.get(profile)
        decisions = []
        for app in sorted(policy.apps):
            if app in always:
                decisions.append(AppDecision(app, True, True, "always allowed", listed=True))
                continue
            if kind == "unknown":
                reason = "no trusted time yet: curfew rules apply"
            elif locked:
                reason = "the tablet is locked"
            elif kind == "lockdown":
                reason = "lockdown"
            elif kind == "curfew":
                reason = "curfew"
            elif rules is None:
                reason = f"unknown profile {profile!r}"
            elif app not in rules.apps:
                reason = f"not in the {profile} profile"
            else:
                reason = ""
            listed = rules is not None and app in rules.apps
            if reason or now_ms is None or rules is None or boundaries is None:
                decisions.append(
                    AppDecision(app, False, False, reason or "not allowed", listed=listed)
                )
                continue
            until = closes_at
            if app in rules.hours:
                hours = self._app_hours(profile, app, self.local_date(now_ms))
                inside = [(a, b) for a, b in hours if a <= now_ms < b]
                if not inside:
                    later = [a for a, _ in hours if a > now_ms]
                    if later:
                        boundaries.append(later[0])
                    decisions.append(
                        AppDecision(app, False, False, "outside its hours", listed=True)
                    )
                    continue
                end = inside[0][1]
                boundaries.append(end)
                # The shell warns before an app closes, as before a curfew: those are boundaries.
                boundaries.extend(end - w for w in self._warn if end - w > now_ms)
                until = end if until is None else min(until, end)
            decisions.append(
                AppDecision(app, True, False, f"allowed for {profile}", until, listed=True)
            )
        return tuple(decisions)


def utc_ms(text: str) -> int:
    """`2026-03-29T01:00Z`-style UTC text to unix ms (for tests, tools and logs)."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)

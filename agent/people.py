"""Who is signed in on the tablet: PIN checks against the occupants' verifiers, attempt limits,
sessions and the person events they make (docs/prisoners-tablet.md; DESIGN §10).

The verifiers arrive in the signed desired state (kept in the agent's state.db) and never leave
the agent: the shell asks `sign_in(number, pin)` and hears ok / wrong / locked out. Checks run in
a worker thread (argon2id is slow by design), one at a time for the whole tablet, and each wrong
attempt is counted on disk *before* the check, so killing the agent mid-check never earns a free
guess. `MAX_ATTEMPTS` wrong in a row lock the person out until staff reset (a higher `pin_epoch`
in a later desired state). A PIN chosen here after a one-time code is kept (people.db) until the
gateway's own desired state carries it; so is a lesson step taken here, until the gateway echoes
it in the person's occupant record.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent.sqlite_file import SqliteFile
from agent.store import StoreError
from wire.localapi import OccupantView, PersonReply, PersonView
from wire.prisoners import (
    MAX_ATTEMPTS,
    MAX_LESSONS,
    LessonState,
    Occupant,
    Occupants,
    PersonEvent,
    SessionEnd,
    Settings,
    check_pin,
)

log = logging.getLogger(__name__)

Emit = Callable[[PersonEvent], Awaitable[None]]


class PeopleStore(SqliteFile):
    """people.db in the agent's state directory (0600: root only): wrong attempts in a row per
    person and epoch, PINs chosen on this tablet not yet confirmed by the gateway, and lesson
    states reached here that the gateway has not yet echoed (also held in memory: the shell's
    state is built from them on the event loop)."""

    def __init__(self, path: Path) -> None:
        super().__init__(path, private=True)
        self._lessons: dict[str, dict[str, LessonState]] = {}
        for person, lesson, step, done in self._read(
                "SELECT person, lesson, step, done FROM lessons"):
            try:
                state = LessonState(step=step, done=bool(done))
            except ValueError:
                continue
            self._lessons.setdefault(person, {})[lesson] = state  # not yet shared

    def _create(self, conn: sqlite3.Connection) -> None:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS attempts ("
            " person TEXT PRIMARY KEY, pin_epoch INTEGER NOT NULL, failed INTEGER NOT NULL)"
        )
        conn.execute(
            "CREATE TABLE IF NOT EXISTS pins ("
            " person TEXT PRIMARY KEY, pin_epoch INTEGER NOT NULL, verifier TEXT NOT NULL,"
            " replaces TEXT NOT NULL DEFAULT '[]')"
        )
        columns = {row[1] for row in conn.execute("PRAGMA table_info(pins)")}
        if "replaces" not in columns:  # a people.db from before PIN changes
            conn.execute("ALTER TABLE pins ADD COLUMN replaces TEXT NOT NULL DEFAULT '[]'")
        conn.execute(
            "CREATE TABLE IF NOT EXISTS lessons (person TEXT NOT NULL, lesson TEXT NOT"
            " NULL, step INTEGER NOT NULL, done INTEGER NOT NULL,"
            " PRIMARY KEY (person, lesson))"
        )

    def unechoed_lessons(self, person: str) -> dict[str, LessonState]:
        """Lesson states `person` reached on this tablet that the gateway has not echoed yet."""
        return dict(self._lessons.get(person, {}))

    def set_lesson(self, person: str, lesson: str, state: LessonState) -> None:
        self._write(
            "INSERT INTO lessons (person, lesson, step, done) VALUES (?, ?, ?, ?)"
            " ON CONFLICT(person, lesson) DO UPDATE SET step = excluded.step,"
            " done = excluded.done",
            (person, lesson, state.step, int(state.done)),
        )
        # Copy on write: the event loop reads these while a worker thread writes.
        self._lessons = {**self._lessons, person: {**self._lessons.get(person, {}), lesson: state}}

    def drop_echoed(self, echoed: dict[str, dict[str, LessonState]]) -> None:
        """Forget each lesson state the gateway now carries itself (`echoed`: person → lesson →
        the desired state's): from here on the gateway's is the person's progress. A state that
        differs (a later step taken here meanwhile) is kept."""
        for person, lessons in self._lessons.items():
            for lesson, state in lessons.items():
                if echoed.get(person, {}).get(lesson) == state:
                    self._write("DELETE FROM lessons WHERE person = ? AND lesson = ?",
                                (person, lesson))
        kept = {person: {lesson: state for lesson, state in lessons.items()
                         if echoed.get(person, {}).get(lesson) != state}
                for person, lessons in self._lessons.items()}
        self._lessons = {person: lessons for person, lessons in kept.items() if lessons}

    def failed(self, person: str, epoch: int) -> int:
        """Wrong attempts in a row at `epoch` (a staff reset, a higher epoch, starts from 0)."""
        rows = self._read("SELECT pin_epoch, failed FROM attempts WHERE person = ?", (person,))
        return int(rows[0][1]) if rows and rows[0][0] >= epoch else 0

    def set_failed(self, person: str, epoch: int, failed: int) -> None:
        self._write(
            "INSERT INTO attempts (person, pin_epoch, failed) VALUES (?, ?, ?) ON CONFLICT(person)"
            " DO UPDATE SET pin_epoch = excluded.pin_epoch, failed = excluded.failed",
            (person, epoch, failed),
        )

    def chosen_pin(self, person: str, epoch: int) -> ChosenPin | None:
        """The PIN `person` chose on this tablet at `epoch` and the gateway may not know yet."""
        rows = self._read(
            "SELECT verifier, replaces FROM pins WHERE person = ? AND pin_epoch = ?",
            (person, epoch),
        )
        if not rows:
            return None
        try:
            replaces = tuple(str(v) for v in json.loads(rows[0][1]))
        except (ValueError, TypeError):
            replaces = ()
        return ChosenPin(str(rows[0][0]), replaces)

    def set_chosen_pin(self, person: str, epoch: int, verifier: str,
                       replaces: tuple[str, ...] = ()) -> None:
        self._write(
            "INSERT INTO pins (person, pin_epoch, verifier, replaces) VALUES (?, ?, ?, ?)"
            " ON CONFLICT(person) DO UPDATE SET pin_epoch = excluded.pin_epoch,"
            " verifier = excluded.verifier, replaces = excluded.replaces",
            (person, epoch, verifier, json.dumps(list(replaces))),
        )

    def drop_superseded_pins(self, occupants: tuple[Occupant, ...]) -> None:
        """Forget each chosen PIN the desired state has caught up with: it carries that very
        verifier now, or one this tablet never replaced (a PIN set later elsewhere, or by staff)."""
        for person in occupants:
            chosen = self.chosen_pin(person.number, person.pin_epoch)
            if chosen is not None and not chosen.wins_over(person):
                self._write("DELETE FROM pins WHERE person = ?", (person.number,))

    def erase_personal(self) -> None:
        """A remote wipe: forget every chosen PIN and lesson step kept here. Wrong-attempt
        counts stay: they are the tablet's guard, not anyone's data."""
        with self._lock, self._conn:
            self._conn.execute("DELETE FROM pins")
            self._conn.execute("DELETE FROM lessons")
            self._lessons = {}

    def keep_only(self, people: dict[str, int]) -> None:
        """Forget everyone not in `people` (number → current epoch) and PINs of older epochs:
        a person who moved out leaves nothing of theirs behind."""
        with self._lock, self._conn:
            for table in ("attempts", "pins"):
                for (person, epoch) in self._conn.execute(
                    f"SELECT person, pin_epoch FROM {table}"
                ).fetchall():
                    if person not in people or (table == "pins" and epoch < people[person]):
                        self._conn.execute(f"DELETE FROM {table} WHERE person = ?", (person,))
            for (person,) in self._conn.execute("SELECT DISTINCT person FROM lessons").fetchall():
                if person not in people:
                    self._conn.execute("DELETE FROM lessons WHERE person = ?", (person,))
            self._lessons = {p: v for p, v in self._lessons.items() if p in people}


@dataclass(frozen=True, slots=True)
class ChosenPin:
    """A PIN chosen (or changed) on this tablet: its verifier, and the verifiers it replaced
    here — while the desired state still carries one of those, the gateway has not caught up
    and this one is the person's PIN."""

    verifier: str
    replaces: tuple[str, ...] = ()

    def wins_over(self, occupant: Occupant) -> bool:
        """Whether this, not the desired state's verifier, is `occupant`'s PIN now (same epoch:
        the caller asks for the occupant's)."""
        if occupant.verifier == self.verifier:
            return False  # the gateway carries it itself
        return occupant.credential == "one_time" or occupant.verifier in self.replaces

    def replaced_by(self, verifier: str, occupant: Occupant) -> ChosenPin:
        """A newer PIN chosen here over this one (and over what the desired state carries)."""
        older = [*self.replaces, self.verifier, occupant.verifier or ""]
        kept = [v for n, v in enumerate(older) if v and v not in older[n + 1:]]
        return ChosenPin(verifier, tuple(kept[-MAX_REPLACED:]))


MAX_REPLACED = 8
"""Verifiers one chosen PIN remembers replacing (PIN changes made here before the gateway
caught up)."""


def verify_pin(verifier: str, pin: str) -> bool:
    """The slow check (run it in a worker). Any malformed verifier is a no."""
    import argon2  # loaded at the first PIN check: an idle tablet does not carry it
    from argon2.exceptions import InvalidHashError, VerificationError

    try:
        return bool(argon2.PasswordHasher().verify(verifier, pin))
    except (VerificationError, InvalidHashError, ValueError):
        return False


def hash_like(verifier: str, pin: str) -> str:
    """Hash `pin` with the argon2id parameters of `verifier` (the one it replaces)."""
    import argon2

    hasher = argon2.PasswordHasher.from_parameters(argon2.extract_parameters(verifier))
    return hasher.hash(pin)


@dataclass
class Session:
    person: str
    display: str
    epoch: int
    must_set_pin: bool
    last_active: float
    settings: Settings | None = None
    """Changed in this session (sent as a `settings` event); None: the desired state's."""


class PersonDesk:
    """Sign-in and sessions. `occupants()` is the applied desired state's; `blocked()` names
    why nobody may sign in now (locked, curfew...) or None; `idle_s()` how long a session may sit
    untouched (the wing policy's, else the tablet's); `emit` keeps a person event for delivery
    (the outbox)."""

    def __init__(
        self,
        store: PeopleStore,
        *,
        device: str,
        occupants: Callable[[], Occupants],
        blocked: Callable[[], str | None],
        idle_s: Callable[[], float],
        monotonic: Callable[[], float],
        now_ms: Callable[[], int],
        emit: Emit,
        changed: Callable[[], None],
    ) -> None:
        self._store = store
        self._device = device
        self._occupants = occupants
        self._blocked = blocked
        self._idle_s = idle_s
        self._monotonic = monotonic
        self._now_ms = now_ms
        self._emit = emit
        self._changed = changed
        self._checking = asyncio.Lock()
        self._signed_in = asyncio.Event()
        """Set when a session starts: the idle loop sleeps on it while nobody is signed in."""
        self.session: Session | None = None

    # -- what the shell sees ------------------------------------------------------------------

    def views(self) -> tuple[OccupantView, ...]:
        return tuple(OccupantView(number=p.number, display=p.display)
                     for p in self._occupants().people)

    def person_view(self) -> PersonView | None:
        session = self.session
        if session is None:
            return None
        occupant = self._occupant(session.person)
        settings = session.settings or (occupant.settings if occupant is not None else Settings())
        return PersonView(number=session.person, display=session.display, settings=settings,
                          must_set_pin=session.must_set_pin,
                          lessons=self._lessons_of(session.person, occupant))

    def _lessons_of(self, person: str, occupant: Occupant | None) -> dict[str, LessonState]:
        """The gateway's progress for `person`, overlaid with what they did here not yet echoed."""
        merged = {**(occupant.lessons if occupant is not None else {}),
                  **self._store.unechoed_lessons(person)}
        return dict(list(merged.items())[:MAX_LESSONS])

    @property
    def signed_in(self) -> str | None:
        return self.session.person if self.session is not None else None

    def writer(self) -> str | bool | None:
        """Whose request the shell may write now: a person, None (a tablet without accounts),
        or False (a tablet with occupants and nobody fully signed in: no requests)."""
        session = self.session
        if session is not None:
            return False if session.must_set_pin else session.person
        return False if self._occupants().people else None

    # -- from the shell -------------------------------------------------------------------------

    async def sign_in(self, number: str, pin: str) -> PersonReply:
        def reply(outcome: Any, attempts_left: int = 0, reason: str = "") -> PersonReply:
            return PersonReply(op="sign_in", outcome=outcome, attempts_left=attempts_left,
                               reason=reason)

        blocked = self._blocked()
        if blocked is not None:
            return reply("refused", reason=blocked)
        async with self._checking:  # one slow check at a time for the whole tablet
            occupant = self._occupant(number)
            if occupant is None:
                return reply("not_here")
            epoch = occupant.pin_epoch
            refusal, chosen = await self._check("sign_in", occupant, pin)
            if refusal is not None:
                return refusal
            blocked_now = self._blocked()
            if blocked_now is not None:  # locked or curfew while checking: no session
                return reply("refused", reason=blocked_now)
            if self.session is not None:
                await self.end("sign_out")
            one_time = occupant.credential == "one_time" and chosen is None
            self.session = Session(number, occupant.display, epoch, one_time, self._monotonic())
            self._signed_in.set()
            await self._event("signed_in", number, epoch)
        self._changed()
        return reply("must_set_pin" if one_time else "ok")

    async def _check(self, op: Any, occupant: Occupant, pin: str
                     ) -> tuple[PersonReply | None, ChosenPin | None]:
        """Check `pin` against `occupant`'s PIN now (one chosen here, if the desired state has
        not caught up with it; else the desired state's verifier), counting the attempt.
        (None, the chosen PIN if it was that) when right; else the reply to give. Call it
        holding `_checking`."""
        def reply(outcome: Any, attempts_left: int = 0, reason: str = "") -> PersonReply:
            return PersonReply(op=op, outcome=outcome, attempts_left=attempts_left,
                               reason=reason)

        number, epoch = occupant.number, occupant.pin_epoch
        failed = await asyncio.to_thread(self._store.failed, number, epoch)
        if occupant.locked_out or failed >= MAX_ATTEMPTS:
            return reply("locked_out", reason="too many wrong PINs: ask staff for a new code"), None
        chosen = await asyncio.to_thread(self._store.chosen_pin, number, epoch)
        if chosen is not None and not chosen.wins_over(occupant):
            chosen = None
        verifier = chosen.verifier if chosen is not None else occupant.verifier
        if verifier is None:
            return reply("locked_out", reason="no PIN yet: ask staff for a code"), None
        # Counted before checking: a check cut short (agent killed) still counts as wrong.
        await asyncio.to_thread(self._store.set_failed, number, epoch, failed + 1)
        right = await asyncio.to_thread(verify_pin, verifier, pin)
        if not right:
            failed += 1
            await self._event("pin_failed", number, epoch, attempts=failed)
            if failed >= MAX_ATTEMPTS:
                await self._event("pin_locked", number, epoch, attempts=failed)
                return reply("locked_out", reason="too many wrong PINs: ask staff"), None
            return reply("wrong", attempts_left=MAX_ATTEMPTS - failed), None
        await asyncio.to_thread(self._store.set_failed, number, epoch, 0)
        return None, chosen

    async def set_pin(self, pin: str) -> PersonReply:
        session = self.session
        if session is None or not session.must_set_pin:
            return PersonReply(op="set_pin", outcome="refused",
                               reason="sign in with a one-time code first")
        try:
            check_pin(pin)
        except ValueError as exc:
            return PersonReply(op="set_pin", outcome="refused", reason=str(exc))
        occupant = self._occupant(session.person)
        if occupant is None or occupant.verifier is None:
            return PersonReply(op="set_pin", outcome="refused", reason="not an occupant any more")
        verifier = await asyncio.to_thread(hash_like, occupant.verifier, pin)
        await asyncio.to_thread(self._store.set_chosen_pin, session.person, session.epoch,
                                verifier, (occupant.verifier,))
        await self._event("pin_set", session.person, session.epoch, verifier=verifier)
        if self.session is session:
            session.must_set_pin = False
            session.last_active = self._monotonic()
        self._changed()
        return PersonReply(op="set_pin", outcome="ok")

    async def change_pin(self, old: str, new: str) -> PersonReply:
        """A signed-in person changes their PIN: `old` is checked like a sign-in (a wrong one
        counts towards the lock-out, which ends the session), `new` must pass the PIN rules and
        is hashed here with the parameters of the verifier it replaces, kept at once (it works
        offline) and sent to the gateway in a `pin_set` event, which makes it follow them."""
        def reply(outcome: Any, reason: str = "") -> PersonReply:
            return PersonReply(op="change_pin", outcome=outcome, reason=reason)

        session = self.session
        if session is None or session.must_set_pin:
            return reply("refused", "nobody is signed in")
        try:
            check_pin(new)
        except ValueError as exc:
            return reply("refused", str(exc))
        if new == old:
            return reply("refused", "the new PIN is the same as the old one")
        blocked = self._blocked()
        if blocked is not None:
            return reply("refused", blocked)
        async with self._checking:
            occupant = self._occupant(session.person)
            if occupant is None or self.session is not session:
                return reply("refused", "not signed in any more")
            if occupant.pin_epoch != session.epoch or occupant.verifier is None:
                return reply("refused", "staff issued a new code: sign in with it")
            refusal, chosen = await self._check("change_pin", occupant, old)
            if refusal is not None:
                if refusal.outcome == "locked_out":
                    await self.end("sign_out")
                return refusal
            current = chosen or ChosenPin(occupant.verifier)
            verifier = await asyncio.to_thread(hash_like, current.verifier, new)
            newer = current.replaced_by(verifier, occupant)
            await asyncio.to_thread(self._store.set_chosen_pin, session.person, session.epoch,
                                    newer.verifier, newer.replaces)
            await self._event("pin_set", session.person, session.epoch, verifier=verifier)
        session.last_active = self._monotonic()
        self._changed()
        return reply("ok")

    async def set_settings(self, settings: Settings) -> PersonReply:
        """The person's own settings: shown at once, sent to follow them to their next cell."""
        session = self.session
        if session is None or session.must_set_pin:
            return PersonReply(op="settings", outcome="refused", reason="nobody is signed in")
        session.settings = settings
        session.last_active = self._monotonic()
        await self._event("settings", session.person, session.epoch, settings=settings)
        self._changed()
        return PersonReply(op="settings", outcome="ok")

    async def set_lesson(self, lesson: str, state: LessonState) -> PersonReply:
        """A step (or the end) of a lesson by the signed-in person: kept here until the gateway
        echoes it, and sent as a `lesson` event naming them (delivered as theirs even if they
        have moved by then)."""
        session = self.session
        if session is None or session.must_set_pin:
            return PersonReply(op="lesson", outcome="refused", reason="nobody is signed in")
        occupant = self._occupant(session.person)
        known = self._lessons_of(session.person, occupant)
        if lesson not in known and len(known) >= MAX_LESSONS:
            return PersonReply(op="lesson", outcome="refused",
                               reason=f"at most {MAX_LESSONS} lessons")
        session.last_active = self._monotonic()
        if known.get(lesson) == state:
            return PersonReply(op="lesson", outcome="ok")
        await asyncio.to_thread(self._store.set_lesson, session.person, lesson, state)
        await self._event("lesson", session.person, session.epoch, lesson=lesson,
                          lesson_state=state)
        self._changed()
        return PersonReply(op="lesson", outcome="ok")

    async def sign_out(self) -> PersonReply:
        await self.end("sign_out")
        return PersonReply(op="sign_out", outcome="ok")

    def touch(self) -> PersonReply:
        if self.session is not None:
            self.session.last_active = self._monotonic()
        return PersonReply(op="active", outcome="ok")

    # -- ending sessions ------------------------------------------------------------------------

    def end_now(self, ended: SessionEnd) -> Session | None:
        """End the session at once (the next state shows nobody); the caller sends its
        `signed_out` with `announce`."""
        session, self.session = self.session, None
        if session is not None:
            log.info("%s: session of %s ended (%s)", self._device, session.person, ended)
        return session

    async def announce(self, session: Session, ended: SessionEnd) -> None:
        await self._event("signed_out", session.person, session.epoch, ended=ended)

    async def wipe(self) -> None:
        """A remote wipe: the session ends and the people data kept on this tablet is erased."""
        await self.end("lock")
        await asyncio.to_thread(self._store.erase_personal)
        self._changed()

    async def end(self, ended: SessionEnd) -> None:
        session = self.end_now(ended)
        if session is not None:
            self._changed()
            await self.announce(session, ended)

    async def occupants_changed(self) -> None:
        """A new desired state: a person no longer here is signed out and forgotten."""
        occupants = self._occupants().people
        people = {p.number: p.pin_epoch for p in occupants}
        if self.session is not None and self.session.person not in people:
            await self.end("moved")
        try:
            await asyncio.to_thread(self._store.keep_only, people)
            await asyncio.to_thread(self._store.drop_superseded_pins, occupants)
            await asyncio.to_thread(self._store.drop_echoed,
                                    {p.number: dict(p.lessons) for p in occupants})
        except StoreError as exc:
            log.error("%s: cannot forget people who left: %s", self._device, exc)

    async def idle_loop(self) -> None:
        """End a session nobody touched for `idle_s` seconds. While nobody is signed in it
        sleeps until someone is (a tablet idle in its cell is not woken every second)."""
        while True:
            if self.session is None:
                self._signed_in.clear()
                await self._signed_in.wait()
            await asyncio.sleep(min(1.0, self._idle_s() / 4))
            session = self.session
            if session is not None and self._monotonic() - session.last_active >= self._idle_s():
                await self.end("idle")

    # -- helpers --------------------------------------------------------------------------------

    def _occupant(self, number: str) -> Occupant | None:
        return next((p for p in self._occupants().people if p.number == number), None)

    async def _event(self, kind: Any, person: str, epoch: int, **fields: Any) -> None:
        event = PersonEvent(id=uuid.uuid4().hex, kind=kind, person=person, at=self._now_ms(),
                            pin_epoch=epoch, **fields)
        await self._emit(event)

    def close(self) -> None:
        self._store.close()

"""Prisoner accounts at the gateway (docs/prisoners.md; DESIGN §10): staff keep the records
(add, move, release, transfer, reset a PIN, import the roll), each cell's tablets are issued the
cell's occupants in their signed desired state, and what tablets learn of a person comes back on
`tablet/{id}/person`.

After any change of records, `refresh` re-issues exactly the tablets whose occupants differ from
what their desired state says (the old cell's and the new cell's on a move); a tablet offline
meanwhile is sent its newer desired state when it comes back (the publisher's reconcile). The
same refresh runs at start, so a gateway stopped between a record and its re-issue catches up.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Callable
from typing import Any

from argon2 import PasswordHasher
from argon2.low_level import Type

from gateway.inbound import Inbound, Refused, parse
from gateway.issuer import Issue
from gateway.parts import Parts
from gateway.prisoner_book import LEFT, BookRefusal, Prisoner, PrisonerBook
from gateway.prisoner_roll import BadRow, is_utf8, parse_roll, plan_roll
from gateway.prisoner_roll import left as left_record
from gateway.requests import RequestDesk
from gateway.store import Audit
from gateway.web_grants import WebAccess
from wire.documents import ReportedState
from wire.policy import REQUIRED_PROFILES
from wire.prisoners import MAX_OCCUPANTS, Occupants, PersonEvent, check_pin
from wire.topics import TabletChannel

log = logging.getLogger(__name__)

ARGON2_TIME_COST = 2
ARGON2_MEMORY_KIB = 19 * 1024
ARGON2_PARALLELISM = 1
"""argon2id at m=19 MiB, t=2, p=1 (OWASP's minimum): the tablet re-hashes a chosen PIN with the
verifier's own parameters, so this is every PIN check's cost on a tablet — aimed at 0.3-1 s on a
Raspberry Pi 4 (`bench/pin.py`, docs/prisoners.md); p=1 leaves the shell its other cores."""
HASHER = PasswordHasher(time_cost=ARGON2_TIME_COST, memory_cost=ARGON2_MEMORY_KIB,
                        parallelism=ARGON2_PARALLELISM, hash_len=32, salt_len=16, type=Type.ID)
CODE_DIGITS = 8
DAY_MS = 86_400_000
PURGE_EVERY_S = 3600.0


def one_time_code() -> str:
    """A fresh one-time code: digits, the PIN rules' length, not one digit repeated."""
    while True:
        code = "".join(secrets.choice("0123456789") for _ in range(CODE_DIGITS))
        try:
            return check_pin(code)
        except ValueError:
            continue


class PrisonerInputError(Exception):
    """A change staff asked for that cannot be made as asked (one line)."""


class UnknownPrisoner(Exception):
    """No record with this prison number, or no cell of that name on the wing."""


class Prisoners:
    def __init__(self, parts: Parts, inbound: Inbound, web: WebAccess,
                 requests: RequestDesk | None = None, retention_days: int = 365) -> None:
        self._parts = parts
        self._fleet = parts.fleet
        self._issuer = parts.issuer
        self._io = parts.io
        self._clock = parts.clock
        self._web = web
        self._retention_ms = retention_days * DAY_MS
        self.book = PrisonerBook(parts.store)
        self.people: dict[str, Prisoner] = {p.number: p for p in self.book.all()}
        self.signed_in: dict[str, str] = {}
        """Who is signed in on which tablet (device → prison number), as the tablet says."""
        inbound.routes[TabletChannel.PERSON] = self.on_person
        inbound.on_report.append(self.on_report)
        web.person_of = self.person_of
        web.person_changed = lambda number: self.refresh(f"web grants of {number} changed")
        web.present = lambda number: number in self.people and \
            self.people[number].status == "in_cell"
        self._requests = requests
        if requests is not None:  # a person's requests follow them to their cell's tablets
            requests.occupants = self.in_cell
            requests.cell_of = self.cell_of

    # -- what tablets are told -------------------------------------------------------------

    def _living_in(self, cell: str) -> list[Prisoner]:
        """The cell's people as its tablets are told of them (at most MAX_OCCUPANTS)."""
        return sorted((p for p in self.people.values()
                       if p.status == "in_cell" and p.cell == cell),
                      key=lambda p: p.number)[:MAX_OCCUPANTS]

    def in_cell(self, cell: str) -> set[str]:
        return {p.number for p in self._living_in(cell)}

    def cell_of(self, number: str) -> str | None:
        person = self.people.get(number)
        return person.cell if person is not None and person.status == "in_cell" else None

    def occupants(self, cell: str, now: int) -> Occupants:
        """The cell's people as its tablets are told: each with their web grants in effect or
        starting later at `now` (their Web app lists them while they are signed in)."""
        return Occupants(people=tuple(
            p.occupant().model_copy(update={
                "web_grants": self._web.carried(p.number, now, "prisoner")})
            for p in self._living_in(cell)))

    def _stale(self, now: int) -> list[str]:
        """The tablets whose desired state names other occupants than their cell has now."""
        by_cell: dict[str, Occupants] = {}
        stale = []
        for device, tablet in sorted(self._fleet.tablets.items()):
            current = self._issuer.desired.get(device)
            wanted = by_cell.get(tablet.cell)
            if wanted is None:
                wanted = by_cell[tablet.cell] = self.occupants(tablet.cell, now)
            if current is not None and current.document.occupants != wanted:
                stale.append(device)
        return stale

    async def refresh(self, why: str = "occupants changed") -> list[str]:
        """Re-issue (and send) every tablet whose occupants changed; the tablets re-issued."""
        now = self._clock()
        devices: list[str] = []

        def plan() -> Issue:
            devices[:] = self._stale(now)
            docs = [self._issuer.revision(d, now, self._fleet.reported_desired(d)).model_copy(
                update={"occupants": self.occupants(self._fleet.tablets[d].cell, now)})
                for d in devices]
            audit = Audit(now, "gateway", "occupants", f"wing:{self._parts.wing}", {
                "devices": devices[:50], "count": len(devices), "why": why}) if docs else None
            return Issue(desired=docs, audit=audit)

        await self._issuer.issue(plan)
        if devices:
            self._parts.publisher.spawn(self._send(devices))
        return devices

    async def _send(self, devices: list[str]) -> None:
        """The new desired states, then what the new occupants' requests the tablets lack (in
        that order: a tablet takes a person's requests once they are among its occupants)."""
        await self._parts.publisher.desired(*devices)
        if self._requests is not None:
            await self._requests.sync(devices)

    # -- staff actions ---------------------------------------------------------------------

    def _check_profile(self, profile: str) -> None:
        policy = self._issuer.policy
        known = set(policy.document.profiles) if policy else set(REQUIRED_PROFILES)
        if profile not in known:
            raise PrisonerInputError(f"unknown profile {profile!r} (known: "
                                     f"{', '.join(sorted(known))})")

    def _check_room(self, cell: str, number: str) -> None:
        if not cell.strip() or not is_utf8(cell):
            raise PrisonerInputError("cell: name the cell (UTF-8 text)")
        cells = {t.cell for t in self._fleet.tablets.values()}
        if cell not in cells:
            raise UnknownPrisoner(f"no cell {cell} on this wing: no tablet is registered there "
                                  f"(cells: {', '.join(sorted(cells)[:20]) or 'none yet'})")
        others = [p for p in self.people.values()
                  if p.status == "in_cell" and p.cell == cell and p.number != number]
        if len(others) >= MAX_OCCUPANTS:
            raise PrisonerInputError(f"cell {cell} already has {MAX_OCCUPANTS} occupants")

    async def _change(self, call: Callable[..., Prisoner], *args: Any, **kwargs: Any
                      ) -> Prisoner:
        try:
            person = await self._io(call, *args, **kwargs)
        except BookRefusal as exc:
            if str(exc).startswith("no prisoner"):
                raise UnknownPrisoner(str(exc)) from exc
            raise PrisonerInputError(str(exc)) from exc
        self.people[person.number] = person
        return person

    async def add(self, person: Prisoner, by: str) -> dict[str, Any]:
        if not is_utf8(person.name):
            raise PrisonerInputError("name: not UTF-8 text")
        self._check_profile(person.profile)
        self._check_room(person.cell, person.number)
        before = self.people.get(person.number)
        added = await self._change(self.book.add, person, f"staff:{by}", self._clock())
        if before is not None:  # a grant of their last stay a crash left unrevoked ends now
            await self._web.revoke_subject("prisoner", person.number, by, "re-admitted")
        await self.refresh("prisoner added")
        return added.as_json()

    async def move(self, number: str, cell: str, by: str) -> dict[str, Any]:
        current = self.people.get(number)
        if current is not None and current.cell == cell and current.status == "in_cell":
            raise PrisonerInputError(f"{number} is already in {cell}")
        self._check_room(cell, number)
        moved = await self._change(self.book.change, number, f"staff:{by}", "prisoner_move",
                                   self._clock(), cell=cell,
                                   prev_cell=current.cell if current else "")
        self._signed_out(number)
        await self.refresh("prisoner moved")
        return moved.as_json()

    async def leave(self, number: str, status: str, by: str, reason: str) -> dict[str, Any]:
        """Release or transfer: off every tablet, sessions ended, web grants revoked; the
        record kept for the retention period."""
        assert status in LEFT
        current = self.people.get(number)
        if current is None:
            raise UnknownPrisoner(f"no prisoner {number} on this wing")
        person = await self._leave(current, left_record(current, status, self._clock()), by,
                                   reason)
        self._signed_out(number)
        await self._web.revoke_subject("prisoner", number, by, f"{status}: {reason}")
        await self.refresh(f"prisoner {status}")
        return person.as_json()

    async def _leave(self, current: Prisoner, gone: Prisoner, by: str, reason: str
                     ) -> Prisoner:
        if current.status in LEFT:
            raise PrisonerInputError(f"{current.number} has already left ({current.status})")
        action = "prisoner_release" if gone.status == "released" else "prisoner_transfer"
        await self._io(self.book.save, [gone], [Audit(
            gone.updated, f"staff:{by}", action, f"prisoner:{gone.number}",
            {"cell": current.cell, "reason": reason})])
        self.people[gone.number] = gone
        return gone

    async def reset_pin(self, number: str, by: str) -> dict[str, Any]:
        """A new one-time code (returned once, for staff to hand over): its hash replaces any
        credential, the PIN epoch rises and a lock-out ends."""
        current = self.people.get(number)
        if current is None:
            raise UnknownPrisoner(f"no prisoner {number} on this wing")
        code = one_time_code()
        verifier = await asyncio.to_thread(HASHER.hash, code)
        person = await self._change(
            self.book.change, number, f"staff:{by}", "prisoner_reset_pin", self._clock(),
            verifier=verifier, credential="one_time", pin_epoch=current.pin_epoch + 1,
            failed=0, locked_out=False, pin_at=0)
        await self.refresh("one-time code issued")
        return {**person.as_json(), "code": code}

    async def import_roll(self, text: str, by: str, *, dry_run: bool, skip_bad: bool
                          ) -> dict[str, Any]:
        now = self._clock()
        policy = self._issuer.policy
        roll = parse_roll(text, policy.document.profiles if policy else REQUIRED_PROFILES,
                          {t.cell for t in self._fleet.tablets.values()})
        plan = plan_roll(roll, self.people, now)
        applied = not dry_run and (not roll.bad or skip_bad) and plan.changed
        result: dict[str, Any] = {"rows": len(roll.rows), "bad": [b.as_json() for b in roll.bad],
                                  "dry_run": dry_run, "applied": applied, **plan.summary()}
        if not applied:
            if roll.bad and not dry_run:
                await self._parts.audit(Audit(now, f"staff:{by}", "prisoner_import_refused",
                                              f"wing:{self._parts.wing}", {
                                                  "bad": [_bad(b) for b in roll.bad[:20]],
                                                  "bad_rows": len(roll.bad)}))
            return result
        audits = [Audit(now, f"staff:{by}", "prisoner_import", f"wing:{self._parts.wing}", {
            **{k: v[:200] if isinstance(v, list) else v for k, v in plan.summary().items()},
            "skipped_bad": len(roll.bad)})]
        await self._io(self.book.save, plan.records, audits)
        for person in plan.records:
            self.people[person.number] = person
        for number in [*plan.moved, *plan.released]:
            self._signed_out(number)
        for number in plan.released:
            await self._web.revoke_subject("prisoner", number, by, "released: not on the roll")
        result["tablets"] = len(await self.refresh("roll imported"))
        return result

    def listing(self, status: str | None = None) -> list[dict[str, Any]]:
        return [p.as_json() for _, p in sorted(self.people.items())
                if status is None or p.status == status]

    def show(self, number: str) -> dict[str, Any]:
        person = self.people.get(number)
        if person is None:
            raise UnknownPrisoner(f"no prisoner {number} on this wing")
        tablets = sorted(d for d, t in self._fleet.tablets.items()
                         if person.status == "in_cell" and t.cell == person.cell)
        signed = sorted(d for d, n in self.signed_in.items() if n == number)
        return {**person.as_json(), "tablets": tablets, "signed_in_on": signed}

    # -- what tablets say ------------------------------------------------------------------

    def person_of(self, device: str) -> Prisoner | None:
        """Who is signed in on `device` now, if they still live in its cell."""
        number = self.signed_in.get(device)
        person = self.people.get(number) if number else None
        tablet = self._fleet.tablets.get(device)
        if person is None or tablet is None or person.status != "in_cell" \
                or person.cell != tablet.cell:
            return None
        return person

    def _signed_out(self, number: str) -> None:
        for device in [d for d, n in self.signed_in.items() if n == number]:
            del self.signed_in[device]
        self._web.poke()

    def _sign(self, device: str, number: str | None) -> None:
        if self.signed_in.get(device) == number:
            return
        if number is None:
            self.signed_in.pop(device, None)
        else:
            self.signed_in[device] = number
        self._web.poke()

    def on_report(self, report: ReportedState) -> None:
        self._sign(report.device, report.signed_in)

    async def on_person(self, device: str, payload: bytes, _retained: bool, now: int) -> None:
        event = parse(PersonEvent, payload)
        cell = self._fleet.tablets[device].cell
        try:
            applied = await self._io(self.book.apply_event, device, cell, event, now)
        except BookRefusal as exc:
            raise Refused(str(exc)) from exc
        if applied.duplicate:
            return
        if event.kind == "signed_in":
            self._sign(device, event.person)
        elif event.kind == "signed_out" and self.signed_in.get(device) == event.person:
            self._sign(device, None)
        if applied.changed is not None:
            self.people[applied.changed.number] = applied.changed
            # The cell's other tablets learn it too (nothing is re-issued when no tablet's
            # occupants changed: a wrong PIN short of the limit).
            await self.refresh(f"{event.kind} on {device}")

    # -- the clock ---------------------------------------------------------------------------

    async def purge(self) -> list[str]:
        now = self._clock()
        gone = await self._io(self.book.purge, now - self._retention_ms, now)
        for number in gone:
            self.people.pop(number, None)
        return gone

    async def run(self) -> None:
        await self.refresh("gateway started")
        while True:
            try:
                await self.purge()
            except Exception:  # a failed purge is tried again; it must not stop the gateway
                log.exception("purging prisoner records failed")
            await asyncio.sleep(PURGE_EVERY_S)


def _bad(bad: BadRow) -> dict[str, object]:
    return {"line": bad.line, "reason": bad.reason[:200]}


"""The web decision on a tablet of prisoner accounts follows the person signed in on it: nobody
signed in, no web; otherwise the person's profile and the person's grants (docs/prisoners.md).
Checked with `staff web check`, the proxy's own decision, at a real gateway."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest

from tests.gateway.tablet_peer import TabletPeer, now_ms
from tests.support.gateway import Gateway
from wire.documents import LockView, ReportedState
from wire.prisoners import PersonEvent
from wire.topics import TabletChannel

pytestmark = pytest.mark.timeout(120)

JOBS = "findajob.dwp.gov.uk"  # find-a-job: in the resettlement profile, not in standard


def check(gateway: Gateway, device: str, host: str = JOBS) -> tuple[bool, str]:
    answer = gateway.staff_json("web", "check", "--device", device, host)
    return answer["allowed"], answer["reason"]


def becomes(gateway: Gateway, device: str, wanted: tuple[bool, Any], tries: int = 60) -> bool:
    """Poll the decision (each check is a staff process) until it is `wanted`; reason may be a
    prefix."""
    for _ in range(tries):
        allowed, reason = check(gateway, device)
        if allowed == wanted[0] and reason.startswith(wanted[1]):
            return True
    return False


async def person(tablet: TabletPeer, kind: str, number: str, **fields: Any) -> None:
    event = PersonEvent(id=uuid.uuid4().hex, kind=kind, person=number, at=now_ms(),  # type: ignore[arg-type]
                        **fields)
    await tablet.publish(TabletChannel.PERSON, event.model_dump_json().encode())


def admit(gateway: Gateway, number: str, name: str, profile: str) -> None:
    result = gateway.cli("prisoner", "add", number, "--name", name, "--cell", "C1",
                           "--profile", profile)
    assert result.returncode == 0, result.stderr


async def test_nobody_signed_in_means_no_web_and_a_person_brings_their_profile(
        web_gateway, peer) -> None:
    admit(web_gateway, "A1234BC", "John Smith", "resettlement")
    assert becomes(web_gateway, "T1", (False, "nobody_signed_in"))
    async with peer("T1", answer=False) as t1:
        await person(t1, "signed_in", "A1234BC")
        assert becomes(web_gateway, "T1", (True, "profile:find-a-job"))
        assert check(web_gateway, "T2") == (False, "nobody_signed_in")  # the same cell
        await person(t1, "signed_out", "A1234BC", ended="idle")
        assert becomes(web_gateway, "T1", (False, "nobody_signed_in"))


async def test_a_persons_grant_goes_with_them_and_ends_when_they_are_released(
        web_gateway, peer) -> None:
    admit(web_gateway, "A1234BC", "John Smith", "standard")
    admit(web_gateway, "B2345CD", "Adam Nowak", "standard")
    until = (dt.date.today() + dt.timedelta(days=5)).isoformat()
    granted = web_gateway.staff_json("web", "grant", "--prisoner", "A1234BC", "--site",
                                     "find-a-job", "--purpose", "job search", "--until", until)
    assert (granted["subject_kind"], granted["subject"]) == ("prisoner", "A1234BC")
    async with peer("T2", answer=False) as t2:
        await person(t2, "signed_in", "B2345CD")
        assert becomes(web_gateway, "T2", (False, "not_listed"))  # not B's grant
        await person(t2, "signed_in", "A1234BC")
        assert becomes(web_gateway, "T2", (True, f"grant:{granted['id']}"))
        released = web_gateway.cli("prisoner", "release", "A1234BC")
        assert released.returncode == 0, released.stderr
        assert becomes(web_gateway, "T2", (False, "nobody_signed_in"))
    revoked = [e for e in web_gateway.staff_json("audit")["entries"]
               if e["action"] == "web_grant_revoke"]
    assert [(e["target"], e["detail"]["grant"]) for e in revoked] == [
        ("prisoner:A1234BC", granted["id"])]


async def test_who_is_signed_in_is_also_taken_from_the_tablets_report(web_gateway,
                                                                       peer) -> None:
    admit(web_gateway, "A1234BC", "John Smith", "resettlement")
    async with peer("T1", answer=False) as t1:
        report = ReportedState(device="T1", desired_version=0, lockdown_version=0,
                               lock=LockView(locked=False), profile="standard", at=now_ms(),
                               boot_id="boot-1", agent_version="test-peer",
                               signed_in="A1234BC")
        await t1.publish(TabletChannel.REPORTED, report.model_dump_json().encode(),
                         retain=True)
        assert becomes(web_gateway, "T1", (True, "profile:find-a-job"))


def test_a_tablet_of_a_cell_without_occupants_keeps_its_own_profile_and_grants(
        web_gateway) -> None:
    admit(web_gateway, "A1234BC", "John Smith", "standard")  # in C1; T3 is in C2
    result = web_gateway.cli("policy", "profile", "resettlement", "--device", "T3")
    assert result.returncode == 0, result.stderr
    assert check(web_gateway, "T3") == (True, "profile:find-a-job")
    assert check(web_gateway, "T1") == (False, "nobody_signed_in")


async def test_a_grant_to_a_person_reaches_their_cells_tablet_in_their_own_occupant_entry(
        web_gateway, peer) -> None:
    admit(web_gateway, "A1234BC", "John Smith", "standard")
    admit(web_gateway, "B2345CD", "Adam Nowak", "standard")
    async with peer("T1") as t1:

        def carried() -> dict[str, list[str]]:
            people = t1.desired.occupants.people if t1.desired is not None else ()
            return {p.number: [g.site for g in p.web_grants] for p in people}

        await t1.wait_until(lambda: carried() == {"A1234BC": [], "B2345CD": []})
        until = (dt.date.today() + dt.timedelta(days=5)).isoformat()
        granted = web_gateway.staff_json("web", "grant", "--prisoner", "A1234BC", "--site",
                                         "find-a-job", "--purpose", "job search", "--until",
                                         until)
        await t1.wait_until(lambda: carried() == {"A1234BC": ["find-a-job"], "B2345CD": []})
        assert t1.desired is not None and t1.desired.web_grants == ()  # not the tablet's

        revoked = web_gateway.cli("web", "revoke", granted["id"], "--reason", "done")
        assert revoked.returncode == 0, revoked.stderr
        await t1.wait_until(lambda: carried() == {"A1234BC": [], "B2345CD": []})

"""Web grants at a real gateway, through the staff CLI: a site for one tablet until a date, a
sensitive site only once a second, different member of staff approves, revocation, expiry, the
audit trail; the decision the proxy will ask, checked with `staff web check`."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from gateway.store import Store
from gateway.web_grant_book import GrantBook
from tests.support.gateway import Gateway

pytestmark = pytest.mark.timeout(120)


def day(offset: int) -> str:
    return (dt.date.today() + dt.timedelta(days=offset)).isoformat()


def check(gateway: Gateway, device: str, host: str) -> tuple[bool, str]:
    answer = gateway.staff_json("web", "check", "--device", device, host)
    return answer["allowed"], answer["reason"]


def actions(gateway: Gateway) -> list[str]:
    return [e["action"] for e in gateway.staff_json("audit")["entries"]
            if e["action"].startswith("web_")]


def test_a_grant_lets_one_tablet_reach_one_more_site_until_it_is_revoked(web_gateway):
    assert check(web_gateway, "T1", "findajob.dwp.gov.uk") == (False, "not_listed")
    granted = web_gateway.staff_json("web", "grant", "--device", "T1", "--site", "find-a-job",
                                     "--purpose", "CV and job search before release",
                                     "--until", day(10), "--by", "officer.ames")
    assert granted["state"] == "active"
    assert (granted["subject_kind"], granted["subject"]) == ("tablet", "T1")
    assert check(web_gateway, "T1", "FINDAJOB.DWP.GOV.UK.") == (True, f"grant:{granted['id']}")
    assert check(web_gateway, "T2", "findajob.dwp.gov.uk") == (False, "not_listed")
    assert check(web_gateway, "T1", "www.gov.uk") == (False, "not_listed")

    listed = web_gateway.staff_json("web", "list", "--device", "T1")
    assert [(g["id"], g["site"], g["state"]) for g in listed] == [
        (granted["id"], "find-a-job", "active")]
    assert web_gateway.staff_json("web", "list", "--device", "T2") == []

    revoked = web_gateway.staff("web", "revoke", granted["id"], "--reason", "moved wing",
                                "--by", "officer.ames")
    assert revoked.returncode == 0, revoked.stderr
    assert check(web_gateway, "T1", "findajob.dwp.gov.uk") == (False, "not_listed")
    assert actions(web_gateway) == ["web_grant", "web_grant_revoke"]
    assert web_gateway.staff("audit", "--verify").returncode == 0


def test_a_sensitive_site_does_nothing_until_a_different_member_of_staff_approves(web_gateway):
    granted = web_gateway.staff_json("web", "grant", "--device", "T1", "--site",
                                     "basic-bank-account", "--purpose", "open an account",
                                     "--until", day(30), "--by", "officer.ames")
    assert granted["state"] == "awaiting_approval"
    assert check(web_gateway, "T1", "www.moneyhelper.org.uk") == (False, "not_listed")

    same = web_gateway.staff("web", "approve", granted["id"], "--as", "Officer.Ames")
    assert same.returncode == 2
    assert "a different member of staff must approve it" in same.stderr
    assert check(web_gateway, "T1", "www.moneyhelper.org.uk") == (False, "not_listed")

    approved = web_gateway.staff_json("web", "approve", granted["id"], "--as", "sso.baker")
    assert (approved["state"], approved["approved_by"]) == ("active", "sso.baker")
    assert check(web_gateway, "T1", "online.natwest.com") == (True, f"grant:{granted['id']}")
    again = web_gateway.staff("web", "approve", granted["id"], "--as", "someone.else")
    assert again.returncode == 2 and "already approved" in again.stderr
    assert actions(web_gateway) == ["web_grant", "web_grant_approve"]


@pytest.mark.parametrize(("args", "says"), [
    (["--site", "find-a-job", "--until", day(91)], "at most 90 days"),
    (["--site", "find-a-job", "--until", day(-1)], "has already passed"),
    (["--site", "casino", "--until", day(5)], "no site 'casino' in the wing's catalogue"),
    (["--site", "find-a-job", "--until", "next week"], "is not a date"),
])
def test_a_grant_needs_a_catalogue_site_and_an_expiry_within_90_days(web_gateway, args, says):
    result = web_gateway.staff("web", "grant", "--device", "T1", "--purpose", "why", *args)
    assert result.returncode == 2
    assert says in result.stderr
    assert web_gateway.staff_json("web", "list") == []
    assert actions(web_gateway) == []


def test_a_grant_for_a_tablet_not_on_the_wing_is_refused(web_gateway):
    result = web_gateway.staff("web", "grant", "--device", "T9", "--site", "find-a-job",
                               "--purpose", "why", "--until", day(3))
    assert result.returncode == 2 and "no tablet 'T9'" in result.stderr


def test_the_profile_gives_its_sites_and_a_lock_takes_them_away(web_gateway):
    assert check(web_gateway, "T1", "www.gov.uk") == (False, "not_listed")
    result = web_gateway.staff("policy", "profile", "resettlement", "--device", "T1")
    assert result.returncode == 0, result.stderr
    assert check(web_gateway, "T1", "www.gov.uk") == (True, "profile:council-housing")
    assert check(web_gateway, "T1", "gov.uk.evil.example") == (False, "not_listed")
    assert check(web_gateway, "T1", "203.0.113.9") == (False, "ip_literal")
    locked = web_gateway.staff("lock", "--device", "T1", "--reason", "search")
    assert locked.returncode == 0, locked.stderr
    assert check(web_gateway, "T1", "www.gov.uk") == (False, "locked")
    assert check(web_gateway, "T9", "www.gov.uk") == (False, "unknown_tablet")


def test_grants_list_as_a_table_for_people(web_gateway):
    web_gateway.staff_json("web", "grant", "--device", "T2", "--site", "legal-aid",
                           "--purpose", "appeal\x1b[31m", "--until", day(2), "--by", "a")
    shown = web_gateway.staff("web", "list")
    assert shown.returncode == 0
    assert "legal-aid" in shown.stdout and "active" in shown.stdout
    assert "\x1b" not in shown.stdout
    assert json.loads(web_gateway.staff("web", "list", "--json").stdout)[0]["site"] == "legal-aid"


def test_an_expired_grant_is_audited_once(tmp_path: Path):
    store = Store(tmp_path / "gateway.db")
    book = GrantBook(store)
    grant = book.add("tablet", "T1", "find-a-job", "why", "a", now=1000, until=2000,
                     sensitive=False)
    assert book.expire(1999) == []
    assert [g.id for g in book.expire(2000)] == [grant.id]
    assert book.expire(5000) == []
    entries = [(e.action, e.target, e.detail.get("grant")) for e in store.audit_entries()]
    assert entries == [("web_grant", "device:T1", grant.id),
                       ("web_grant_expired", "device:T1", grant.id)]
    assert store.verify_audit().ok
    assert book.get(grant.id).state(2000) == "expired"  # type: ignore[union-attr]

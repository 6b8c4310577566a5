"""Web grants at a real gateway, through the staff CLI: a site for one tablet until a date, a
sensitive site only once a second, different member of staff approves, revocation, expiry, the
audit trail; the decision the proxy will ask, checked with `staff web check`."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from gateway.store import Store
from gateway.web_grant_book import APPROVE_WITHIN_MS, GrantBook, GrantConflict
from gateway.web_grants import DAY_MS
from tests.support.gateway import Gateway
from tests.support.os_accounts import Account, MakeAccount, as_account, needs_root
from tests.web.conftest import open_all_day_policy

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

    revoked = web_gateway.cli("web", "revoke", granted["id"], "--reason", "moved wing",
                                "--by", "officer.ames")
    assert revoked.returncode == 0, revoked.stderr
    assert check(web_gateway, "T1", "findajob.dwp.gov.uk") == (False, "not_listed")
    assert actions(web_gateway) == ["web_grant", "web_grant_revoke"]
    assert web_gateway.cli("audit", "--verify").returncode == 0


@pytest.fixture
def staffed_gateway(make_gateway, staff_group: str, tmp_path: Path) -> Gateway:
    """A web gateway whose API socket the staff group may use (for throwaway OS accounts)."""
    gateway: Gateway = make_gateway(api_group=staff_group)
    result = gateway.cli("policy", "apply", str(open_all_day_policy(tmp_path / "wing.toml")))
    assert result.returncode == 0, result.stderr
    return gateway


def bank_grant(gateway: Gateway, account: Account, *note: str) -> dict[str, Any]:
    result = as_account(account, gateway, "staff", "web", "grant", "--device", "T1", "--site",
                        "basic-bank-account", "--purpose", "open an account", "--until", day(30),
                        *note, "--json")
    assert result.returncode == 0, result.stderr
    granted: dict[str, Any] = json.loads(result.stdout)
    assert granted["state"] == "awaiting_approval"
    return granted


@needs_root
def test_the_same_os_account_cannot_approve_its_own_sensitive_grant_whatever_it_types(
        staffed_gateway: Gateway, staff_group: str, make_account: MakeAccount) -> None:
    alice = make_account(staff_group)
    granted = bank_grant(staffed_gateway, alice, "--by", "officer.ames")
    for typed in (["--as", "sso.baker"], ["--as", "Officer.Ames"], []):
        same = as_account(alice, staffed_gateway, "staff", "web", "approve", granted["id"],
                          *typed)
        assert same.returncode == 2, (typed, same.stdout, same.stderr)
        assert "a different member of staff must approve it" in same.stderr
    assert check(staffed_gateway, "T1", "www.moneyhelper.org.uk") == (False, "not_listed")
    assert actions(staffed_gateway) == ["web_grant"]


@needs_root
def test_a_different_os_account_approves_a_sensitive_grant_and_it_takes_effect(
        staffed_gateway: Gateway, staff_group: str, make_account: MakeAccount) -> None:
    alice, bob = make_account(staff_group), make_account(staff_group)
    granted = bank_grant(staffed_gateway, alice)
    assert check(staffed_gateway, "T1", "online.natwest.com") == (False, "not_listed")
    # What bob types (even alice's own note) changes nothing: bob is who approves.
    result = as_account(bob, staffed_gateway, "staff", "web", "approve", granted["id"],
                        "--as", "officer.ames", "--json")
    assert result.returncode == 0, result.stderr
    approved = json.loads(result.stdout)
    assert (approved["state"], approved["approved_by"]) == (
        "active", f"os:{bob.name} (officer.ames)")
    assert check(staffed_gateway, "T1", "online.natwest.com") == (True, f"grant:{granted['id']}")
    again = as_account(alice, staffed_gateway, "staff", "web", "approve", granted["id"])
    assert again.returncode == 2 and "already approved" in again.stderr


@needs_root
def test_grant_approval_and_revocation_name_the_os_accounts_in_the_audit(
        staffed_gateway: Gateway, staff_group: str, make_account: MakeAccount) -> None:
    alice, bob = make_account(staff_group), make_account(staff_group)
    granted = bank_grant(staffed_gateway, alice, "--by", "officer.ames")
    assert as_account(bob, staffed_gateway, "staff", "web", "approve",
                      granted["id"]).returncode == 0
    assert as_account(alice, staffed_gateway, "staff", "web", "revoke", granted["id"],
                      "--reason", "done", "--by", "sso.baker").returncode == 0
    entries = [(e["actor"], e["action"]) for e in staffed_gateway.staff_json("audit")["entries"]
               if e["action"].startswith("web_")]
    assert entries == [(f"staff:os:{alice.name} (officer.ames)", "web_grant"),
                       (f"staff:os:{bob.name}", "web_grant_approve"),
                       (f"staff:os:{alice.name} (sso.baker)", "web_grant_revoke")]
    assert staffed_gateway.cli("audit", "--verify").returncode == 0


def test_an_os_account_and_a_console_account_of_one_name_are_one_person(tmp_path: Path) -> None:
    book = GrantBook(Store(tmp_path / "gateway.db"))
    grant = book.add("tablet", "T1", "bank", "why", "os:alice (x)", now=1000, until=9000,
                     sensitive=True, who="os:alice")
    with pytest.raises(GrantConflict, match="a different member of staff"):
        book.approve(grant.id, "Alice", now=1001, who="console:Alice")
    approved = book.approve(grant.id, "bob", now=1002, who="console:bob")
    assert approved is not None and approved.approved_who == "console:bob"


def test_a_sensitive_grant_not_approved_within_ten_minutes_lapses(tmp_path: Path) -> None:
    book = GrantBook(Store(tmp_path / "gateway.db"))
    grant = book.add("tablet", "T1", "bank", "why", "os:alice", now=0, until=DAY_MS,
                     sensitive=True, who="os:alice")
    assert grant.state(APPROVE_WITHIN_MS) == "awaiting_approval"
    assert grant.state(APPROVE_WITHIN_MS + 1) == "lapsed"
    with pytest.raises(GrantConflict, match="not approved within 10 minutes"):
        book.approve(grant.id, "os:bob", now=APPROVE_WITHIN_MS + 1, who="os:bob")
    assert not book.get(grant.id).terms().approved  # type: ignore[union-attr]


def test_a_grant_made_before_identities_were_recorded_cannot_be_approved(tmp_path: Path
                                                                         ) -> None:
    store = Store(tmp_path / "gateway.db")
    with store.transaction() as db:  # the table as it first shipped
        db.execute(
            "CREATE TABLE web_grants (id INTEGER PRIMARY KEY AUTOINCREMENT,"
            " subject_kind TEXT NOT NULL, subject TEXT NOT NULL, site TEXT NOT NULL,"
            " purpose TEXT NOT NULL, granted_by TEXT NOT NULL, granted_at INTEGER NOT NULL,"
            " start INTEGER NOT NULL, until INTEGER NOT NULL, sensitive INTEGER NOT NULL,"
            " approved_by TEXT, approved_at INTEGER, revoked_by TEXT, revoked_at INTEGER,"
            " revoke_reason TEXT, expiry_audited INTEGER NOT NULL DEFAULT 0)")
        db.execute("INSERT INTO web_grants (subject_kind, subject, site, purpose, granted_by,"
                   " granted_at, start, until, sensitive) VALUES"
                   " ('tablet', 'T1', 'bank', 'why', 'alice', 1, 1, 9000, 1)")
    book = GrantBook(store)
    with pytest.raises(GrantConflict, match="revoke it and grant it again"):
        book.approve("G1", "bob", now=2, who="os:bob")
    assert book.get("G1").approved is False  # type: ignore[union-attr]


@pytest.mark.parametrize(("args", "says"), [
    (["--site", "find-a-job", "--until", day(91)], "at most 90 days"),
    (["--site", "find-a-job", "--until", day(-1)], "has already passed"),
    (["--site", "casino", "--until", day(5)], "no site 'casino' in the wing's catalogue"),
    (["--site", "find-a-job", "--until", "next week"], "is not a date"),
])
def test_a_grant_needs_a_catalogue_site_and_an_expiry_within_90_days(web_gateway, args, says):
    result = web_gateway.cli("web", "grant", "--device", "T1", "--purpose", "why", *args)
    assert result.returncode == 2
    assert says in result.stderr
    assert web_gateway.staff_json("web", "list") == []
    assert actions(web_gateway) == []


def test_a_grant_for_a_tablet_not_on_the_wing_is_refused(web_gateway):
    result = web_gateway.cli("web", "grant", "--device", "T9", "--site", "find-a-job",
                               "--purpose", "why", "--until", day(3))
    assert result.returncode == 2 and "no tablet 'T9'" in result.stderr


def test_the_profile_gives_its_sites_and_a_lock_takes_them_away(web_gateway):
    assert check(web_gateway, "T1", "www.gov.uk") == (False, "not_listed")
    result = web_gateway.cli("policy", "profile", "resettlement", "--device", "T1")
    assert result.returncode == 0, result.stderr
    assert check(web_gateway, "T1", "www.gov.uk") == (True, "profile:council-housing")
    assert check(web_gateway, "T1", "gov.uk.evil.example") == (False, "not_listed")
    assert check(web_gateway, "T1", "203.0.113.9") == (False, "ip_literal")
    locked = web_gateway.cli("lock", "--device", "T1", "--reason", "search")
    assert locked.returncode == 0, locked.stderr
    assert check(web_gateway, "T1", "www.gov.uk") == (False, "locked")
    unknown = web_gateway.cli("web", "check", "--device", "T9", "www.gov.uk")
    assert (unknown.returncode, unknown.stderr) == (
        2, "Error: no tablet T9 in this wing (see `staff status`)\n")


def test_grants_list_as_a_table_for_people(web_gateway):
    web_gateway.staff_json("web", "grant", "--device", "T2", "--site", "legal-aid",
                           "--purpose", "appeal\x1b[31m", "--until", day(2), "--by", "a")
    shown = web_gateway.cli("web", "list")
    assert shown.returncode == 0
    assert "legal-aid" in shown.stdout and "active" in shown.stdout
    assert "\x1b" not in shown.stdout
    assert json.loads(web_gateway.cli("web", "list", "--json").stdout)[0]["site"] == "legal-aid"


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

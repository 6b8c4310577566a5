"""The web decision (wire.webaccess) and the host names it compares (wire.hostnames), as tables."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from wire.hostnames import HostError, matches, normalise_host, normalise_pattern
from wire.policy import wing_policy
from wire.webaccess import GrantTerms, Subject, allowed_sites, decide

RULES = {
    "name": "web test",
    "timezone": "Europe/London",
    "curfew": [{"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"], "start": 1320,
                "end": 420}],
    "lockdowns": [{"name": "search", "start": "2026-12-09T08:00", "end": "2026-12-09T12:00"}],
    "sites": {
        "gov": {"title": "GOV.UK", "purpose": "benefits", "hosts": ["gov.uk", "*.gov.uk"]},
        "bank": {"title": "Bank", "purpose": "banking", "hosts": ["www.bank.example"],
                 "sensitive": True},
        "jobs": {"title": "Jobs", "purpose": "jobs", "hosts": ["jobs.example"]},
        "cafe": {"title": "Café", "purpose": "education", "hosts": ["xn--caf-dma.example"]},
    },
    "profiles": {
        "basic": {}, "standard": {}, "enhanced": {},
        "resettlement": {"sites": ["gov"]},
    },
}
POLICY = wing_policy(RULES, audience="wing:A", version=1, issued=0, expires=1)


def at(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() * 1000)


NOON = at("2026-12-07T12:00")  # a Monday, open (London is on UTC in December)
NIGHT = at("2026-12-07T23:00")  # curfew
LOCKDOWN = at("2026-12-09T09:00")
DAY = 86_400_000
SETTLED = Subject(known=True, profile="resettlement", locked=False)
GRANT_JOBS = GrantTerms("g1", "jobs", NOON - DAY, NOON + DAY, approved=True)


@pytest.mark.parametrize(("text", "expected"), [
    ("www.gov.uk", "www.gov.uk"),
    ("WWW.GOV.UK", "www.gov.uk"),
    ("www.gov.uk.", "www.gov.uk"),
    ("café.example", "xn--caf-dma.example"),
    ("CAFÉ.example", "xn--caf-dma.example"),
    ("xn--caf-dma.example", "xn--caf-dma.example"),
])
def test_a_host_has_one_spelling(text: str, expected: str) -> None:
    assert normalise_host(text) == expected


@pytest.mark.parametrize(("text", "reason"), [
    ("127.0.0.1", "ip_literal"),
    ("[::1]", "ip_literal"),
    ("::1", "ip_literal"),
    ("0x7f.1", "ip_literal"),
    ("2130706433", "ip_literal"),
    ("10.1", "ip_literal"),
    ("", "bad_host"),
    ("a..b", "bad_host"),
    ("-a.example", "bad_host"),
    ("under_score.example", "bad_host"),
    ("a b.example", "bad_host"),
    ("xn--zz.example", "bad_host"),
    ("x" * 64 + ".example", "bad_host"),
])
def test_what_is_not_a_name_is_refused_with_its_reason(text: str, reason: str) -> None:
    with pytest.raises(HostError) as caught:
        normalise_host(text)
    assert caught.value.reason == reason


@pytest.mark.parametrize(("host", "pattern", "expected"), [
    ("www.gov.uk", "*.gov.uk", True),
    ("a.b.gov.uk", "*.gov.uk", True),
    ("gov.uk", "*.gov.uk", False),
    ("evilgov.uk", "*.gov.uk", False),
    ("gov.uk.evil.example", "*.gov.uk", False),
    ("www.gov.uk", "www.gov.uk", True),
    ("www.gov.uk.evil.example", "www.gov.uk", False),
    ("wwwgov.uk", "www.gov.uk", False),
])
def test_patterns_match_on_label_boundaries(host: str, pattern: str, expected: bool) -> None:
    assert matches(host, pattern) is expected


@pytest.mark.parametrize("pattern", ["*", "*gov.uk", "www.*.uk", "a.*", "*.*.uk", "1.2.3.4"])
def test_a_pattern_is_a_name_or_a_leading_star_dot(pattern: str) -> None:
    with pytest.raises(HostError):
        normalise_pattern(pattern)


@pytest.mark.parametrize(("host", "subject", "now", "allowed", "reason"), [
    # the profile's sites
    ("www.gov.uk", SETTLED, NOON, True, "profile:gov"),
    ("gov.uk", SETTLED, NOON, True, "profile:gov"),
    ("WWW.GOV.UK", SETTLED, NOON, True, "profile:gov"),
    ("www.gov.uk.", SETTLED, NOON, True, "profile:gov"),
    # suffix tricks and look-alikes
    ("gov.uk.evil.example", SETTLED, NOON, False, "not_listed"),
    ("evilgov.uk", SETTLED, NOON, False, "not_listed"),
    ("www.gov.uk.evil.example", SETTLED, NOON, False, "not_listed"),
    ("xn--gv-bja.uk", SETTLED, NOON, False, "not_listed"),  # "gōv.uk"
    ("www.gоv.uk", SETTLED, NOON, False, "not_listed"),  # Cyrillic о
    ("127.0.0.1", SETTLED, NOON, False, "ip_literal"),
    ("[::1]", SETTLED, NOON, False, "ip_literal"),
    ("a_b.gov.uk", SETTLED, NOON, False, "bad_host"),
    # another profile has no sites
    ("www.gov.uk", Subject(True, "basic", False), NOON, False, "not_listed"),
    ("www.gov.uk", Subject(True, "no-such-profile", False), NOON, False, "not_listed"),
    # state of the tablet and of the wing
    ("www.gov.uk", Subject(False, "resettlement", False), NOON, False, "unknown_tablet"),
    ("www.gov.uk", Subject(True, "resettlement", True), NOON, False, "locked"),
    ("www.gov.uk", SETTLED, NIGHT, False, "curfew"),
    ("www.gov.uk", SETTLED, LOCKDOWN, False, "lockdown"),
    ("www.gov.uk", SETTLED, None, False, "no_time"),
    # grants: live, not yet, expired, revoked, awaiting a second approver
    ("jobs.example", Subject(True, "basic", False, (GRANT_JOBS,)), NOON, True, "grant:g1"),
    ("jobs.example", Subject(True, "basic", False, (GRANT_JOBS,)), NOON + 2 * DAY, False,
     "not_listed"),
    ("jobs.example", Subject(True, "basic", False, (GRANT_JOBS,)), NOON - 2 * DAY, False,
     "not_listed"),
    ("jobs.example", Subject(True, "basic", False, (
        GrantTerms("g2", "jobs", NOON - DAY, NOON + DAY, approved=True, revoked=True),)),
     NOON, False, "not_listed"),
    ("www.bank.example", Subject(True, "basic", False, (
        GrantTerms("g3", "bank", NOON - DAY, NOON + DAY, approved=False),)),
     NOON, False, "not_listed"),
    ("www.bank.example", Subject(True, "basic", False, (
        GrantTerms("g4", "bank", NOON - DAY, NOON + DAY, approved=True),)),
     NOON, True, "grant:g4"),
    ("jobs.example", Subject(True, "basic", True, (GRANT_JOBS,)), NOON, False, "locked"),
    ("jobs.example", Subject(True, "basic", False, (GRANT_JOBS,)), NIGHT, False, "curfew"),
    # a grant of a site the catalogue no longer has reaches nothing
    ("jobs.example", Subject(True, "basic", False, (
        GrantTerms("g5", "gone", NOON - DAY, NOON + DAY, approved=True),)), NOON, False,
     "not_listed"),
    ("café.example", Subject(True, "basic", False, (
        GrantTerms("g6", "cafe", NOON - DAY, NOON + DAY, approved=True),)), NOON, True,
     "grant:g6"),
])
def test_the_decision(host: str, subject: Subject, now: int | None, allowed: bool,
                      reason: str) -> None:
    decision = decide(host, subject, POLICY, now)
    assert (decision.allowed, decision.reason) == (allowed, reason)


def test_no_policy_denies_everything() -> None:
    assert decide("www.gov.uk", SETTLED, None, NOON).reason == "no_policy"


def test_an_allowed_answer_holds_until_curfew_or_the_grant_expires() -> None:
    by_profile = decide("www.gov.uk", SETTLED, POLICY, NOON)
    assert by_profile.until == at("2026-12-07T22:00")
    late = GrantTerms("g7", "jobs", NOON - DAY, NOON + 3_600_000, approved=True)
    by_grant = decide("jobs.example", Subject(True, "basic", False, (late,)), POLICY, NOON)
    assert by_grant.until == NOON + 3_600_000


def test_the_web_app_lists_profile_sites_then_live_grants() -> None:
    pending = GrantTerms("g8", "bank", NOON - DAY, NOON + DAY, approved=False)
    subject = Subject(True, "resettlement", False, (GRANT_JOBS, pending))
    listed = [(name, until) for name, _site, until in allowed_sites(subject, POLICY, NOON)]
    assert listed == [("gov", None), ("jobs", NOON + DAY)]


def test_the_web_app_lists_nothing_with_nobody_signed_in() -> None:
    nobody = Subject(True, "resettlement", False, (GRANT_JOBS,), signed_in=False)
    assert allowed_sites(nobody, POLICY, NOON) == []
    assert decide("www.gov.uk", nobody, POLICY, NOON).reason == "nobody_signed_in"

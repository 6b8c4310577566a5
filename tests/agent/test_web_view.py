"""What the agent offers in the Web app, from its signed desired state and the wing policy, with
the gateway's own pure code; and the browser's command line. Pure."""

from __future__ import annotations

from datetime import UTC, datetime

from agent.web_view import browser_argv, start_url, subject_of, web_sites
from agent.webproxy import CHROMIUM, COG
from wire.documents import DesiredState, LockOrder, WebGrant
from wire.policy import wing_policy
from wire.schedule import Schedule

RULES = {
    "name": "web test",
    "timezone": "Europe/London",
    "curfew": [{"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"], "start": 1320,
                "end": 420}],
    "lockdowns": [{"name": "search", "start": "2026-12-09T08:00", "end": "2026-12-09T12:00"}],
    "sites": {
        "gov": {"title": "GOV.UK", "purpose": "benefits", "hosts": ["*.gov.uk"]},
        "jobs": {"title": "Jobs", "purpose": "jobs", "hosts": ["jobs.example", "*.jobs.example"]},
        "bank": {"title": "Bank", "purpose": "banking", "hosts": ["www.bank.example"],
                 "sensitive": True},
    },
    "profiles": {"basic": {}, "standard": {}, "enhanced": {}, "resettlement": {"sites": ["gov"]}},
}
POLICY = wing_policy(RULES, audience="wing:A", version=1, issued=0, expires=1)
SCHEDULE = Schedule(POLICY)
DAY = 86_400_000


def at(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() * 1000)


NOON = at("2026-12-07T12:00")  # a Monday, open; curfew at 22:00 (London is on UTC in December)
CURFEW = at("2026-12-07T22:00")


def desired(*grants: WebGrant, profile: str = "resettlement") -> DesiredState:
    return DesiredState(audience="device:T1", version=1, issued=0, expires=1, profile=profile,
                        lock=LockOrder(locked=False, by="system", reason="", since=0),
                        web_grants=grants)


def listed(doc: DesiredState | None, now: int = NOON, *, locked: bool = False):
    subject = subject_of(doc, doc.profile if doc else "standard", locked=locked)
    return [(s.site, s.until) for s in web_sites(POLICY, SCHEDULE, subject, now)]


JOBS_UNTIL = NOON + 10 * DAY
JOBS = WebGrant(id="G1", site="jobs", start=NOON - DAY, until=JOBS_UNTIL)


def test_profile_sites_until_the_curfew_and_granted_sites_until_their_expiry():
    assert listed(desired(JOBS)) == [("gov", CURFEW), ("jobs", JOBS_UNTIL)]


def test_a_grant_not_started_or_expired_is_not_listed():
    later = WebGrant(id="G2", site="jobs", start=NOON + DAY, until=NOON + 5 * DAY)
    over = WebGrant(id="G3", site="jobs", start=NOON - 5 * DAY, until=NOON - DAY)
    assert listed(desired(later, over)) == [("gov", CURFEW)]


def test_nothing_is_listed_when_locked_in_curfew_in_a_lockdown_or_without_a_desired_state():
    assert listed(desired(JOBS), locked=True) == []
    assert listed(desired(JOBS), at("2026-12-07T23:00")) == []
    assert listed(desired(JOBS), at("2026-12-09T09:00")) == []
    assert listed(None) == []
    subject = subject_of(desired(JOBS), "resettlement", locked=False)
    assert web_sites(None, None, subject, NOON) == ()
    assert web_sites(POLICY, SCHEDULE, subject, None) == ()


def test_a_site_opens_at_its_first_exact_host_else_under_its_suffix():
    assert start_url(POLICY.sites["jobs"]) == "https://jobs.example/"
    assert start_url(POLICY.sites["gov"]) == "https://www.gov.uk/"


def test_the_browser_command_points_at_the_forwarder():
    argv = browser_argv(CHROMIUM, url="https://www.gov.uk/", proxy_port=3128)
    assert argv[0] == "/usr/bin/chromium"
    assert {"--kiosk", "--app=https://www.gov.uk/", "--proxy-server=http://127.0.0.1:3128",
            "--proxy-bypass-list=<-loopback>"} <= set(argv)
    assert browser_argv(COG, url="https://x.example/", proxy_port=9) == (
        "/usr/bin/cog", "--proxy=http://127.0.0.1:9", "https://x.example/")


def test_the_list_is_due_again_when_a_grant_starts(tmp_path):
    from agent.clock import TrustedClock
    from agent.policy import PolicyEnforcer
    from tests.policy.samples import TRUSTED

    mono = [1000.0]
    clock = TrustedClock(monotonic=lambda: mono[0])
    clock.anchor(NOON)
    enforcer = PolicyEnforcer(wing="A", apps_dir=tmp_path, trusted_keys=TRUSTED, clock=clock)
    enforcer.set_policy(POLICY)
    soon = WebGrant(id="G9", site="jobs", start=NOON + 2_000, until=NOON + DAY)
    subject = subject_of(desired(soon), "resettlement", locked=False)
    enforcer.view("resettlement", locked=False)
    assert [s.site for s in enforcer.web_sites(subject)] == ["gov"]
    assert not enforcer.due("resettlement", locked=False)
    assert enforcer.sleep_s() <= 2.0
    mono[0] += 2.5
    assert enforcer.due("resettlement", locked=False)
    assert [s.site for s in enforcer.web_sites(subject)] == ["gov", "jobs"]

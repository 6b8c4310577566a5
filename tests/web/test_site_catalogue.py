"""The web site catalogue in the wing policy and in the policy files staff edit."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.policy_file import PolicyFileError, load_rules, parse_rules, rules_to_toml
from wire.policy import PURPOSES, policy_hash, wing_policy

EXAMPLE = Path(__file__).parents[2] / "gateway" / "policies" / "example.toml"
ENVELOPE = {"audience": "wing:A", "version": 1, "issued": 0, "expires": 1}


def test_the_example_policy_gives_resettlement_its_sites() -> None:
    policy = wing_policy(load_rules(EXAMPLE), **ENVELOPE)
    resettlement = policy.profiles["resettlement"].sites
    purposes = {policy.sites[s].purpose for s in resettlement}
    assert {"housing", "jobs", "benefits", "id", "legal"} <= purposes
    assert policy.profiles["basic"].sites == ()
    assert all(site.purpose in PURPOSES for site in policy.sites.values())
    sensitive = [name for name, site in policy.sites.items() if site.sensitive]
    assert sensitive and all(policy.sites[n].purpose == "banking" for n in sensitive)
    assert not set(sensitive) & set(resettlement), "a sensitive site is granted, never a default"


def test_the_catalogue_survives_the_round_trip_through_toml() -> None:
    policy = wing_policy(load_rules(EXAMPLE), **ENVELOPE)
    again = wing_policy(parse_rules(rules_to_toml(policy)), **ENVELOPE)
    assert again.sites == policy.sites
    assert policy_hash(again) == policy_hash(policy)


BASE = """
name = "t"
[profiles.basic]
[profiles.standard]
[profiles.enhanced]
[profiles.resettlement]
sites = ["gov"]

[sites.gov]
title = "GOV.UK"
purpose = "benefits"
hosts = [
    "www.gov.uk",
    "HOSTS_HERE",
]
"""


@pytest.mark.parametrize(("host", "says"), [
    ("WWW.GOV.UK", "write it as 'www.gov.uk'"),
    ("www.gov.uk.", "write it as 'www.gov.uk'"),
    ("café.example", "write it as 'xn--caf-dma.example'"),
    ("*gov.uk", "wildcard is only allowed as a leading '*.'"),
    ("10.0.0.1", "an address, not a name"),
    ("(www|jobs).gov.uk", "not a host name"),
])
def test_a_bad_host_pattern_is_refused_on_its_line(host: str, says: str) -> None:
    text = BASE.replace("HOSTS_HERE", host)
    with pytest.raises(PolicyFileError) as caught:
        parse_rules(text, source="wing.toml")
    message = str(caught.value)
    assert message.startswith("wing.toml:14: sites.gov.hosts[2]: "), message
    assert says in message


@pytest.mark.parametrize(("change", "says"), [
    (('purpose = "benefits"', 'purpose = "shopping"'), "wing.toml:11: sites.gov.purpose: "),
    (('sites = ["gov"]', 'sites = ["gov", "casino"]'), "sites not in the catalogue: casino"),
    (('sites = ["gov"]', 'sites = ["gov", "gov"]'), "a site is listed twice"),
    (('title = "GOV.UK"\n', ''), "wing.toml:9: sites.gov.title: "),
])
def test_catalogue_mistakes_name_the_line(change: tuple[str, str], says: str) -> None:
    text = BASE.replace('    "HOSTS_HERE",\n', "").replace(*change)
    with pytest.raises(PolicyFileError) as caught:
        parse_rules(text, source="wing.toml")
    assert says in str(caught.value)

"""On a tablet of prisoner accounts, what the shell offers follows the person signed in
(docs/prisoners-tablet.md): the Web app lists their profile's sites and their own grants (carried
in their occupant entry), never the tablet's, and nothing with nobody signed in; the app tiles and
the launch check follow their profile, and with nobody signed in only the always-allowed apps.
In-process agents on the real broker, their clocks set by the test."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiomqtt
import pytest

from agent.service import Agent
from agent.webproxy import WebConfig
from tests.agent.test_people import (  # noqa: F401 (observed: a fixture)
    EVENING,
    JOHN,
    Cell,
    Clocks,
    make_config,
    observed,
    occupant,
)
from tests.policy.samples import install_app, policy
from tests.support.agents import wait_until
from tests.support.broker import WingBroker
from wire.documents import DesiredState, LockOrder, SignedTime, WebGrant, device_audience
from wire.envelope import seal
from wire.localapi import LaunchReply, LaunchRequest, SignOutRequest, WebOpenRequest
from wire.policy import Profile, Site
from wire.prisoners import Occupant, Occupants
from wire.topics import WING_POLICY, WING_TIME

pytestmark = pytest.mark.timeout(120)

WING = "w1"
ADAM = "C3456DE"
DAY = 86_400_000
SITES = {
    "gov": Site(title="GOV.UK", purpose="benefits", hosts=("*.gov.uk",)),
    "jobs": Site(title="Find a job", purpose="jobs", hosts=("jobs.example",)),
    "library": Site(title="Library", purpose="education", hosts=("library.example",)),
}
BASE = policy()
PROFILES = {**BASE.profiles,
            "standard": BASE.profiles["standard"].model_copy(update={"sites": ("library",)}),
            "resettlement": Profile(apps=BASE.profiles["resettlement"].apps, sites=("gov",))}
ALWAYS = ["legal", "listener"]


def grant(grant_id: str, site: str) -> WebGrant:
    return WebGrant(id=grant_id, site=site, start=EVENING - DAY, until=EVENING + 10 * DAY)


@pytest.fixture
async def wing(broker: WingBroker) -> AsyncIterator[aiomqtt.Client]:
    async with aiomqtt.Client(broker.host, broker.port, protocol=aiomqtt.ProtocolVersion.V5,
                              tls_context=broker.context(broker.gateway_tls())) as client:
        yield client


@pytest.fixture
async def cell(tmp_path: Path, broker: WingBroker, wing: aiomqtt.Client
               ) -> AsyncIterator[Cell]:
    """A standard tablet with its Web app's forwarder running, a policy with web sites, open."""
    config = make_config(tmp_path, broker).model_copy(update={
        "web": WebConfig(gateway_host="127.0.0.1", gateway_port=9, listen_port=0)})
    install_app(config.apps_path, "music", wing=WING)
    clocks = Clocks()
    agent = Agent(config, clock=clocks.ms, monotonic=clocks.monotonic, wall=clocks.wall)
    task = asyncio.create_task(agent.run())
    cell = Cell(agent, wing, clocks)
    await wait_until(lambda: agent.connected)
    await wing.publish(WING_POLICY, seal(policy(audience=f"wing:{WING}", sites=SITES,
                                                profiles=PROFILES), cell.signer.key),
                       qos=1, retain=True)
    now = clocks.ms()
    await wing.publish(WING_TIME, cell.signer.seal(SignedTime(
        audience=f"wing:{WING}", version=now, issued=now, expires=now + 90_000)), qos=1)
    await wait_until(lambda: agent.state.curfew.state == "open" and agent.state.web.available)
    yield cell
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def desired(cell: Cell, *people: Occupant, tablet_grants: tuple[WebGrant, ...] = ()
                  ) -> None:
    """The tablet (profile standard) with its own grants and the cell's occupants."""
    cell.version += 1
    issued = EVENING - 60_000
    document = DesiredState(
        audience=device_audience("t1"), version=cell.version, issued=issued,
        expires=issued + 30 * DAY, web_grants=tablet_grants,
        lock=LockOrder(locked=False, by="officer", reason="test", since=issued),
        occupants=Occupants(people=people))
    await cell.gateway.publish("tablet/t1/desired", cell.signer.seal(document), qos=1,
                               retain=True)
    await wait_until(lambda: cell.agent.desired == document
                     and len(cell.state.occupants) == len(people) and not cell.state.locked)


def john() -> Occupant:
    return occupant(JOHN, "John S.", "482913", credential="pin", profile="resettlement",
                    web_grants=(grant("G7", "jobs"),))


def adam() -> Occupant:
    return occupant(ADAM, "Adam N.", "771203", credential="pin", profile="basic")


def sites(cell: Cell) -> list[str]:
    return [s.site for s in cell.state.web.sites]


def tiles(cell: Cell) -> list[str]:
    return sorted(a.id for a in cell.state.apps)


async def launch(cell: Cell, app: str) -> LaunchReply:
    reply = await cell.ask(LaunchRequest(op="launch", app=app))
    assert isinstance(reply, LaunchReply)
    return reply


async def test_a_tablet_without_occupants_keeps_its_own_sites_grants_and_apps(
        cell: Cell) -> None:
    await desired(cell, tablet_grants=(grant("G1", "jobs"),))

    await wait_until(lambda: sites(cell) == ["library", "jobs"])
    assert "music" in tiles(cell)


async def test_a_signed_in_person_sees_their_profiles_sites_and_grants_not_the_tablets(
        cell: Cell) -> None:
    await desired(cell, john(), adam(), tablet_grants=(grant("G1", "library"),))

    assert (await cell.sign_in(JOHN, "482913")).outcome == "ok"

    await wait_until(lambda: sites(cell) == ["gov", "jobs"])
    assert "jobsearch" in tiles(cell)
    opened = await cell.ask(WebOpenRequest(op="web", site="jobs"))
    assert isinstance(opened, LaunchReply) and opened.ok


async def test_a_basic_person_sees_no_site_not_even_a_cellmates_grant_and_fewer_apps(
        cell: Cell) -> None:
    await desired(cell, john(), adam(), tablet_grants=(grant("G1", "library"),))

    assert (await cell.sign_in(ADAM, "771203")).outcome == "ok"

    await wait_until(lambda: tiles(cell) == sorted([*ALWAYS, "canteen", "education"]))
    assert sites(cell) == []
    refused = await cell.ask(WebOpenRequest(op="web", site="jobs"))
    assert isinstance(refused, LaunchReply) and not refused.ok


async def test_with_nobody_signed_in_no_site_is_listed_and_only_always_allowed_apps(
        cell: Cell) -> None:
    await desired(cell, john(), tablet_grants=(grant("G1", "library"),))

    await wait_until(lambda: tiles(cell) == ALWAYS)
    assert sites(cell) == []
    reply = await launch(cell, "music")
    assert (reply.ok, reply.reason) == (False, "sign in to use this app")


async def test_signing_out_empties_the_web_list_and_the_profiles_apps(cell: Cell) -> None:
    await desired(cell, john())
    await cell.sign_in(JOHN, "482913")
    await wait_until(lambda: sites(cell) == ["gov", "jobs"])

    await cell.ask(SignOutRequest(op="sign_out"))

    await wait_until(lambda: sites(cell) == [] and tiles(cell) == ALWAYS)


async def test_an_app_outside_the_signed_in_persons_profile_is_refused_at_launch(
        cell: Cell) -> None:
    """The tablet's profile (standard) has music; Adam's (basic) does not."""
    await desired(cell, john(), adam())
    await cell.sign_in(ADAM, "771203")
    await wait_until(lambda: cell.state.person is not None)

    refused = await launch(cell, "music")
    assert (refused.ok, refused.reason) == (False, "not in the basic profile")

    await cell.ask(SignOutRequest(op="sign_out"))
    await cell.sign_in(JOHN, "482913")
    await wait_until(lambda: cell.state.person is not None)
    assert (await launch(cell, "music")).ok


async def test_the_shown_and_reported_profile_is_the_one_the_apps_follow(
        cell: Cell, observed: dict[str, list[dict[str, Any]]]) -> None:  # noqa: F811
    reported = observed["reported"]
    await desired(cell)  # no occupants: the tablet's own
    await wait_until(lambda: cell.state.profile == "standard")
    await desired(cell, john(), adam())  # nobody signed in: no profile's apps
    await wait_until(lambda: cell.state.profile == "")

    await cell.sign_in(ADAM, "771203")

    await wait_until(lambda: cell.state.profile == "basic")
    await wait_until(lambda: any(r.get("signed_in") == ADAM and r["profile"] == "basic"
                                 for r in reported))
    await cell.ask(SignOutRequest(op="sign_out"))
    await wait_until(lambda: cell.state.profile == "" and bool(reported)
                     and (reported[-1].get("signed_in"), reported[-1]["profile"]) == (None, ""))


def test_an_occupant_entry_carries_a_bounded_number_of_grants() -> None:
    many = tuple(grant(f"G{n}", "jobs") for n in range(9))
    with pytest.raises(ValueError):
        occupant(JOHN, "John S.", "482913", web_grants=many)



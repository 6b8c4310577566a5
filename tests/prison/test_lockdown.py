"""Prison-wide lockdown over real bridges: one command at the prison, every wing gateway verifies
it and issues its own wing lockdown, every tablet confirms, and the prison sees it. Lifting it
takes two people: the OS account that asked is refused, a second one lifts it.

The second person's approval runs the real `prison unlock approve` in this process with the OS
account it reads replaced (`prison.cli.os_account`): a throwaway OS account could not reach the
test's private store and key (tests/prison/test_lift_requests.py checks the rule itself)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator

import pytest
from click.testing import CliRunner, Result

from agent.config import AgentConfig, apply_enrolment
from agent.service import Agent
from cellbridge.fleet import fleet, wait_until
from common.staff_identity import os_account
from prison import staff_events
from prison.cli import prison
from tests.prison.rig import PrisonRig


async def approve_as(rig: PrisonRig, account: str, request_id: str,
                     monkeypatch: pytest.MonkeyPatch) -> Result:
    """`prison unlock approve ID --wait 20` as another OS account (off the event loop the
    tablets run on)."""
    monkeypatch.setattr("prison.cli.os_account", lambda uid=None: account)
    return await asyncio.to_thread(CliRunner().invoke, prison, [
        "unlock", "approve", request_id, "--wait", "20", "--config", str(rig.config_file())])


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
async def test_prison_lockdown_is_confirmed_by_every_tablet_of_every_wing(
        rig: PrisonRig, backend: str, request: pytest.FixtureRequest,
        monkeypatch: pytest.MonkeyPatch):
    if backend == "postgresql":  # the service and the CLI processes share the view through it
        rig.postgresql = request.getfixturevalue("postgres_dsn")
    async with rig.running() as agents:
        assert rig.service is not None and rig.service.store.backend.name == backend
        for wing in rig.wings:
            await rig.wait_link(wing, up=True)
        code, out = await rig.cli("lock", "--reason", "incident", "--wait", "20",
                                     "--json")
        assert code == 0, out
        result = json.loads(out)
        assert result["unconfirmed"] == {}
        assert all(a.state.locked for wing in agents.values() for a in wing)
        assert all(a.lockdown is not None and a.lockdown.lock.by.startswith("prison:P:")
                   for wing in agents.values() for a in wing)

        code, out = await rig.cli("status", "--json")
        assert code == 0, out
        view = {w["wing"]: w for w in json.loads(out)["wings"]}
        assert set(view) == {"A", "B", "C"}
        for wing in view.values():
            count = len(rig.tablets[wing["wing"]])
            assert (wing["link"], wing["tablets"], wing["online"], wing["locked"]) == (
                "up", count, count, count)
            assert wing["command_applied"] == result["command"]
            assert wing["audit_seq"] >= 2

        code, out = await rig.cli("status", "--wing", "B")
        assert code == 0, out
        assert "  B-01: online, locked, curfew" in out and "  A-01" not in out

        code, out = await rig.cli("unlock", "--reason", "all clear", "--json")
        assert code == 0, out
        asked = json.loads(out)["awaiting_approval"]
        assert asked["requested_by"] == f"os:{os_account()}"
        code, out = await rig.cli("unlock", "approve", asked["id"])
        assert (code, out) == (2, "Error: a second, different person must approve this\n")
        assert all(a.state.locked for wing in agents.values() for a in wing)

        approved = await approve_as(rig, "second-officer", asked["id"], monkeypatch)
        assert approved.exit_code == 0, approved.output
        assert f"lifted by os:{os_account()}+os:second-officer" in approved.output
        assert "wing A: confirmed" in approved.output
        await wait_until(lambda: not any(a.state.locked for w in agents.values() for a in w), 10)
        # The CLI's actions are staff events, as the console's are; the refusal one of them.
        me = f"os:{os_account()}"
        assert [(e.actor, e.action) for e in reversed(staff_events.newest(rig.service.store))] == [
            (me, "prison_lock"), (me, "prison_unlock_request"), (me, "prison_unlock_refused"),
            ("os:second-officer", "prison_unlock_approve")]

        # Each wing's trail as the prison received it holds together, hash by hash.
        code, out = await rig.cli("audit", "--verify")
        assert code == 0, out
        assert out.count("chain verifies") == 3, out


async def test_tablets_of_several_wings_in_one_fleet_each_trust_their_own_wings_key(
        rig: PrisonRig) -> None:
    """One `fleet` (as a benchmark's child process runs it) holding every wing's tablets: each
    verifies its own wing's signed lockdown, not the first tablet's wing's key for all."""
    together: list[Agent] = []

    @contextlib.asynccontextmanager
    async def one_fleet(configs: list[AgentConfig]) -> AsyncIterator[None]:
        async with fleet([apply_enrolment(c) for c in configs]) as agents:
            together.extend(agents)
            await wait_until(lambda: all(a.connected for a in agents), 30)
            yield

    async with rig.running(tablets=one_fleet):
        assert {a.config.wing for a in together} == {"A", "B", "C"}
        for wing in rig.wings:
            await rig.wait_link(wing, up=True)
        code, out = await rig.cli("lock", "--reason", "incident", "--wait", "20", "--json")
        assert code == 0, out
        assert json.loads(out)["unconfirmed"] == {}
        assert all(a.state.locked for a in together)

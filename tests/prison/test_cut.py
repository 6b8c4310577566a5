"""A wing cut off from the prison carries on alone, and the prison catches up on reconnect:
what its tablets reported and its audit trail arrive with nothing lost, and a prison command
issued during the cut is applied after it."""

from __future__ import annotations

import asyncio

from cellbridge.fleet import wait_until
from gateway.desired import LockRequest
from gateway.fleet import Selector
from prison.commands import issue_lockdown
from prison.view import pending
from tests.prison.rig import PrisonRig
from wire.envelope import private_key_from_pem


async def test_a_cut_wing_carries_on_and_the_prison_view_converges_after(rig: PrisonRig):
    async with rig.running() as agents:
        for wing in rig.wings:
            await rig.wait_link(wing, up=True)
        service, gateway = rig.service, rig.gateways["B"]
        assert service is not None
        store = service.store

        rig.relays["B"].cut()
        await rig.wait_link("B", up=False)

        # Inside wing B, alone: a tablet locked and unlocked again, a landing locked.
        b01 = Selector(devices=("B-01",))
        outcome = await gateway.lock(b01, LockRequest(True, "officer", "search"), wait_s=10)
        assert outcome.pending == []
        outcome = await gateway.lock(b01, LockRequest(False, "officer", "done"), wait_s=10)
        assert outcome.pending == []
        outcome = await gateway.lock(Selector(devices=("B-02", "B-03")),
                                     LockRequest(True, "officer", "fight"), wait_s=10)
        assert outcome.pending == []

        # The prison locks down meanwhile: A and C confirm, B cannot hear it yet.
        code, out = await rig.cli("lock", "--reason", "incident", "--wait", "8")
        assert code == 3, out
        assert "wing A: confirmed" in out and "wing C: confirmed" in out
        assert "wing B: not confirmed: wing: has not applied command 1 (link down since" in out
        command = store.latest_command()
        assert command is not None and command.version == 1
        assert not any(a.state.locked for a in agents["B"] if a.config.device_id == "B-01")

        rig.relays["B"].restore()
        await rig.wait_link("B", up=True, timeout=30)
        await wait_until(lambda: pending(store, rig.wings, command.version) == {}, 30)
        assert all(a.state.locked for a in agents["B"])

        # The prison's copy of B's audit trail is the trail itself: every entry, in order.
        async def trail_matches() -> bool:
            entries = await gateway.audit_entries(None)
            held = list(store.audit_entries("B"))
            return [(e.seq, e.hash) for e in entries] == [(e.seq, e.hash) for e in held]

        for _ in range(100):
            if await trail_matches():
                break
            await asyncio.sleep(0.1)
        assert await trail_matches()
        actions = [e.action for e in store.audit_entries("B")]
        assert actions.count("lock") == 3 and actions.count("unlock") == 1

        # And each tablet as it last reported, as the gateway holds it.
        rows = {r.device: r for r in store.tablets("B")}
        for device, report in gateway.reported.items():
            assert rows[device].lockdown_version == report.lockdown_version
            assert rows[device].locked == report.lock.locked


async def test_what_the_prison_lost_comes_back_from_the_wing_on_reconnect(rig: PrisonRig):
    async with rig.running():
        for wing in rig.wings:
            await rig.wait_link(wing, up=True)
        assert rig.service is not None
        store = rig.service.store
        await wait_until(lambda: len(store.tablets("C")) == len(rig.tablets["C"]) and store.audit_head("C")[0] > 0,
                         20)
        rig.relays["C"].cut()
        await rig.wait_link("C", up=False)
        # As if the queues had overflowed during a long cut: the prison's copy of wing C is gone.
        store.execute("DELETE FROM tablets WHERE wing = 'C'")
        store.execute("DELETE FROM audit WHERE wing = 'C'")
        rig.relays["C"].restore()
        await rig.wait_link("C", up=True, timeout=30)
        gateway = rig.gateways["C"]
        entries = await gateway.audit_entries(None)
        await wait_until(lambda: store.audit_head("C")[0] >= entries[-1].seq, 20)
        await wait_until(lambda: len(store.tablets("C")) == len(rig.tablets["C"]), 20)
        rows = {r.device: r for r in store.tablets("C")}
        for device, report in gateway.reported.items():
            assert rows[device].lockdown_version == report.lockdown_version
            assert rows[device].online


async def test_the_prison_broker_killed_and_restarted_loses_no_command(rig: PrisonRig):
    async with rig.running() as agents:
        for wing in rig.wings:
            await rig.wait_link(wing, up=True)
        assert rig.service is not None and rig.prison_broker is not None
        store = rig.service.store
        rig.prison_broker.kill()  # SIGKILL: its persistence since the last autosave is gone
        await wait_until(lambda: not rig.service.connected.is_set(), 20)  # type: ignore[union-attr]
        key = private_key_from_pem(rig.service_config().signing_key.read_bytes())
        command = issue_lockdown(store, key, "P", locked=True, by="control", reason="riot",
                                 now_ms=rig.gateways["A"].clock(), ttl_s=3600)
        rig.prison_broker.start()
        await wait_until(lambda: pending(store, rig.wings, command.version) == {}, 40)
        assert all(a.state.locked for wing in agents.values() for a in wing)


async def test_a_command_that_expired_during_the_cut_is_refused_and_named(rig: PrisonRig):
    async with rig.running() as agents:
        for wing in rig.wings:
            await rig.wait_link(wing, up=True)
        assert rig.service is not None
        store = rig.service.store
        rig.relays["A"].cut()
        await rig.wait_link("A", up=False)
        key = private_key_from_pem(rig.service_config().signing_key.read_bytes())
        command = issue_lockdown(store, key, "P", locked=True, by="control", reason="brief",
                                 now_ms=rig.gateways["B"].clock(), ttl_s=2)
        await wait_until(lambda: set(pending(store, rig.wings, command.version)) == {"A"},
                         20)
        await asyncio.sleep(2.5)  # A's link stays down past the command's expiry
        rig.relays["A"].restore()
        await rig.wait_link("A", up=True, timeout=30)
        await wait_until(lambda: "refused" in pending(
            store, rig.wings, command.version).get("A", [""])[0], 20)
        assert pending(store, rig.wings, command.version)["A"][0].startswith(
            f"wing: refused command {command.version} (expired:")
        assert not any(a.state.locked for a in agents["A"])
        assert all(a.state.locked for a in agents["B"])

"""The rollouts page (IT): start a rollout from the console, see it by stage and counts."""

from __future__ import annotations

import httpx

from gateway.console.rights import Role
from gateway.console.web import Console
from tests.console.conftest import make_staff, sign_in


async def test_it_starts_a_rollout_and_sees_its_counts(client: httpx.AsyncClient,
                                                       console: Console) -> None:
    await sign_in(client, console, make_staff(console, "ivy", Role.IT))
    started = await client.post("/rollouts.json", data={
        "rollout_id": "os-1.2", "target": "os/cellbridge-1.2.raucb", "version": "1.2",
        "canary": ["T1"], "rest_wing": "true"})
    assert started.status_code == 200, started.text
    assert started.json()["stage"] == "canary" and started.json()["by"] == "ivy"
    status = (await client.get("/rollouts.json")).json()
    rollout = status["rollouts"][0]
    assert (rollout["id"], rollout["canary"], rollout["rest"]) == ("os-1.2", ["T1"],
                                                                  ["T2", "T3", "T4"])
    assert rollout["counts"]["not_reached"] == 3
    offered = {t["id"]: t["desired"] for t in status["tablets"]}
    assert offered["T1"]["version"] == "1.2" and offered["T2"] is None
    audit = [(e.actor, e.action) for e in console.service.store.audit_entries()]
    assert ("staff:ivy", "update") in audit
    twice = await client.post("/rollouts.json", data={
        "rollout_id": "os-1.2", "target": "os/cellbridge-1.2.raucb", "version": "1.2",
        "canary": ["T1"]})
    assert twice.status_code == 422
    unknown = await client.post("/rollouts.json", data={
        "rollout_id": "x", "target": "os/x.raucb", "version": "1", "canary": ["NOPE"]})
    assert unknown.status_code == 404
    assert "os-1.2" in (await client.get("/rollouts")).text

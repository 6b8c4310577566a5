"""The rollouts page (IT): start a rollout from the console, see it by stage and counts."""

from __future__ import annotations

import httpx

from common.staff_web.roles import Role
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


async def _started(client: httpx.AsyncClient, console: Console) -> None:
    await sign_in(client, console, make_staff(console, "ivy", Role.IT))
    started = await client.post("/rollouts.json", data={
        "rollout_id": "os-1.2", "target": "os/cellbridge-1.2.raucb", "version": "1.2",
        "canary": ["T1"], "rest_wing": "true"})
    assert started.status_code == 200, started.text


async def test_rollout_progress_is_counted_per_cohort(client: httpx.AsyncClient,
                                                      console: Console) -> None:
    await _started(client, console)
    rollout = (await client.get("/rollouts.json")).json()["rollouts"][0]
    assert rollout["cohorts"]["canary"] == {"tablets": 1, "waiting": 1, "in_progress": 0,
                                            "succeeded": 0, "failed": 0, "not_reached": 0}
    assert rollout["cohorts"]["rest"]["tablets"] == 3
    assert rollout["cohorts"]["rest"]["not_reached"] == 3


async def test_it_pauses_resumes_and_cancels_a_rollout_audited_as_the_account(
        client: httpx.AsyncClient, console: Console) -> None:
    await _started(client, console)
    paused = await client.post("/rollouts/pause.json",
                               data={"rollout_id": "os-1.2", "reason": "night shift"})
    assert paused.status_code == 200, paused.text
    assert paused.json()["paused"] is True
    again = await client.post("/rollouts/pause.json", data={"rollout_id": "os-1.2"})
    assert again.status_code == 409
    resumed = await client.post("/rollouts/pause.json",
                                data={"rollout_id": "os-1.2", "resume": "true"})
    assert resumed.status_code == 200 and resumed.json()["paused"] is False
    cancelled = await client.post("/rollouts/cancel.json",
                                  data={"rollout_id": "os-1.2", "reason": "bad build"})
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["stage"] == "cancelled"
    assert "cancelled by ivy: bad build" in cancelled.json()["reason"]
    entries = {(e.actor, e.action): e.detail for e in console.service.store.audit_entries()}
    assert entries[("staff:ivy", "rollout_paused")]["reason"] == "night shift"
    assert ("staff:ivy", "rollout_resumed") in entries
    assert ("staff:ivy", "rollout_cancelled") in entries
    # the offer to the canary (not started) is withdrawn
    offered = {t["id"]: t["desired"] for t in (await client.get("/rollouts.json")).json()[
        "tablets"]}
    assert offered["T1"] is None


async def test_cancelling_an_unknown_or_ended_rollout_is_refused_and_audited(
        client: httpx.AsyncClient, console: Console) -> None:
    await _started(client, console)
    unknown = await client.post("/rollouts/cancel.json", data={"rollout_id": "nope"})
    assert unknown.status_code == 404
    assert (await client.post("/rollouts/cancel.json",
                              data={"rollout_id": "os-1.2"})).status_code == 200
    ended = await client.post("/rollouts/cancel.json", data={"rollout_id": "os-1.2"})
    assert ended.status_code == 409 and "already cancelled" in ended.json()["detail"]
    refused = [e for e in console.service.store.audit_entries()
               if e.action == "rollout_refused"]
    assert [e.actor for e in refused] == ["staff:ivy", "staff:ivy"]


async def test_an_officer_cannot_cancel_a_rollout(client: httpx.AsyncClient,
                                                  console: Console) -> None:
    await sign_in(client, console, make_staff(console, "olly", Role.OFFICER))
    refused = await client.post("/rollouts/cancel.json", data={"rollout_id": "os-1.2"})
    assert refused.status_code == 403

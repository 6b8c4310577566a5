"""Requests end to end, over mutual TLS: the shell's socket → agent process (outbox) → broker →
gateway process → staff CLI, and staff's reply back to the tablet; with the broker down while the
prisoner writes, and the agent killed at the worst moment."""

from __future__ import annotations

import json
import os
import pwd
import sqlite3
import time

from tests.support.requests import submit


def listed(wing, count: int, timeout: float = 60.0) -> list[dict]:
    deadline = time.monotonic() + timeout
    while True:
        result = wing.staff("requests", "list", "--json")
        assert result.returncode == 0, result.stderr
        rows = json.loads(result.stdout)
        if len(rows) >= count or time.monotonic() > deadline:
            return rows
        time.sleep(0.2)


def test_a_request_written_offline_is_delivered_exactly_once_and_the_reply_shows_up(make_wing):
    wing = make_wing(1)
    (agent,) = wing.start_agents("T-0001")
    wing.broker.stop()
    agent.wait_for(lambda s: not s.connected)

    saved = submit(agent.socket_path, "healthcare", "I need to see the nurse about my tooth")
    assert saved.ok
    assert agent.state().requests[0].status == "waiting"
    wing.broker.start()
    agent.wait_for(lambda s: s.requests[0].status == "delivered", timeout=60)

    # Killed after sending but before it could note the PUBACK: the outbox still says waiting,
    # so the restarted agent sends the request again. Staff still see one request.
    agent.kill()
    with sqlite3.connect(agent.state_dir / "requests.db") as db:
        db.execute("UPDATE requests SET delivered = 0")
    agent.start()
    agent.wait_for(lambda s: s.connected and s.requests[0].status == "delivered", timeout=60)
    second = submit(agent.socket_path, "general", "A second request, after the copy")
    assert second.ok
    rows = listed(wing, 2)
    assert sorted(r["id"] for r in rows) == sorted([saved.id, second.id])
    first = next(r for r in rows if r["id"] == saved.id)
    assert (first["device"], first["type"], first["copies"]) == ("T-0001", "healthcare", 1)
    assert first["text"] == "I need to see the nurse about my tooth"

    reply = wing.staff("requests", "reply", saved.id, "--text", "Dentist on Thursday",
                       "--by", "nurse.a")

    assert reply.returncode == 0, reply.stderr
    state = agent.wait_for(
        lambda s: any(r.id == saved.id and r.status == "answered" for r in s.requests),
        timeout=30)
    answered = next(r for r in state.requests if r.id == saved.id)
    me = pwd.getpwuid(os.getuid()).pw_name  # the account that ran the CLI; --by beside it
    assert (answered.reply, answered.reply_by) == ("Dentist on Thursday", f"os:{me} (nurse.a)")


def test_a_reply_sent_while_the_tablet_is_off_arrives_when_it_comes_back(make_wing):
    wing = make_wing(1)
    (agent,) = wing.start_agents("T-0001")
    saved = submit(agent.socket_path, "visits", "Can my sister visit on Saturday?")
    [row] = listed(wing, 1)
    assert row["id"] == saved.id
    agent.stop()

    reply = wing.staff("requests", "reply", saved.id, "--text", "Yes, 2pm")
    assert reply.returncode == 0, reply.stderr
    agent.start()

    state = agent.wait_for(lambda s: s.requests[0].status == "answered", timeout=60)
    assert state.requests[0].reply == "Yes, 2pm"
    deadline = time.monotonic() + 30
    while not listed(wing, 1)[0]["reply_delivered"]:
        assert time.monotonic() < deadline, "the tablet's acknowledgement never reached staff"
        time.sleep(0.2)
    text = wing.staff("requests", "list").stdout
    assert saved.id in text and "Yes, 2pm" in text and "(delivered)" in text

"""The gateway as a process: it stops cleanly, restarts from its record, and its audit trail
is checked end to end through `staff audit --verify`."""

from __future__ import annotations

import grp
import json
import os
import pwd
import sqlite3
import subprocess
import sys

import pytest

from tests.support.gateway import REPO_ROOT

# A hang is a failure, reported well before the suite's own limit.
pytestmark = pytest.mark.timeout(90)

ME = pwd.getpwuid(os.getuid()).pw_name
"""The OS account the tests run the staff CLI as: what the audit records (not `--by`)."""


def test_sigterm_stops_the_gateway_cleanly_and_removes_its_socket(gateway):
    assert gateway.stop() == 0
    assert not gateway.api_socket.exists()


def test_a_restarted_gateway_continues_the_versions_it_issued(gateway):
    # Version 1 is the first desired state the gateway issued T1 when it was registered.
    assert gateway.staff_json("lock", "--device", "T1", "--reason", "a")["version"] == 2
    gateway.stop()
    gateway.start()
    assert gateway.staff_json("lock", "--device", "T1", "--reason", "b")["version"] == 3


def test_a_gateway_killed_with_sigkill_restarts_over_its_stale_socket(gateway):
    assert gateway.staff_json("lock", "--wing", "--reason", "a")["version"] == 1
    gateway.kill()
    assert gateway.api_socket.exists()
    gateway.start()
    assert gateway.staff_json("lock", "--wing", "--reason", "b")["version"] == 2


def test_the_api_socket_is_only_for_owner_and_group(make_gateway):
    own_group = grp.getgrgid(os.getgid()).gr_name
    gateway = make_gateway(api_group=own_group)
    assert gateway.api_socket.stat().st_mode & 0o777 == 0o660


def test_audit_verify_exits_0_on_an_intact_trail_and_1_naming_a_tampered_entry(gateway):
    gateway.cli("lock", "--device", "T1", "--reason", "search")
    gateway.cli("unlock", "--device", "T1", "--reason", "done")
    intact = gateway.cli("audit", "--verify")
    assert intact.returncode == 0
    assert "audit chain intact: 4 entries" in intact.stdout  # register, first_desired, 2 staff

    with sqlite3.connect(gateway.state_dir / "gateway.db") as raw:
        raw.execute("UPDATE audit SET detail = '{\"reason\":\"nothing\"}' WHERE seq = 2")
    tampered = gateway.cli("audit", "--verify", "--json")
    assert tampered.returncode == 1
    assert json.loads(tampered.stdout)["verify"]["broken_at"] == 2
    assert tampered.stderr == (
        "Error: audit chain broken at entry 2: contents do not match its hash\n"
    )


def test_every_staff_action_is_in_the_audit_trail_including_refused_ones(gateway):
    gateway.cli("lock", "--device", "T1", "--reason", "search", "--by", "officer.smith")
    gateway.cli("lock", "--device", "NOPE", "--reason", "search", "--by", "officer.smith")
    entries = [e for e in gateway.staff_json("audit")["entries"]
               if e["actor"].startswith("staff:")]
    assert [(e["actor"], e["action"], e["target"]) for e in entries] == [
        (f"staff:os:{ME} (officer.smith)", "lock", "devices:T1"),
        (f"staff:os:{ME} (officer.smith)", "lock_refused", "devices:NOPE"),
    ]
    assert entries[0]["detail"]["reason"] == "search"


def test_a_bad_config_file_fails_with_one_line(tmp_path):
    config = tmp_path / "gateway.toml"
    config.write_text('wing = "A"\nstate_dir = "/tmp/x"\n')
    result = subprocess.run(
        [sys.executable, "-m", "cellbridge", "gateway", "run", "--config", str(config)],
        capture_output=True, text=True, cwd=REPO_ROOT, timeout=60,
    )
    assert result.returncode != 0
    assert result.stderr.strip().count("\n") == 0
    assert "signing_key" in result.stderr


async def test_the_gateway_runs_in_a_callers_event_loop_and_stops_when_told(tmp_path, broker):
    import asyncio

    import httpx

    from common.config import load
    from gateway.cli import serve
    from gateway.config import GatewayConfig
    from tests.support.gateway import Gateway

    files = Gateway(
        tmp_path / "gw", broker.host, broker.port, tablets=[("T1", "C1", "L1")],
        tls=broker.gateway_tls(),
    )
    config = load(GatewayConfig, files.config_path)
    stop = asyncio.Event()
    running = asyncio.create_task(serve(config, stop))
    transport = httpx.AsyncHTTPTransport(uds=str(config.api_socket))
    async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
        async with asyncio.timeout(20):
            while not config.api_socket.exists():
                await asyncio.sleep(0.05)
        answer = await client.post("/v1/lock", json={"devices": ["T1"], "locked": True,
                                                      "reason": "search", "by": "officer"})
    assert answer.status_code == 200 and answer.json()["targets"] == ["T1"]
    stop.set()
    await asyncio.wait_for(running, 20)
    assert not config.api_socket.exists()


async def test_sigterm_during_a_waiting_lock_still_stops_the_gateway_cleanly(gateway):
    import asyncio

    waiting = asyncio.create_task(
        gateway.astaff("lock", "--device", "T1", "--reason", "x", "--wait", "300")
    )
    await asyncio.sleep(1.0)  # let the request reach the gateway; no assertion depends on it
    assert await asyncio.to_thread(gateway.stop) == 0
    result = await waiting
    assert result.returncode in (1, 3)
    assert result.stderr.count("\n") == 1

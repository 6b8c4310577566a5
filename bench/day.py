"""A wing's day at the gateway: what it costs in CPU and how much its database grows.

A swarm of raw MQTT clients (one per simulated tablet, in this process) says what tablets say
over a day, compressed: a birth (`online` + `reported`) each, telemetry every simulated minute,
two curfew transitions (every tablet reports its new `curfew`), a policy change (staff applies
a policy through the API; every tablet reports its hash) and 100 requests (half answered by
staff). The gateway is the real `cellbridge gateway run` on the same machine; its CPU seconds
and the database's size are read before and after. Telemetry does not touch the database
(it only moves a tablet's in-memory "last seen"), so `--minutes` simulated minutes of it are
measured and scaled to 1,440; the floor is the broker's own CPU for the same traffic.

Growth per day is the database after the day minus after the births; a year is projected both
without and with `cellbridge gateway compact --keep-days 90` (gateway.retention).

    python -m bench.day [--tablets 2000] [--minutes 30]
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import shutil
import sqlite3
import tempfile
import time
from pathlib import Path

import click
import httpx

from bench.floor import connect_all, raw_client
from bench.idle import sample
from bench.stats import Row
from cellbridge.wing import LocalWing
from gateway.policy_file import load_rules
from wire import topics
from wire.documents import LockView, ReportedState, Status
from wire.requests import Request
from wire.topics import TabletChannel

EXAMPLE = Path(__file__).parents[1] / "gateway" / "policies" / "example.toml"
DAY_MINUTES = 1440
REQUESTS = 100
KEEP_DAYS = 90


def _report(device: str, boot: str, curfew: str, policy_hash: str = "") -> bytes:
    return ReportedState(
        device=device, desired_version=0, lockdown_version=0, lock=LockView(locked=False),
        profile="standard", at=int(time.time() * 1000), boot_id=boot, agent_version="bench",
        policy_hash=policy_hash, curfew=curfew,  # type: ignore[arg-type]
    ).model_dump_json().encode()


def _db_bytes(state_dir: Path) -> int:
    """The database's size once its WAL is folded in (what a backup or a disk holds)."""
    database = state_dir / "gateway.db"
    with contextlib.closing(sqlite3.connect(database)) as connection:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return sum(p.stat().st_size for p in state_dir.glob("gateway.db*"))


class Swarm:
    def __init__(self, wing: LocalWing) -> None:
        assert wing.broker is not None
        self.ids = wing.tablets
        self.clients = {d: raw_client(wing.broker, d) for d in self.ids}
        self.boot = {d: secrets.token_hex(8) for d in self.ids}

    async def everyone(self, channel: TabletChannel, payload: dict[str, bytes], *,
                       qos: int = 1, retain: bool = False) -> None:
        await asyncio.gather(*(
            self.clients[d].publish(topics.tablet(d, channel), payload[d], qos=qos, retain=retain)
            for d in payload))

    async def births(self) -> None:
        now = int(time.time() * 1000)
        await self.everyone(TabletChannel.STATUS, {
            d: Status(state="online", boot_id=self.boot[d], at=now).model_dump_json().encode()
            for d in self.ids}, retain=True)
        await self.reports("open")

    async def reports(self, curfew: str, policy_hash: str = "") -> None:
        await self.everyone(TabletChannel.REPORTED, {
            d: _report(d, self.boot[d], curfew, policy_hash) for d in self.ids}, retain=True)

    async def telemetry(self, minute: int) -> None:
        body = {d: json.dumps({"minute": minute, "battery": 80, "uptime_s": minute * 60}).encode()
                for d in self.ids}
        await self.everyone(TabletChannel.TELEMETRY, body, qos=0)

    async def requests(self, count: int) -> None:
        for index in range(count):
            device = self.ids[index * len(self.ids) // count]
            request = Request(id=secrets.token_hex(16), type="general",
                              text=f"request {index}", created=int(time.time() * 1000))
            await self.clients[device].publish(topics.tablet(device, TabletChannel.REQUEST),
                                               request.model_dump_json().encode(), qos=1)


async def _day(wing: LocalWing, minutes: int) -> dict[str, float]:
    assert wing.gateway is not None and wing.broker is not None and wing.broker.process
    gateway, broker = wing.gateway.pid, wing.broker.process.pid
    state_dir = wing.root / "gateway" / "state"
    swarm = Swarm(wing)
    found: dict[str, float] = {}
    transport = httpx.AsyncHTTPTransport(uds=str(wing.gateway_api))
    async with (
        contextlib.AsyncExitStack() as stack,
        httpx.AsyncClient(transport=transport, base_url="http://gateway", timeout=120) as api,
    ):
        await connect_all(list(swarm.clients.values()), stack)
        await swarm.births()
        await asyncio.sleep(2.0)
        found["db_after_births"] = _db_bytes(state_dir)
        g0, b0 = sample(gateway), sample(broker)
        started = time.perf_counter()
        for minute in range(minutes):
            await swarm.telemetry(minute)
        await asyncio.sleep(1.0)
        g1, b1 = sample(gateway), sample(broker)
        found["telemetry_s"] = time.perf_counter() - started
        found["telemetry_gateway_cpu"] = g1.cpu_s - g0.cpu_s
        found["telemetry_broker_cpu"] = b1.cpu_s - b0.cpu_s
        # The day's events: curfew starts and ends, a new policy, requests and replies.
        await swarm.reports("curfew")
        applied = (await api.post("/v1/policy", json={
            "rules": load_rules(EXAMPLE), "by": "bench"})).json()
        policy_hash = applied.get("hash", "") if isinstance(applied, dict) else ""
        await swarm.reports("curfew", policy_hash if len(policy_hash) == 64 else "")
        await swarm.requests(REQUESTS)
        await asyncio.sleep(2.0)
        listing = (await api.get("/v1/requests")).json()
        for request in listing[: REQUESTS // 2]:
            await api.post(f"/v1/requests/{request['id']}/reply",
                           json={"text": "noted", "by": "bench"})
        await swarm.reports("open", policy_hash if len(policy_hash) == 64 else "")
        await asyncio.sleep(3.0)
        g2, b2 = sample(gateway), sample(broker)
        found["events_gateway_cpu"] = g2.cpu_s - g1.cpu_s
        found["events_broker_cpu"] = b2.cpu_s - b1.cpu_s
        found["gateway_rss_mib"] = g2.rss_kib / 1024
        found["requests_seen"] = len(listing)
    found["db_after_day"] = _db_bytes(state_dir)
    with contextlib.closing(sqlite3.connect(state_dir / "gateway.db")) as connection:
        found["audit_rows"] = connection.execute("SELECT COUNT(*) FROM audit").fetchone()[0]
    return found


def run(tablets: int = 2000, minutes: int = 30) -> list[Row]:
    root = Path(tempfile.mkdtemp(prefix="cellbridge-day-"))
    wing = LocalWing(root / "wing", tablets, tls=False)
    try:
        wing.start_broker()
        wing.start_gateway(timeout=120)
        load = os.getloadavg()[0]
        found = asyncio.run(_day(wing, minutes))
    finally:
        wing.stop()
        shutil.rmtree(root, ignore_errors=True)
    scale = DAY_MINUTES / minutes
    gateway_day = found["telemetry_gateway_cpu"] * scale + found["events_gateway_cpu"]
    broker_day = found["telemetry_broker_cpu"] * scale + found["events_broker_cpu"]
    messages = tablets * minutes
    growth = found["db_after_day"] - found["db_after_births"]
    base = found["db_after_births"]
    kib, mib = 1024, 1024 * 1024
    label = f"gateway day, {tablets} tablets"
    return [
        Row(label, f"gateway CPU per day (telemetry {minutes} min ×{scale:.0f}, load {load:.1f})",
            f"{gateway_day:.0f} s ({gateway_day / 864:.2f}% of a core)",
            f"broker {broker_day:.0f} s", f"{gateway_day / broker_day:.1f}×" if broker_day else "-",
            "< 5% of a core"),
        Row(label, "gateway CPU per telemetry message",
            f"{found['telemetry_gateway_cpu'] / messages * 1e6:.0f} µs",
            f"broker {found['telemetry_broker_cpu'] / messages * 1e6:.0f} µs", "-", ""),
        Row(label, "gateway CPU for the day's events (2 curfews, policy, 100 requests)",
            f"{found['events_gateway_cpu']:.1f} s", f"broker {found['events_broker_cpu']:.1f} s",
            "-", ""),
        Row(label, "database after births / growth per day",
            f"{base / mib:.1f} MiB / {growth / kib:.0f} KiB ({found['audit_rows']:.0f} audit rows)",
            "-", "-", ""),
        Row(label, f"database after a year: as is / compacted (keep {KEEP_DAYS} days)",
            f"{(base + 365 * growth) / mib:.0f} MiB / {(base + KEEP_DAYS * growth) / mib:.0f} MiB",
            "-", "-", "fits the gateway's disk"),
        Row(label, "gateway RSS after the day", f"{found['gateway_rss_mib']:.0f} MiB", "-", "-",
            ""),
    ]


@click.command()
@click.option("--tablets", default=2000, show_default=True)
@click.option("--minutes", default=30, show_default=True,
              help="Simulated minutes of telemetry measured (scaled to a day).")
def main(tablets: int, minutes: int) -> None:
    """Print the gateway-day rows."""
    from bench.stats import markdown

    click.echo(markdown(run(tablets, minutes)))


if __name__ == "__main__":
    main()

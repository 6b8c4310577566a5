"""Fuzz: every inbound topic at a real gateway process, from a tablet with a real certificate.

Each payload is a structured mutation of a valid document (tests/fuzz/mutations.py), invalid by
construction. The gateway must refuse every one (its log names each refusal), never fail on one
(no "error handling a message"), audit them rate-limited (a handful of entries, not one per
message), record none of them, and keep serving: a lock right after the flood is confirmed.
"""

from __future__ import annotations

import random

import pytest

from tests.fuzz.campaign import EXAMPLES, TALLY
from tests.fuzz.mutations import KINDS, mutate
from wire.documents import Ack, LockView, ReportedState, Status
from wire.requests import Request
from wire.topics import TabletChannel

pytestmark = pytest.mark.timeout(240)

TEMPLATES = {
    TabletChannel.REPORTED: (ReportedState(
        device="T1", desired_version=1, lockdown_version=0, lock=LockView(locked=False),
        profile="standard", at=1, boot_id="boot-1", agent_version="1.0", policy_hash="",
    ), ReportedState.MAX_BYTES),
    TabletChannel.STATUS: (Status(state="online", boot_id="boot-1", at=1), Status.MAX_BYTES),
    TabletChannel.ACK: (Ack(ref="desired/1", state="rejected", reason="r", at=1), Ack.MAX_BYTES),
    TabletChannel.REQUEST: (Request(id="0" * 32, type="general", text="hello", created=1),
                            Request.MAX_BYTES),
}
ROUND = 300
TELEMETRY_GARBAGE = [b"[]", b"1", b'"x"', b"null", b"\xff\xfe", b"{" * 3000, b"[" * 100_000,
                     b"{" + b" " * 70_000 + b"}", b"", b"NaN"]


def payloads(seed: int, per_channel: int) -> list[tuple[TabletChannel, str, bytes]]:
    rng = random.Random(seed)
    found = []
    for channel, (template, cap) in TEMPLATES.items():
        tree = template.model_dump(mode="json")
        required = [n for n, f in type(template).model_fields.items() if f.is_required()]
        for index in range(per_channel):
            kind, payload = mutate(tree, required, cap, rng, KINDS[index % len(KINDS)])
            found.append((channel, kind, payload))
    found += [(TabletChannel.TELEMETRY, "garbage", p) for p in TELEMETRY_GARBAGE]
    return found


async def test_hostile_payloads_on_every_inbound_topic_are_refused_and_the_gateway_serves_on(
    gateway, peer
):
    sent = payloads(seed=20261206, per_channel=max(16, EXAMPLES // 2))
    before = gateway.staff_json("status")["tablets"]
    # In rounds, each on a fresh connection: a long flood from one client can outlast the
    # broker's keepalive on a loaded machine, which is the broker's business, not the gateway's.
    for start in range(0, len(sent), ROUND):
        async with peer("T1") as tablet:
            await tablet.birth()
            for channel, _kind, payload in sent[start:start + ROUND]:
                await tablet.publish(channel, payload)
    async with peer("T1"):
        result = await gateway.astaff("lock", "--device", "T1", "--reason", "after the flood",
                                      "--wait", "30")
        assert result.returncode == 0, result.stderr + gateway.log()[-1500:]
    log = gateway.log_path.read_text(errors="replace")
    crashes = log.count("error handling a message")
    refused = log.count("from T1:")
    for _ in sent:
        TALLY.case("gateway: inbound topics")
    for _ in range(crashes):
        TALLY.crash("gateway: inbound topics")
    for _ in range(max(0, len(sent) - refused)):
        TALLY.fail_open("gateway: inbound topics")
    assert crashes == 0, log[-3000:]
    assert refused == len(sent), f"{refused} of {len(sent)} refused"
    audited = [e for e in gateway.staff_json("audit")["entries"]
               if e["action"] == "invalid_message"]
    # rate-limited: one entry per kind of refusal per window, far fewer than the messages
    assert 0 < len(audited) <= max(5 * len(KINDS) + 10, len(sent) // 10), len(audited)
    after = gateway.staff_json("status")["tablets"]
    assert [t["id"] for t in after] == [t["id"] for t in before]
    t1 = next(t for t in after if t["id"] == "T1")
    assert t1["locked"] is True

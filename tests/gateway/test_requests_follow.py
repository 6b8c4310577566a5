"""A person's requests at the gateway go to the tablets of the cell they live in (docs/prisoners.md,
"What follows the person"): the tablet that holds a request gets only staff's answer, in the shape
an agent from before copies reads; another tablet of the cell gets a copy of the request. Real
gateway process, real broker, tablet peers (T1 and T2 in cell C1)."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from tests.gateway.tablet_peer import TabletPeer, now_ms
from wire import topics
from wire.documents import device_audience
from wire.envelope import Accepted, open_envelope
from wire.requests import Request, RequestReply
from wire.topics import TabletChannel

pytestmark = pytest.mark.timeout(90)

JOHN = "A1234BC"


def replies(gateway: Any, tablet: TabletPeer) -> list[dict[str, Any]]:
    """What reached `tablet` on its reply topic, as JSON bodies (each checked as signed for it)."""
    shown = []
    for received in tablet.on(topics.tablet(tablet.device, TabletChannel.REPLY)):
        verdict = open_envelope(received.payload, RequestReply,
                                trusted_keys=gateway.trusted_keys,
                                audience=device_audience(tablet.device), now_ms=now_ms())
        assert isinstance(verdict, Accepted)
        shown.append(json.loads(verdict.document.model_dump_json()))
    return shown


async def test_the_writers_tablet_gets_a_plain_reply_and_the_cells_other_tablet_a_copy(
        gateway, peer) -> None:
    added = await gateway.acli("prisoner", "add", JOHN, "--name", "John Smith", "--cell", "C1")
    assert added.returncode == 0, added.stderr
    request = Request(id=uuid.uuid4().hex, type="visits", text="Visit on Sunday",
                      created=now_ms(), person=JOHN)
    async with peer("T1") as t1, peer("T2") as t2:
        for tablet in (t1, t2):
            await tablet.client.subscribe(topics.tablet(tablet.device, TabletChannel.REPLY), qos=1)
            await tablet.wait_until(lambda t=tablet: bool(  # type: ignore[misc]
                t.desired and t.desired.occupants.people))
        await t1.publish(TabletChannel.REQUEST, request.model_dump_json().encode())
        await t2.wait_until(lambda: len(replies(gateway, t2)) == 1)

        result = await gateway.acli("requests", "reply", request.id, "--text", "Yes",
                                      "--by", "officer.k", "--json")

        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)["sent_to"] == ["T1", "T2"]
        await t1.wait_until(lambda: len(replies(gateway, t1)) == 1)
        await t2.wait_until(lambda: len(replies(gateway, t2)) == 2)
    [plain] = replies(gateway, t1)
    assert "asked" not in plain and plain["text"] == "Yes"
    copy, answered = replies(gateway, t2)
    assert (copy["text"], copy["asked"]) == (None, {"person": JOHN, "type": "visits",
                                                    "text": "Visit on Sunday",
                                                    "created": request.created})
    assert (answered["text"], answered["asked"]["person"]) == ("Yes", JOHN)

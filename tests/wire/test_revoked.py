"""`revoked.json`, the revoked tablets by id: what `provision revoke` writes the gateway reads,
and a list it cannot trust is refused with its reason (never read as "nobody revoked")."""

from __future__ import annotations

import json

import pytest

from wire.revoked import MAX_BYTES, RevokedList, RevokedListError, RevokedTablet, empty, parse

LISTED = RevokedList(wing="w1", crl_number=3, tablets=[
    RevokedTablet(tablet_id="T1", cert_serial="0a", status="revoked", reason="lost",
                  at="2030-06-01T00:00:00+00:00"),
    RevokedTablet(tablet_id="T7", cert_serial="0b", status="destroyed", reason="smashed",
                  at="2030-06-02T00:00:00+00:00"),
])


def test_a_written_list_reads_back_with_its_ids() -> None:
    assert parse(LISTED.model_dump_json().encode()) == LISTED
    assert LISTED.ids() == {"T1", "T7"}


def test_a_new_wing_lists_nobody_at_crl_number_one() -> None:
    fresh = parse(empty("w1").encode())
    assert (fresh.wing, fresh.crl_number, fresh.ids()) == ("w1", 1, frozenset())


def edited(**changes: object) -> bytes:
    data = json.loads(LISTED.model_dump_json())
    data.update(changes)
    return json.dumps(data).encode()


REFUSED: list[tuple[str, bytes, str]] = [
    ("too large", b" " * (MAX_BYTES + 1), f"revoked list larger than {MAX_BYTES} bytes"),
    ("not JSON", b"{garbage", "revoked list malformed"),
    ("no tablets", edited(tablets=None), "revoked list malformed"),
    ("an unknown field", edited(unrevoked=["T1"]), "revoked list malformed: Extra inputs"),
    ("a tablet without its id", edited(tablets=[{"cert_serial": "0a", "status": "revoked",
                                                 "reason": "lost", "at": "now"}]),
     "revoked list malformed: Field required"),
]


@pytest.mark.parametrize(("data", "reason"), [row[1:] for row in REFUSED],
                         ids=[row[0] for row in REFUSED])
def test_a_list_it_cannot_trust_is_refused_with_its_reason(data: bytes, reason: str) -> None:
    with pytest.raises(RevokedListError, match=reason) as refused:
        parse(data)
    assert "\n" not in str(refused.value)

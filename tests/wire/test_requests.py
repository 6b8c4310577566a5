"""The request documents: what a tablet may send, what staff's reply must be, and that the
shell's state still fits one protocol line with the largest requests and replies."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import ValidationError

from wire.documents import LockView
from wire.envelope import Accepted, Refused, key_id, open_envelope, seal
from wire.localapi import (
    MAX_LINE,
    MAX_SHOWN_REQUESTS,
    REQUEST_PREVIEW,
    RequestView,
    ShellState,
    StateMessage,
    encode,
    parse_request,
)
from wire.requests import MAX_TEXT, Request, RequestReply

ID = "0123456789abcdef0123456789abcdef"
GOOD = {"id": ID, "type": "complaint", "text": "The shower is cold", "created": 1}


@pytest.mark.parametrize(
    ("change", "ok"),
    [
        ({}, True),
        ({"text": "x" * MAX_TEXT}, True),
        ({"text": "x" * (MAX_TEXT + 1)}, False),
        ({"text": ""}, False),
        ({"type": "escape"}, False),
        ({"id": "not-a-uuid"}, False),
        ({"id": ID.upper()}, False),
        ({"created": -1}, False),
        ({"extra": 1}, False),
    ],
)
def test_a_request_is_accepted_only_in_its_one_shape(change, ok):
    document = {**GOOD, **change}
    if ok:
        Request.model_validate(document)
    else:
        with pytest.raises(ValidationError):
            Request.model_validate(document)


def test_a_sealed_reply_opens_only_for_its_tablet():
    key = Ed25519PrivateKey.generate()
    reply = RequestReply(audience="device:t1", version=5, issued=1000, expires=2000,
                         request=ID, text="Yes", by="officer")
    raw = seal(reply, key)
    keys = {key_id(key.public_key()): key.public_key()}
    opened = open_envelope(raw, RequestReply, trusted_keys=keys, audience="device:t1", now_ms=1500)
    assert isinstance(opened, Accepted) and opened.document == reply
    other = open_envelope(raw, RequestReply, trusted_keys=keys, audience="device:t2", now_ms=1500)
    assert isinstance(other, Refused)


def test_the_shell_state_with_the_largest_requests_fits_one_line():
    widest = "\U0001f600"  # four bytes in UTF-8
    views = tuple(
        RequestView(id=ID, type="complaint", text=widest * REQUEST_PREVIEW, created=1,
                    status="answered", reply=widest * MAX_TEXT, reply_by="x" * 120)
        for _ in range(MAX_SHOWN_REQUESTS)
    )
    state = ShellState(device="t1", locked=False, lock=LockView(locked=False), connected=True,
                       profile="standard", requests=views)
    assert len(encode(StateMessage(state=state))) < MAX_LINE - 8 * 1024  # room for the apps


def test_the_shell_asks_for_a_request_with_one_line():
    request = parse_request(b'{"op":"request","type":"visits","text":"Saturday?"}')
    assert (request.op, request.type, request.text) == ("request", "visits", "Saturday?")
    with pytest.raises(ValueError):
        parse_request(b'{"op":"request","type":"visits","text":""}')

"""The launch request and reply of the agent↔shell protocol."""

from __future__ import annotations

import pytest

from wire.documents import LockView
from wire.localapi import (
    AppTile,
    LaunchReply,
    LaunchRequest,
    ShellState,
    StateMessage,
    encode,
    parse_message,
    parse_request,
)


def test_a_launch_request_names_one_app() -> None:
    request = parse_request(b'{"op":"launch","app":"listener"}')
    assert request == LaunchRequest(op="launch", app="listener")


@pytest.mark.parametrize(
    "line",
    [
        b'{"op":"launch"}',
        b'{"op":"launch","app":"../../bin/sh"}',
        b'{"op":"launch","app":"Listener"}',
        b'{"op":"launch","app":"listener","argv":["/bin/sh"]}',
    ],
)
def test_a_launch_request_without_a_plain_app_id_is_a_protocol_error(line: bytes) -> None:
    with pytest.raises(ValueError):
        parse_request(line)


def test_a_launch_reply_round_trips_with_its_argv() -> None:
    reply = LaunchReply(app="education", ok=True, argv=("/opt/apps/education/run",))
    assert parse_message(encode(reply)) == reply


def test_a_refused_launch_reply_carries_its_reason_and_no_argv() -> None:
    reply = parse_message(b'{"type":"launch","app":"games","ok":false,"reason":"curfew"}')
    assert isinstance(reply, LaunchReply)
    assert (reply.ok, reply.reason, reply.argv) == (False, "curfew", ())


def test_a_state_with_app_tiles_round_trips() -> None:
    state = ShellState(
        device="T1",
        locked=False,
        lock=LockView(locked=False),
        connected=True,
        profile="standard",
        apps=(AppTile(id="listener", name="Listener", allowed_now=True, always_allowed=True),),
    )
    assert parse_message(encode(StateMessage(state=state))) == StateMessage(state=state)

"""Fuzz: the agent's local socket (the only way in from the unprivileged shell) and the shell's
parser of what the agent says. Hostile lines get an error (or a hang-up), never a crash, never a
launch or a stored request, and a well-behaved client on the same socket keeps being served."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent.localapi import LocalApi
from tests.fuzz.campaign import EXAMPLES, TALLY
from wire.documents import LockView
from wire.localapi import (
    MAX_LINE,
    ErrorMessage,
    LaunchReply,
    LaunchRequest,
    RequestSaved,
    ShellState,
    StateMessage,
    SubmitRequest,
    parse_message,
    parse_request,
)

STATE = ShellState(device="T1", locked=True, lock=LockView(locked=True, source="device",
                   by="officer", reason="search"), connected=True, profile="basic")

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                   max_size=4),
    max_leaves=12,
)
OPS = st.sampled_from(["watch", "get", "launch", "request", "unlock", "", "LAUNCH", "get\x00"])


@st.composite
def hostile_requests(draw: st.DrawFn) -> bytes:
    """Lines a rooted shell (or a fuzzer) might send: near-valid objects and raw garbage."""
    kind = draw(st.sampled_from(["object", "json", "bytes", "surrogate", "deep"]))
    if kind == "object":
        fields = draw(st.dictionaries(st.sampled_from(["op", "app", "type", "text", "x"]),
                                      JSON_VALUES, max_size=4))
        fields["op"] = draw(OPS | JSON_VALUES)
        text = json.dumps(fields)
    elif kind == "json":
        text = json.dumps(draw(JSON_VALUES))
    elif kind == "surrogate":
        text = json.dumps({"op": "request", "type": "application", "text": "a\ud800b"})
    elif kind == "deep":
        depth = draw(st.integers(min_value=100, max_value=20_000))
        text = '{"op":' + "[" * depth + "]" * depth + "}"
    else:
        return draw(st.binary(max_size=200)).replace(b"\n", b" ")
    return text.encode("utf-8", "surrogatepass")


def is_well_formed(line: bytes) -> bool:
    try:
        request = parse_request(line)
    except ValueError:
        return False
    return not isinstance(request, LaunchRequest | SubmitRequest)


FUZZ = settings(max_examples=EXAMPLES, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


@FUZZ
@given(line=hostile_requests())
def test_parse_request_returns_a_request_or_a_value_error(line: bytes) -> None:
    TALLY.case("local socket: request parser")
    try:
        parse_request(line)
    except ValueError:
        pass
    except Exception:
        TALLY.crash("local socket: request parser")
        raise


@FUZZ
@given(line=st.one_of(
    st.binary(max_size=300),
    JSON_VALUES.map(lambda v: json.dumps(v).encode()),
    st.builds(lambda t, extra: json.dumps({"type": t, **extra}).encode(),
              st.sampled_from(["state", "error", "launch", "request_saved", "other"]),
              st.dictionaries(st.sampled_from(["state", "error", "app", "ok", "argv", "id"]),
                              JSON_VALUES, max_size=4)),
))
def test_the_shell_parser_returns_a_message_or_a_value_error(line: bytes) -> None:
    TALLY.case("shell: message parser")
    try:
        message = parse_message(line)
    except ValueError:
        return
    except Exception:
        TALLY.crash("shell: message parser")
        raise
    assert isinstance(message, StateMessage | ErrorMessage | LaunchReply | RequestSaved)


@settings(FUZZ, max_examples=max(20, EXAMPLES // 3))
@given(lines=st.lists(hostile_requests(), min_size=1, max_size=5))
def test_hostile_lines_on_the_agent_socket_launch_nothing_and_spare_other_clients(
    tmp_path_factory, lines: list[bytes]
) -> None:
    asyncio.run(_exchange(tmp_path_factory.mktemp("sock") / "agent.sock", lines))


async def _exchange(path: Path, lines: list[bytes]) -> None:
    launched: list[LaunchRequest] = []
    submitted: list[SubmitRequest] = []

    async def launch(request: LaunchRequest) -> LaunchReply:
        launched.append(request)
        return LaunchReply(app=request.app, ok=False, reason="fuzz")

    async def submit(request: SubmitRequest) -> RequestSaved:
        submitted.append(request)
        return RequestSaved(ok=False, reason="fuzz")

    server = LocalApi(path, 0o600, lambda: STATE, launch=launch, submit=submit)
    await server.start()
    try:
        for line in lines:
            TALLY.case("local socket: agent server")
            reader, writer = await asyncio.open_unix_connection(str(path), limit=2 * MAX_LINE)
            writer.write(line + b"\n")
            await writer.drain()
            if line.strip():  # blank lines are keep-alives: no answer
                answer = await asyncio.wait_for(reader.readline(), 10)
                if not is_well_formed(line) and not _valid_action(line):
                    reply = json.loads(answer)
                    assert reply["type"] == "error", (line, reply)
            writer.close()
            # a well-behaved client is still served after every hostile one
            good_reader, good_writer = await asyncio.open_unix_connection(str(path),
                                                                          limit=2 * MAX_LINE)
            good_writer.write(b'{"op": "get"}\n')
            await good_writer.drain()
            message = parse_message(await asyncio.wait_for(good_reader.readline(), 10))
            good_writer.close()
            assert isinstance(message, StateMessage) and message.state == STATE
        valid = [parse_request(line) for line in lines if _valid_action(line)]
        if len(launched) + len(submitted) != len(valid):
            TALLY.fail_open("local socket: agent server")
        assert len(launched) + len(submitted) == len(valid)
    finally:
        await server.close()


def _valid_action(line: bytes) -> bool:
    try:
        return isinstance(parse_request(line), LaunchRequest | SubmitRequest)
    except ValueError:
        return False

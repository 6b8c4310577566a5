"""The shell's socket: current state on request, a push on every change, bad clients isolated."""

from __future__ import annotations

import asyncio
import json
import os
import stat
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from agent.localapi import LocalApi
from wire.documents import LockView
from wire.localapi import MAX_LINE, ShellState, parse_message


def state(n: int, locked: bool = False) -> ShellState:
    return ShellState(
        device="t1",
        locked=locked,
        lock=LockView(locked=locked, source="device" if locked else None, reason=f"r{n}"),
        connected=True,
        profile="standard",
    )


class Api:
    def __init__(self, path: Path) -> None:
        self.current = state(0)
        self.server = LocalApi(path, 0o660, lambda: self.current)

    def change(self, new: ShellState) -> None:
        self.current = new
        self.server.publish(new)


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    api = Api(tmp_path / "agent.sock")
    await api.server.start()
    yield api
    await api.server.close()


async def connect(api: Api) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_unix_connection(api.server.path, limit=2 * MAX_LINE)


async def request(writer: asyncio.StreamWriter, line: bytes) -> None:
    writer.write(line)
    await writer.drain()


async def message(reader: asyncio.StreamReader) -> object:
    return parse_message(await asyncio.wait_for(reader.readline(), 10))


async def test_the_socket_file_gets_the_configured_mode(api: Api) -> None:
    assert stat.S_IMODE(os.stat(api.server.path).st_mode) == 0o660


async def test_get_answers_the_current_state(api: Api) -> None:
    reader, writer = await connect(api)
    await request(writer, b'{"op": "get"}\n')
    assert getattr(await message(reader), "state", None) == state(0)
    writer.close()


async def test_watch_answers_the_current_state_then_pushes_each_change(api: Api) -> None:
    reader, writer = await connect(api)
    await request(writer, b'{"op": "watch"}\n')
    assert getattr(await message(reader), "state", None) == state(0)
    api.change(state(1, locked=True))
    api.change(state(2))
    assert getattr(await message(reader), "state", None) == state(1, locked=True)
    assert getattr(await message(reader), "state", None) == state(2)
    writer.close()


async def test_a_get_client_receives_no_pushes(api: Api) -> None:
    reader, writer = await connect(api)
    await request(writer, b'{"op": "get"}\n')
    await message(reader)
    api.change(state(1, locked=True))
    await request(writer, b'{"op": "get"}\n')
    assert getattr(await message(reader), "state", None) == state(1, locked=True)
    writer.close()


async def test_a_garbage_line_gets_an_error_and_the_client_stays_usable(api: Api) -> None:
    reader, writer = await connect(api)
    await request(writer, b"{not json\n")
    error = await message(reader)
    assert getattr(error, "type", None) == "error"
    await request(writer, b'{"op": "get"}\n')
    assert getattr(await message(reader), "state", None) == state(0)
    writer.close()


async def test_a_garbage_client_does_not_disturb_a_watching_one(api: Api) -> None:
    good_reader, good_writer = await connect(api)
    await request(good_writer, b'{"op": "watch"}\n')
    await message(good_reader)
    bad_reader, bad_writer = await connect(api)
    await request(bad_writer, b'{"op": "unlock-please"}\n\xff\xfe\n')
    assert getattr(await message(bad_reader), "type", None) == "error"
    api.change(state(1, locked=True))
    assert getattr(await message(good_reader), "state", None) == state(1, locked=True)
    good_writer.close()
    bad_writer.close()


async def test_a_line_over_the_limit_gets_an_error_and_is_hung_up_on(api: Api) -> None:
    reader, writer = await connect(api)
    await request(writer, b"x" * (MAX_LINE + 10) + b"\n")
    error = json.loads(await asyncio.wait_for(reader.readline(), 10))
    assert error == {"type": "error", "error": "line too long"}
    assert await asyncio.wait_for(reader.read(), 10) == b""


async def test_a_client_that_stops_reading_is_dropped_and_others_keep_up(api: Api) -> None:
    slow_reader, slow_writer = await connect(api)
    await request(slow_writer, b'{"op": "watch"}\n')
    fast_reader, fast_writer = await connect(api)
    await request(fast_writer, b'{"op": "watch"}\n')
    await message(fast_reader)
    changes = 5000  # far more than the socket buffers and the client's queue hold
    for n in range(1, changes + 1):
        api.change(state(n, locked=n % 2 == 0))
        assert getattr(await message(fast_reader), "state", None) == state(n, locked=n % 2 == 0)
    received = (await asyncio.wait_for(slow_reader.read(), 10)).splitlines()
    assert 0 < len(received) < changes + 1  # it got some, then the agent hung up
    fast_writer.close()
    slow_writer.close()

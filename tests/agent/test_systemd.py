"""The agent under systemd (`Type=notify`, `WatchdogSec=`): READY=1 once it serves its state,
WATCHDOG=1 from its event loop, STATUS= lines, STOPPING=1 on SIGTERM; nothing without systemd."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from agent.systemd import Notifier, message, notify_address, watchdog_interval
from tests.support.agents import AgentProcess, read_state
from tests.support.broker import Mosquitto


class NotifySocket:
    """What systemd listens on: a Unix datagram socket, by path or abstract name."""

    def __init__(self, address: str | bytes) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(address)
        self.sock.settimeout(15)

    def next(self) -> dict[str, str]:
        fields = self.sock.recv(4096).decode().split("\n")
        return dict(field.split("=", 1) for field in fields)

    def until(self, predicate: Callable[[dict[str, str]], bool]) -> dict[str, str]:
        while True:
            fields = self.next()
            if predicate(fields):
                return fields

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def manager(tmp_path: Path) -> Iterator[NotifySocket]:
    receiver = NotifySocket(str(tmp_path / "notify"))
    yield receiver
    receiver.close()


def test_notify_socket_names_a_path_or_an_abstract_socket() -> None:
    assert notify_address("/run/systemd/notify") == "/run/systemd/notify"
    assert notify_address("@cellbridge/notify") == b"\0cellbridge/notify"


@pytest.mark.parametrize("value", [None, "", "vsock:2:1234", "relative/path"])
def test_no_usable_notify_socket_means_no_notifications(value: str | None) -> None:
    assert notify_address(value) is None


def test_the_watchdog_is_pinged_at_half_its_timeout() -> None:
    assert watchdog_interval("30000000", None, 42) == 15.0
    assert watchdog_interval("30000000", "42", 42) == 15.0


@pytest.mark.parametrize(
    ("usec", "pid"), [(None, None), ("", None), ("0", None), ("soon", None), ("30000000", "7"),
                      ("30000000", "x")]
)
def test_no_watchdog_when_it_is_off_malformed_or_meant_for_another_process(
    usec: str | None, pid: str | None
) -> None:
    assert watchdog_interval(usec, pid, 42) is None


def test_a_notification_is_one_field_per_line_and_a_value_never_starts_another() -> None:
    assert message(READY="1", STATUS="not connected") == b"READY=1\nSTATUS=not connected"
    assert message(STATUS="a\nWATCHDOG=1") == b"STATUS=a WATCHDOG=1"


def test_outside_systemd_the_notifier_does_nothing() -> None:
    notifier = Notifier.from_environment({})
    assert not notifier.enabled
    assert notifier.ready("x") is False
    assert notifier.watchdog_s is None


def test_taking_the_notifier_hides_the_variables_from_programs_the_agent_runs(
    monkeypatch: pytest.MonkeyPatch, manager: NotifySocket, tmp_path: Path
) -> None:
    monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "notify"))
    monkeypatch.setenv("WATCHDOG_USEC", "30000000")
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()))
    notifier = Notifier.take_from_environment()
    try:
        assert notifier.watchdog_s == 15.0
        assert not {"NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"} & os.environ.keys()
        assert notifier.status("starting")
        assert manager.next() == {"STATUS": "starting"}
    finally:
        notifier.close()


def test_notifications_reach_an_abstract_notify_socket() -> None:
    name = f"@cellbridge-test-{uuid.uuid4().hex}"
    receiver = NotifySocket(b"\0" + name[1:].encode())
    notifier = Notifier.from_environment({"NOTIFY_SOCKET": name})
    try:
        assert notifier.ready("not connected to the wing")
        assert receiver.next() == {"READY": "1", "STATUS": "not connected to the wing"}
    finally:
        notifier.close()
        receiver.close()


def test_a_manager_that_is_gone_does_not_stop_the_notifier(tmp_path: Path) -> None:
    notifier = Notifier.from_environment({"NOTIFY_SOCKET": str(tmp_path / "nobody")})
    try:
        assert notifier.status("connected to the wing") is False
    finally:
        notifier.close()


def test_the_agent_process_says_ready_pings_the_watchdog_and_says_stopping(
    make_agent: Callable[..., AgentProcess], manager: NotifySocket, tmp_path: Path
) -> None:
    agent = make_agent().start(
        wait=False,
        env={"NOTIFY_SOCKET": str(tmp_path / "notify"), "WATCHDOG_USEC": "200000",
             "WATCHDOG_PID": ""},
    )
    ready = manager.next()
    assert ready["READY"] == "1" and "STATUS" in ready
    assert read_state(agent.socket_path).device == "t1"  # READY means the socket answers
    manager.until(lambda f: f == {"WATCHDOG": "1"})
    manager.until(lambda f: f.get("STATUS") == "connected to the wing")
    manager.until(lambda f: f == {"WATCHDOG": "1"})  # still pinging once connected
    assert agent.running
    assert agent.stop() == 0
    assert manager.until(lambda f: "STOPPING" in f) == {"STOPPING": "1", "STATUS": "stopping"}


def test_the_agent_reports_losing_the_broker_in_its_status(
    make_agent: Callable[..., AgentProcess], manager: NotifySocket, tmp_path: Path,
    broker: Mosquitto,
) -> None:
    agent = make_agent().start(wait=False, env={"NOTIFY_SOCKET": str(tmp_path / "notify")})
    manager.until(lambda f: f.get("STATUS") == "connected to the wing")
    broker.kill()
    manager.until(lambda f: f.get("STATUS") == "not connected to the wing")
    assert agent.running


async def test_the_watchdog_is_pinged_from_the_event_loop_so_a_stalled_loop_stops_the_pings(
    manager: NotifySocket, tmp_path: Path
) -> None:
    notifier = Notifier(str(tmp_path / "notify"), watchdog_s=0.01)
    pinging = asyncio.create_task(notifier.keep_alive())
    try:
        await asyncio.to_thread(manager.next)  # pinging
        manager.sock.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            while True:
                manager.sock.recv(4096)  # drain what was sent before the stall
        time.sleep(0.2)  # the loop is stuck here: twenty intervals pass with no ping
        with pytest.raises(BlockingIOError):
            manager.sock.recv(4096)
        manager.sock.setblocking(True)
        manager.sock.settimeout(15)
        assert await asyncio.to_thread(manager.next) == {"WATCHDOG": "1"}  # the loop runs again
    finally:
        pinging.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await pinging
        notifier.close()

"""The shell's link to the agent: a watch on its Unix socket (wire/localapi.py), off the UI thread.

A daemon thread connects, sends `watch`, and hands every state line to `on_state`. Whenever the
link is down — agent not running, connection lost, or a line that breaks the protocol — it calls
`on_lost(reason)` once, so the shell shows the lock screen (fail closed), then reconnects with
jittered exponential backoff. Callbacks run on the link's thread: the Kivy side re-schedules them
onto the UI thread with `Clock.schedule_once`. No Kivy here, so this module is testable alone.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from tenacity import Retrying, retry_if_exception_type, wait_random_exponential

from wire.documents import Document
from wire.localapi import (
    MAX_LINE,
    ErrorMessage,
    LaunchReply,
    PersonReply,
    RequestSaved,
    ShellState,
    StateMessage,
    WatchRequest,
    encode,
    parse_message,
)

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 2.0
BACKOFF_MAX_S = 5.0


M = TypeVar("M", LaunchReply, RequestSaved, PersonReply)


class AgentRefused(Exception):
    """A one-shot question got no answer of the kind asked: the reason, for the caller's 'no'."""


def ask_once(socket_path: Path | str, request: Document, reply_type: type[M],
             timeout: float) -> M:
    """Send one request on a connection of its own and return the agent's reply of `reply_type`
    (state pushes in between are skipped). Raises AgentRefused saying why there is none."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(str(socket_path))
            sock.sendall(encode(request))
            with sock.makefile("rb") as stream:
                while True:
                    line = stream.readline(MAX_LINE + 1)
                    if not line:
                        raise AgentRefused("agent closed the connection")
                    message = parse_message(line)
                    if isinstance(message, reply_type):
                        return message
                    if isinstance(message, ErrorMessage):
                        raise AgentRefused(message.error)
    except (OSError, ValueError) as exc:
        raise AgentRefused(f"agent unreachable: {exc}") from exc


class LinkDown(Exception):
    """The watch ended: the reason is shown in logs, never to the prisoner."""


class AgentLink:
    """Keeps a `watch` open on the agent's socket and reports what it hears."""

    def __init__(
        self,
        socket_path: Path | str,
        on_state: Callable[[ShellState], None],
        on_lost: Callable[[str], None],
        *,
        backoff_max_s: float = BACKOFF_MAX_S,
    ) -> None:
        self.socket_path = str(socket_path)
        self._on_state = on_state
        self._on_lost = on_lost
        self._backoff_max_s = backoff_max_s
        self._stop = threading.Event()
        self._sock: socket.socket | None = None
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._up = False
        self._reported_down = False

    def start(self) -> AgentLink:
        self._thread = threading.Thread(target=self._run, name="agent-link", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 2.0) -> None:
        """Stop watching; unblocks a pending read by shutting the socket down."""
        self._stop.set()
        with self._lock:
            if self._sock is not None:
                with contextlib.suppress(OSError):
                    self._sock.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        retrying = Retrying(
            retry=retry_if_exception_type(LinkDown),
            wait=wait_random_exponential(multiplier=0.05, max=self._backoff_max_s),
            sleep=self._sleep,
            reraise=True,
        )
        with contextlib.suppress(_Stopped):
            retrying(self._watch_once)

    def _sleep(self, seconds: float) -> None:
        if self._stop.wait(seconds):
            raise _Stopped

    def _watch_once(self) -> None:
        """One connection's life; always ends in LinkDown (retried) or _Stopped."""
        if self._stop.is_set():
            raise _Stopped
        try:
            self._watch()
        except Exception as exc:  # any failure, ours or the callback's: fail closed, reconnect
            if self._stop.is_set():
                raise _Stopped from exc
            self._lost(str(exc) or type(exc).__name__)
            raise LinkDown(str(exc)) from exc
        if self._stop.is_set():
            raise _Stopped
        self._lost("agent closed the connection")
        raise LinkDown("agent closed the connection")

    def _watch(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        with self._lock:
            self._sock = sock
        try:
            sock.settimeout(CONNECT_TIMEOUT_S)
            sock.connect(self.socket_path)
            sock.settimeout(None)
            sock.sendall(encode(WatchRequest(op="watch")))
            with sock.makefile("rb") as stream:
                while not self._stop.is_set():
                    line = stream.readline(MAX_LINE + 1)
                    if not line:
                        return
                    if not line.endswith(b"\n"):
                        raise LinkDown(f"line over {MAX_LINE} bytes or cut short")
                    message = parse_message(line)
                    if isinstance(message, ErrorMessage):
                        raise LinkDown(f"agent error: {message.error}")
                    if not isinstance(message, StateMessage):
                        raise LinkDown(f"unexpected {message.type} message on a watch")
                    self._up = True
                    self._on_state(message.state)
        finally:
            with self._lock:
                self._sock = None
            sock.close()

    def _lost(self, reason: str) -> None:
        """Report a lost link once per outage, not once per failed reconnect."""
        if self._up or not self._reported_down:
            self._reported_down = True
            self._up = False
            log.warning("agent link down (%s): failing closed", reason)
            self._on_lost(reason)


class _Stopped(Exception):
    """The link was asked to stop."""

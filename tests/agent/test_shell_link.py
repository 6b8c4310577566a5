"""The shell's link to a real agent process (`device.agent_link`): whatever goes wrong while it
handles what it hears, the shell is told the link is lost (lock screen) and it reconnects."""

from __future__ import annotations

import threading
from collections.abc import Callable

from device.agent_link import AgentLink
from tests.support.agents import AgentProcess
from wire.localapi import ShellState


def test_a_state_the_shell_fails_to_handle_fails_closed_and_the_link_reconnects(
    make_agent: Callable[..., AgentProcess],
) -> None:
    agent = make_agent().start()
    agent.wait_ready()
    states: list[ShellState] = []
    lost: list[str] = []
    again = threading.Event()

    def on_state(state: ShellState) -> None:
        states.append(state)
        if len(states) == 1:
            raise RuntimeError("the screen could not be drawn")
        again.set()

    link = AgentLink(agent.socket_path, on_state, lost.append, backoff_max_s=0.2).start()
    try:
        assert again.wait(15), "the link did not reconnect after the failure"
    finally:
        link.stop()
    assert lost and "the screen could not be drawn" in lost[0]

"""The Requests app in the real window against the real agent process on a real broker: written
on the on-screen keyboard while the wing is unreachable, kept by the agent, sent when the broker
is back, and staff's signed reply shown on screen."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from device import requests as request_rules
from tests.device.conftest import stop_app
from tests.device.test_builtin_apps import find, texts, type_on_screen
from tests.device.test_shell_with_agent import DEVICE, EVENING, World
from tests.support.agents import Probe, now_ms
from tests.support.requests import submit
from wire import requests as wire_requests
from wire.documents import device_audience
from wire.envelope import seal
from wire.requests import RequestReply

pytestmark = pytest.mark.gui


def open_new_request(shell, category: str):
    """From wherever the shell is: the Requests app, New request, `category`; its screen."""
    shell.app.go("requests")
    shell.step()
    shell.tap(find(shell, "New request"))
    shell.tap(find(shell, category))
    return shell.app.root.ids.sm.current_screen


def send_request(shell, category: str, text: str):
    """Write `text` under `category` on the on-screen keyboard and tap Send; its screen."""
    screen = open_new_request(shell, category)
    type_on_screen(shell, screen.ids.keyboard, text)
    shell.tap(find(shell, "Send"))
    return screen


def test_the_shell_offers_exactly_the_request_types_of_the_wire_contract():
    assert set(wire_requests.REQUEST_TYPES) == request_rules.TYPE_IDS


def test_a_request_written_offline_is_sent_when_the_wing_is_back_and_the_reply_shows(
    world: World, start_shell: Callable, kivy_window
) -> None:
    world.start(EVENING)
    shell = start_shell(world.agent.socket_path)
    assert shell.wait_until(lambda: shell.app.agent_reachable and shell.screen() == "home")
    world.broker.kill()
    world.agent.wait_for(lambda s: not s.connected)

    screen = open_new_request(shell, "Healthcare")
    shell.tap(find(shell, "Send"))
    assert screen.notice == "Write something first."
    keyboard = screen.ids.keyboard
    type_on_screen(shell, keyboard, "Need nurse")
    shell.tap(find(shell, "Delete", keyboard))
    assert screen.ids.text.text == "Need nurs"
    shell.screenshot("requests-typing")
    shell.tap(find(shell, "Send"))

    assert shell.wait_until(lambda: screen.ids.steps.current == "list")
    assert shell.wait_until(lambda: any("Waiting to send" in t for t in texts(shell)))
    [kept] = world.agent.state().requests
    assert (kept.type, kept.text, kept.status) == ("healthcare", "Need nurs", "waiting")

    observer_topics = [f"tablet/{DEVICE}/request", f"tablet/{DEVICE}/ack"]
    with world.agent.paused():  # the observer listens before the agent can reconnect
        world.broker.start()
        observer = Probe(world.broker.host, world.broker.port, observer_topics,
                         tls=world.broker.observer_tls(2))
    try:
        sent = observer.expect(lambda m: m.topic == f"tablet/{DEVICE}/request", timeout=60)
        assert json.loads(sent.payload)["id"] == kept.id
        assert shell.wait_until(lambda: any("Sent to staff" in t for t in texts(shell)), 30)

        now = now_ms()
        reply = RequestReply(audience=device_audience(DEVICE), version=1, issued=now,
                             expires=now + 60_000, request=kept.id,
                             text="The nurse will see you tomorrow", by="nurse.a")
        observer.publish(f"tablet/{DEVICE}/reply", seal(reply, world.signer.key), retain=False)
        assert shell.wait_until(
            lambda: any("Reply: The nurse will see you tomorrow" in t for t in texts(shell)), 30)
        shell.screenshot("requests-answered")
    finally:
        observer.close()

    # The shell keeps nothing of its own: a restarted shell lists it again from the agent.
    stop_app(shell.app, kivy_window)
    shell = start_shell(world.agent.socket_path)
    assert shell.wait_until(lambda: shell.screen() == "home")
    shell.app.go("requests")
    shell.step()
    assert any("Need nurs" in t and "Answered" in t for t in texts(shell))


def test_a_request_the_agent_cannot_take_keeps_the_text_and_says_so(
    start_shell: Callable,
) -> None:
    from tests.device.states import state

    shell = start_shell(connect=False)  # no agent behind the socket
    shell.app.on_agent_state(state())
    screen = send_request(shell, "Complaint", "Cold")

    assert shell.wait_until(
        lambda: screen.notice == "Your request could not be saved. Please try again.")
    assert screen.ids.steps.current == "write"
    assert screen.ids.text.text == "Cold"


def test_a_prisoner_with_the_most_requests_waiting_is_told_to_wait_and_keeps_the_text(
    world: World, start_shell: Callable, kivy_window
) -> None:
    world.start(EVENING)
    for n in range(wire_requests.MAX_OPEN):
        assert submit(world.agent.socket_path, "general", f"number {n}").ok
    shell = start_shell(world.agent.socket_path)
    assert shell.wait_until(lambda: shell.app.agent_reachable and shell.screen() == "home")
    screen = send_request(shell, "Canteen and money", "More tea")

    assert shell.wait_until(lambda: screen.notice == (
        f"You have {wire_requests.MAX_OPEN} requests waiting for an answer. "
        "Please wait for an answer before you send another."))
    assert (screen.ids.steps.current, screen.ids.text.text) == ("write", "More tea")
    shell.screenshot("requests-too-many-waiting")

"""Prisoner sign-in in the real window, against the real agent process on a real broker: the
cell's occupants as tiles, the PIN pad, a one-time code then "choose your PIN", the signed-in
header; sessions ending on idle and lock with nothing of the person left on screen."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from argon2 import PasswordHasher

from tests.device.test_builtin_apps import find, texts
from tests.device.test_requests_on_screen import send_request
from tests.device.test_shell_with_agent import DEVICE, EVENING, World
from wire.documents import DesiredState, LockOrder, device_audience
from wire.prisoners import MAX_ATTEMPTS, Occupant, Occupants, Settings
from wire.topics import TabletChannel, tablet

pytestmark = [pytest.mark.gui, pytest.mark.timeout(180)]

CHEAP = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
JOHN, ANNA = "A1234BC", "B2345CD"


def occupant(number: str, display: str, secret: str, **fields: Any) -> Occupant:
    return Occupant(number=number, display=display, verifier=CHEAP.hash(secret),
                    **{"credential": "pin", **fields})


def house(world: World, *people: Occupant, locked: bool = False) -> None:
    """Publish the tablet's desired state with `people` as its cell's occupants."""
    world.version += 1
    issued = EVENING - 60_000
    document = DesiredState(
        audience=device_audience(DEVICE), version=world.version, issued=issued,
        expires=issued + 30 * 86_400_000,
        lock=LockOrder(locked=locked, by="officer", reason="roll check", since=issued),
        occupants=Occupants(people=people))
    world.probe.publish(tablet(DEVICE, TabletChannel.DESIRED), world.signer.seal(document))
    world.agent.wait_for(lambda s: s.lock.locked == locked
                         and [o.number for o in s.occupants] == (
                             [] if locked else [p.number for p in people]))


def type_pin(shell, pin: str) -> None:
    pad = shell.app.root.ids.sm.current_screen.ids.pad
    for digit in pin:
        shell.tap(find(shell, digit, pad))
    shell.tap(find(shell, "OK", pad))


def sign_in(shell, display: str, pin: str) -> None:
    assert shell.wait_until(lambda: shell.screen() == "signin")
    shell.step()
    shell.tap(find(shell, display))
    assert shell.screen() == "pin"
    type_pin(shell, pin)


def shown_message(shell) -> str:
    return shell.app.root.ids.sm.current_screen.message


@pytest.fixture
def cell(world: World) -> World:
    world.start(EVENING)
    house(world, occupant(JOHN, "John S.", "482913",
                          settings=Settings(language="pl", text_scale=150)),
          occupant(ANNA, "Anna K.", "771203"))
    return world


def test_sign_in_works_with_the_gateway_down_and_applies_the_persons_settings(
    cell: World, start_shell: Callable
) -> None:
    cell.broker.kill()
    cell.agent.wait_for(lambda s: not s.connected)
    shell = start_shell(cell.agent.socket_path)
    assert shell.wait_until(lambda: shell.screen() == "signin")
    assert {"John S.", "Anna K."} <= texts(shell)
    assert shell.app.person_name == ""

    sign_in(shell, "John S.", "482913")

    assert shell.wait_until(lambda: shell.screen() == "home" and shell.app.person_name)
    assert shell.app.person_name == "John S."
    assert (shell.app.language, shell.app.text_scale) == ("pl", 1.5)
    shell.tap(find(shell, "Wyloguj", shell.app.root))  # "Sign out", in his language
    assert shell.wait_until(lambda: shell.screen() == "signin")
    assert (shell.app.language, shell.app.text_scale, shell.app.person_name) == ("en", 1.0, "")


def test_five_wrong_pins_lock_the_person_out(cell: World, start_shell: Callable) -> None:
    shell = start_shell(cell.agent.socket_path)
    sign_in(shell, "Anna K.", "000001")
    assert shell.wait_until(lambda: "4 more tries" in shown_message(shell))
    assert "000001" not in texts(shell)  # the entry was masked and is cleared
    for _ in range(MAX_ATTEMPTS - 1):
        type_pin(shell, "000001")
        shell.wait_until(lambda: shown_message(shell) != "Checking...")
    assert shell.wait_until(lambda: "Ask a member of staff" in shown_message(shell))
    type_pin(shell, "771203")  # even the right PIN now
    assert shell.wait_until(lambda: "Ask a member of staff" in shown_message(shell))
    assert shell.screen() == "pin" and cell.agent.state().person is None


def test_a_one_time_code_leads_to_choosing_a_pin_then_home(
    cell: World, start_shell: Callable
) -> None:
    house(cell, occupant(JOHN, "John S.", "90817263", credential="one_time"))
    shell = start_shell(cell.agent.socket_path)
    sign_in(shell, "John S.", "90817263")
    assert shell.wait_until(lambda: shell.screen() == "choosepin")
    shell.app.go("home")  # nothing else until a PIN is chosen
    assert shell.screen() == "choosepin"

    type_pin(shell, "246813")
    assert shown_message(shell) == "Type the same PIN again."
    type_pin(shell, "246813")

    assert shell.wait_until(lambda: shell.screen() == "home" and shell.app.person_name)
    assert shell.app.person_name == "John S."


def test_a_signed_in_person_changes_their_pin_and_signs_in_with_the_new_one(
    cell: World, start_shell: Callable
) -> None:
    shell = start_shell(cell.agent.socket_path)
    sign_in(shell, "Anna K.", "771203")
    assert shell.wait_until(lambda: shell.app.person_name == "Anna K.")
    shell.step()
    shell.tap(find(shell, "Change PIN", shell.app.root))  # in the signed-in header
    assert shell.wait_until(lambda: shell.screen() == "changepin")

    type_pin(shell, "771203")  # the current PIN
    type_pin(shell, "246813")  # the new one...
    assert shown_message(shell) == "Type the same PIN again."
    type_pin(shell, "246813")  # ...twice

    assert shell.wait_until(lambda: shell.screen() == "home")
    assert "Your PIN is changed" in shell.app.notice
    assert not {"771203", "246813"} & texts(shell)
    shell.app.people.sign_out()
    sign_in(shell, "Anna K.", "771203")
    assert shell.wait_until(lambda: "not right" in shown_message(shell))
    type_pin(shell, "246813")
    assert shell.wait_until(lambda: shell.app.person_name == "Anna K.")


def test_an_idle_session_ends_and_the_next_person_starts_clean(
    cell: World, start_shell: Callable
) -> None:
    shell = start_shell(cell.agent.socket_path)
    sign_in(shell, "Anna K.", "771203")
    assert shell.wait_until(lambda: shell.app.person_name == "Anna K.")
    shell.app.go("settings")

    cell.advance(601)  # ten minutes and a second untouched

    assert shell.wait_until(lambda: shell.screen() == "signin", timeout=15)
    assert shell.app.person_name == ""
    sign_in(shell, "John S.", "482913")
    assert shell.wait_until(lambda: shell.app.person_name == "John S.")
    assert shell.screen() == "home"  # not Anna's settings screen


def test_a_lock_ends_the_session_and_the_lock_screen_names_nobody(
    cell: World, start_shell: Callable
) -> None:
    shell = start_shell(cell.agent.socket_path)
    sign_in(shell, "John S.", "482913")
    assert shell.wait_until(lambda: shell.app.person_name == "John S.")

    house(cell, occupant(JOHN, "John S.", "482913"), occupant(ANNA, "Anna K.", "771203"),
          locked=True)

    assert shell.wait_until(lambda: shell.screen() == "lock")
    shell.step()
    assert not any("John" in t or "Anna" in t for t in texts(shell))
    assert shell.app.person_name == ""


def test_two_occupants_see_only_their_own_requests(cell: World, start_shell: Callable) -> None:
    shell = start_shell(cell.agent.socket_path)
    sign_in(shell, "Anna K.", "771203")
    assert shell.wait_until(lambda: shell.app.person_name == "Anna K.")
    screen = send_request(shell, "Visits", "Anna visit")
    assert shell.wait_until(lambda: screen.ids.steps.current == "list")
    assert shell.wait_until(lambda: any("Anna visit" in t for t in texts(shell)))
    shell.app.people.sign_out()
    assert shell.wait_until(lambda: shell.screen() == "signin")

    sign_in(shell, "John S.", "482913")
    assert shell.wait_until(lambda: shell.app.person_name == "John S.")
    shell.app.go("requests")
    shell.step(5)
    assert not any("Anna visit" in t for t in texts(shell))


def test_a_setting_changed_while_signed_in_is_the_persons_not_the_tablets(
    cell: World, start_shell: Callable
) -> None:
    shell = start_shell(cell.agent.socket_path)
    sign_in(shell, "Anna K.", "771203")
    assert shell.wait_until(lambda: shell.app.person_name == "Anna K.")

    shell.app.set_text_scale(1.25)

    cell.agent.wait_for(lambda s: s.person is not None and s.person.settings.text_scale == 125)
    assert not shell.app.prefs_path.exists()  # the tablet's own settings are untouched
    shell.app.people.sign_out()
    assert shell.wait_until(lambda: shell.screen() == "signin")
    assert shell.app.text_scale == 1.0


def test_lesson_progress_is_the_signed_in_persons_and_the_next_person_starts_from_their_own(
    cell: World, start_shell: Callable
) -> None:
    house(cell, occupant(JOHN, "John S.", "482913"), occupant(ANNA, "Anna K.", "771203"))
    shell = start_shell(cell.agent.socket_path)
    sign_in(shell, "Anna K.", "771203")
    assert shell.wait_until(lambda: shell.app.person_name == "Anna K.")
    shell.app.go("lessons")
    shell.step()
    shell.tap(find(shell, "Staying safe online — Not started"))
    shell.tap(find(shell, "Next"))
    shell.tap(find(shell, "Next"))

    cell.agent.wait_for(lambda s: s.person is not None
                        and s.person.lessons.get("staying-safe") is not None
                        and s.person.lessons["staying-safe"].step == 2)
    assert not shell.app.progress_path.exists()  # never the tablet's own progress file
    shell.app.people.sign_out()
    assert shell.wait_until(lambda: shell.screen() == "signin")

    sign_in(shell, "John S.", "482913")
    assert shell.wait_until(lambda: shell.app.person_name == "John S.")
    shell.app.go("lessons")
    shell.step()
    assert find(shell, "Staying safe online — Not started")  # John's, not Anna's
    shell.app.people.sign_out()
    assert shell.wait_until(lambda: shell.screen() == "signin")

    sign_in(shell, "Anna K.", "771203")
    assert shell.wait_until(lambda: shell.app.person_name == "Anna K.")
    shell.app.go("lessons")
    shell.step()
    assert find(shell, "Staying safe online — Step 3 of 4")

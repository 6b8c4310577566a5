"""Prisoner sign-in in the shell: which account screen a state imposes, the PIN pad's entry and
what each answer of the agent means on screen. Pure rules, testable without Kivy; the agent
checks every PIN (the shell never sees a verifier) and the sockets calls run off the UI thread.
"""

from __future__ import annotations

import gettext
import json
from pathlib import Path
from typing import TYPE_CHECKING

from device.i18n import N_

if TYPE_CHECKING:
    from wire.localapi import PersonReply, ShellState

ENGLISH = gettext.NullTranslations()

SIGN_IN_SCREENS = frozenset({"signin", "pin"})
"""Screens of someone not signed in yet: who are you, then the PIN pad."""
ACCOUNT_SCREENS = SIGN_IN_SCREENS | {"choosepin"}
PERSON_SCREENS = frozenset({"changepin"})
"""Screens only a signed-in person (with a PIN of their own) may see."""
PIN_MAX = 12
"""Digits the pad takes (wire.prisoners.MAX_PIN_DIGITS)."""
ACTIVE_EVERY_S = 20.0
"""At most one "still here" to the agent per this many seconds of touching."""


def account_screen(state: ShellState, user_screen: str) -> str | None:
    """The account screen `state` imposes when nothing is forced (None: none, carry on).

    A tablet whose cell has occupants shows sign-in until someone is signed in; a person who
    came in with a one-time code sees only "choose your PIN" until they have chosen one."""
    person = state.person
    if person is None:
        if not state.occupants:
            return None if user_screen not in ACCOUNT_SCREENS | PERSON_SCREENS else "home"
        return user_screen if user_screen in SIGN_IN_SCREENS else "signin"
    if person.must_set_pin:
        return "choosepin"
    return "home" if user_screen in ACCOUNT_SCREENS else None


def masked(digits: str) -> str:
    """What the PIN field shows: one star per digit, never the digits (the shell's font has
    no bullet glyph)."""
    return " ".join("*" * len(digits))


def typed(digits: str, key: str) -> str:
    """The entry after pressing `key` ("0"-"9", or "del")."""
    if key == "del":
        return digits[:-1]
    if key.isascii() and key.isdigit() and len(key) == 1 and len(digits) < PIN_MAX:
        return digits + key
    return digits


def sign_in_message(reply: PersonReply, t: gettext.NullTranslations = ENGLISH) -> str:
    """What the PIN pad says after an unsuccessful sign-in ("" when it worked)."""
    if reply.outcome in ("ok", "must_set_pin"):
        return ""
    if reply.outcome == "wrong":
        return t.ngettext(
            "That PIN is not right. {n} more try before you are locked out.",
            "That PIN is not right. {n} more tries before you are locked out.",
            reply.attempts_left,
        ).format(n=reply.attempts_left)
    if reply.outcome == "locked_out":
        return t.gettext("You cannot sign in now. Ask a member of staff for a new code.")
    if reply.outcome == "not_here":
        return t.gettext("You are not on this tablet's list. Ask a member of staff.")
    if reply.reason == "curfew":
        return t.gettext("You cannot sign in during curfew.")
    return t.gettext("You cannot sign in right now. Try again soon.")


PIN_RULES: dict[str, str] = {
    "a PIN is digits only": N_("Use numbers only."),
    "a PIN has 6 to 12 digits": N_("Your PIN needs 6 to 12 numbers."),
    "a PIN cannot be one digit repeated": N_("Do not use the same number every time."),
}


def set_pin_message(reply: PersonReply, t: gettext.NullTranslations = ENGLISH) -> str:
    if reply.outcome == "ok":
        return ""
    rule = PIN_RULES.get(reply.reason)
    return t.gettext(rule) if rule else t.gettext("Your PIN could not be saved. Try again.")


def change_pin_message(reply: PersonReply, t: gettext.NullTranslations = ENGLISH) -> str:
    """What the change-PIN screen says when the agent did not change it."""
    if reply.outcome == "wrong":
        return t.ngettext(
            "That is not your PIN now. {n} more try before you are locked out.",
            "That is not your PIN now. {n} more tries before you are locked out.",
            reply.attempts_left,
        ).format(n=reply.attempts_left)
    if reply.outcome == "locked_out":
        return t.gettext("You cannot sign in now. Ask a member of staff for a new code.")
    if reply.reason == "the new PIN is the same as the old one":
        return t.gettext("Your new PIN must be different from the old one.")
    return set_pin_message(reply, t)


def ask(socket_path: Path | str, op: str, fields: dict[str, str] | None = None,
        timeout: float = 15.0) -> PersonReply:
    """One sign_in / set_pin / change_pin / sign_out / active / settings / lesson request to the
    agent (blocking: call it off the UI thread). A failure to ask is a refusal."""
    from device.agent_link import AgentRefused, ask_once
    from wire.documents import Document
    from wire.localapi import (
        ActiveRequest,
        ChangePinRequest,
        LessonRequest,
        PersonReply,
        SetPinRequest,
        SettingsRequest,
        SignInRequest,
        SignOutRequest,
    )

    kinds: dict[str, type[Document]] = {
        "sign_in": SignInRequest, "set_pin": SetPinRequest, "change_pin": ChangePinRequest,
        "sign_out": SignOutRequest,
        "active": ActiveRequest, "settings": SettingsRequest, "lesson": LessonRequest}
    try:
        given: dict[str, object] = dict(fields or {})
        for name in ("settings", "state"):  # passed as JSON text: fields are strings
            if name in given:
                given[name] = json.loads(str(given[name]))
        request = kinds[op].model_validate({"op": op, **given})
        return ask_once(socket_path, request, PersonReply, timeout)
    except (AgentRefused, ValueError) as exc:
        return PersonReply.model_validate(
            {"op": op, "outcome": "refused", "reason": str(exc)[:200]})

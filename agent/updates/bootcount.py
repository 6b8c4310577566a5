"""The A/B boot-counter rules of RAUC's U-Boot scheme, once: a boot order, and per slot a count
of attempts left. Activating a slot puts it first with full attempts, good refills a slot, bad
empties it; a boot spends one attempt of the first bootable slot in order that has any.

Pure rules over any state holding those fields: `FileSlots`' bootloader file and the simulated
bootloader the RAUC service tests hand to real RAUC both follow them. Standard library only:
RAUC runs that simulated bootloader with `python -I -S`, several times per `rauc status`.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Protocol


class BootCounter(Protocol):
    order: list[str]
    left: dict[str, int]
    bad: list[str]
    booted: str
    boot_id: str
    boots: int


def primary(state: BootCounter, bootable: Callable[[str], bool] = lambda slot: True) -> str | None:
    """The slot the next boot picks while attempts last, or None when every one is spent."""
    return next((s for s in state.order if state.left.get(s, 0) > 0 and bootable(s)), None)


def is_good(state: BootCounter, slot: str) -> bool:
    return state.left.get(slot, 0) > 0 and slot not in state.bad


def activate(state: BootCounter, slot: str, attempts: int) -> None:
    """`rauc status mark-active`: first in order, full attempts, not bad."""
    state.order = [slot, *(s for s in state.order if s != slot)]
    mark_good(state, slot, attempts)


def mark_good(state: BootCounter, slot: str, attempts: int) -> None:
    state.left[slot] = attempts
    state.bad = [s for s in state.bad if s != slot]


def mark_bad(state: BootCounter, slot: str) -> None:
    state.left[slot] = 0
    if slot not in state.bad:
        state.bad.append(slot)


def boot(state: BootCounter, bootable: Callable[[str], bool] = lambda slot: True) -> str:
    """Power on: the primary slot spends one attempt and boots. With none left, the first
    bootable slot not marked bad boots (a bootloader's last resort)."""
    chosen = primary(state, bootable)
    if chosen is not None:
        state.left[chosen] -= 1
    else:
        usable = [s for s in state.order if bootable(s)] or state.order
        chosen = next((s for s in usable if s not in state.bad), usable[0])
    state.booted = chosen
    state.boot_id = uuid.uuid4().hex
    state.boots += 1
    return chosen

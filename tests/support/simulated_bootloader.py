"""A simulated bootloader for real RAUC: the state file, the boot, and RAUC's custom backend.

RAUC (`bootloader=custom`) runs this file as its `bootloader-custom-backend`:

    simulated_bootloader.py STATE get-primary            prints the primary slot's boot name
    simulated_bootloader.py STATE get-state BOOTNAME     prints "good" or "bad"
    simulated_bootloader.py STATE set-primary BOOTNAME   `rauc status mark-active`, after install
    simulated_bootloader.py STATE set-state BOOTNAME good|bad   mark-good / mark-bad, install

A file STATE.hang holding one such request makes that request freeze once it is done (a point
for a test to cut the power at); STATE.hung appears when it does.

The model is the one `FileSlots`' `Bootloader` follows (RAUC's U-Boot boot-counter scheme): a
boot order, and per slot a count of attempts left; booting a slot spends one; set-primary puts
the slot first with full attempts, good refills them, bad empties them; the first slot in order
with attempts left boots. Standard library only (run with `python -I -S`): RAUC starts it
several times per `rauc status`.
"""

from __future__ import annotations

import json
import os
import sys
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path


@dataclass
class BootState:
    attempts: int = 3
    order: list[str] = field(default_factory=lambda: ["A", "B"])
    left: dict[str, int] = field(default_factory=lambda: {"A": 3, "B": 0})
    bad: list[str] = field(default_factory=list)
    booted: str = "A"
    boot_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    boots: int = 1

    @classmethod
    def load(cls, path: Path) -> BootState:
        return cls(**json.loads(path.read_text()))

    def save(self, path: Path) -> None:
        # One writer at a time: RAUC runs its backend calls one after another, and the harness
        # writes only while the service is stopped.
        tmp = path.with_name(path.name + ".tmp")
        with open(tmp, "w") as f:
            json.dump(asdict(self), f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)

    # ---- what RAUC asks and sets
    def primary(self) -> str | None:
        return next((s for s in self.order if self.left.get(s, 0) > 0), None)

    def good(self, slot: str) -> bool:
        return self.left.get(slot, 0) > 0 and slot not in self.bad

    def set_primary(self, slot: str) -> None:
        self.order = [slot, *(s for s in self.order if s != slot)]
        self.left[slot] = self.attempts
        self.bad = [s for s in self.bad if s != slot]

    def set_state(self, slot: str, good: bool) -> None:
        if good:
            self.left[slot] = self.attempts
            self.bad = [s for s in self.bad if s != slot]
        else:
            self.left[slot] = 0
            if slot not in self.bad:
                self.bad.append(slot)

    # ---- the power button
    def boot(self) -> str:
        """The first slot in order with attempts left boots and spends one; with none left, the
        first slot not marked bad (a bootloader's last resort)."""
        chosen = self.primary()
        if chosen is not None:
            self.left[chosen] -= 1
        else:
            chosen = next((s for s in self.order if s not in self.bad), self.order[0])
        self.booted = chosen
        self.boot_id = uuid.uuid4().hex
        self.boots += 1
        return chosen


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print("usage: simulated_bootloader.py STATE COMMAND [BOOTNAME [good|bad]]",
              file=sys.stderr)
        return 2
    path, command, args = Path(argv[0]), argv[1], argv[2:]
    state = BootState.load(path)
    if command == "get-primary" and not args:
        print(state.primary() or "")
        return 0
    if command == "get-state" and len(args) == 1 and args[0] in state.order:
        print("good" if state.good(args[0]) else "bad")
        return 0
    if command == "set-primary" and len(args) == 1 and args[0] in state.order:
        state.set_primary(args[0])
    elif (command == "set-state" and len(args) == 2 and args[0] in state.order
          and args[1] in ("good", "bad")):
        state.set_state(args[0], args[1] == "good")
    else:
        print(f"simulated bootloader: bad request {argv[1:]}", file=sys.stderr)
        return 2
    state.save(path)
    hang = path.with_name(path.name + ".hang")
    if hang.exists() and hang.read_text().split() == argv[1:]:
        # A power-cut point: the request is done; freeze here until the test cuts the power.
        path.with_name(path.name + ".hung").touch()
        while True:
            time.sleep(60)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""A simulated bootloader for real RAUC: the state file, the boot, and RAUC's custom backend.

RAUC (`bootloader=custom`) runs this file as its `bootloader-custom-backend`:

    simulated_bootloader.py STATE get-primary            prints the primary slot's boot name
    simulated_bootloader.py STATE get-state BOOTNAME     prints "good" or "bad"
    simulated_bootloader.py STATE set-primary BOOTNAME   `rauc status mark-active`, after install
    simulated_bootloader.py STATE set-state BOOTNAME good|bad   mark-good / mark-bad, install

A file STATE.hang holding one such request makes that request freeze once it is done (a point
for a test to cut the power at); STATE.hung appears when it does.

The rules are `agent.updates.bootcount`'s, the ones `FileSlots` follows (RAUC's U-Boot
boot-counter scheme). Standard library only (run with `python -I -S`): RAUC starts it several
times per `rauc status`.
"""

from __future__ import annotations

import json
import os
import sys
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path

if __name__ == "__main__":  # run by RAUC with `python -I -S`: the repository is not on the path
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from agent.updates import bootcount  # standard library only


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


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print("usage: simulated_bootloader.py STATE COMMAND [BOOTNAME [good|bad]]",
              file=sys.stderr)
        return 2
    path, command, args = Path(argv[0]), argv[1], argv[2:]
    state = BootState.load(path)
    if command == "get-primary" and not args:
        print(bootcount.primary(state) or "")
        return 0
    if command == "get-state" and len(args) == 1 and args[0] in state.order:
        print("good" if bootcount.is_good(state, args[0]) else "bad")
        return 0
    if command == "set-primary" and len(args) == 1 and args[0] in state.order:
        bootcount.activate(state, args[0], state.attempts)
    elif (command == "set-state" and len(args) == 2 and args[0] in state.order
          and args[1] in ("good", "bad")):
        if args[1] == "good":
            bootcount.mark_good(state, args[0], state.attempts)
        else:
            bootcount.mark_bad(state, args[0])
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

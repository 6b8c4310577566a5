"""Power cuts: kill -9 of a real engine process at random points of download, install and
switch, then a simulated reboot. The tablet must always boot a good slot, the persisted record
must always be readable and consistent, and the update must still end committed."""

from __future__ import annotations

import hashlib
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from agent.updates.states import State
from agent.updates.store import UpdateStore
from tests.updates.conftest import Wing
from tests.updates.support import Tablet

ROOT = Path(__file__).resolve().parents[2]
POINTS = 50 if os.environ.get("CELLBRIDGE_SLOW") == "1" else 8
BUNDLE_SIZE = 24 * 1024 * 1024


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def start(tablet: Tablet, target: str, version: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "agent.updates.run_once", str(tablet.config_file), target, version],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )


def assert_bootable(tablet: Tablet, factory_sha: str, bundle_sha: str) -> None:
    """Whatever booted has a complete image: the factory one, or the whole signed bundle."""
    booted = tablet.slots.booted()
    image_sha = sha256(tablet.slots.image(booted))
    assert image_sha in (factory_sha, bundle_sha), f"slot {booted} booted a torn image"
    if image_sha == bundle_sha:
        assert tablet.slots.version(booted) == "1.1.0"
    record = UpdateStore(tablet.config.work_dir / "update.json").load()
    assert record.state in set(State)
    if record.state in (State.TRIAL_BOOT, State.COMMITTED):
        assert booted == record.to_slot


@pytest.mark.slow
def test_power_cuts_anywhere_leave_a_bootable_good_slot(wing: Wing, tmp_path: Path) -> None:
    target = wing.release("1.1.0", size=BUNDLE_SIZE)
    bundle_sha = sha256(wing.repo_dir / "targets" / target)
    rng = random.Random(int(os.environ.get("CELLBRIDGE_SEED", "4")))

    # How long the process takes to start, and an uninterrupted update, to spread the cuts
    # over the work itself.
    probe = wing.tablet(tmp_path / "probe")
    began = time.monotonic()
    assert start(probe, "", "").wait(120) == 0
    startup = time.monotonic() - began
    began = time.monotonic()
    assert start(probe, target, "1.1.0").wait(120) == 10
    span = time.monotonic() - began

    cut_in: list[State] = []
    for point in range(POINTS):
        tablet = wing.tablet(tmp_path / f"t{point}")
        factory_sha = sha256(tablet.slots.image("A"))
        cuts = rng.randint(1, 3)
        runs = 0
        while True:
            process = start(tablet, target, "1.1.0")
            runs += 1
            if cuts:
                cuts -= 1
                time.sleep(rng.uniform(startup * 0.8, span))
                process.send_signal(signal.SIGKILL)
                process.wait(120)
                cut_in.append(UpdateStore(tablet.config.work_dir / "update.json").load().state)
            code = process.wait(120)
            assert code in (0, 10, 11, -signal.SIGKILL), process.stderr.read() if process.stderr else ""
            if code in (10, -signal.SIGKILL):
                tablet.slots.power_cycle()
            assert_bootable(tablet, factory_sha, bundle_sha)
            if code == 0 and not cuts:
                break
            assert runs < 20, "the update never settled"
        record = UpdateStore(tablet.config.work_dir / "update.json").load()
        if record.state == State.COMMITTED:
            assert tablet.slots.booted() == "B" and tablet.slots.version("B") == "1.1.0"
        else:  # cuts during trial boots may use up the new slot's attempts
            assert record.state == State.ROLLED_BACK, record
            assert tablet.slots.booted() == "A"
    print("power cuts landed in:", {s.value: cut_in.count(s) for s in set(cut_in)})

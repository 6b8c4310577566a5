"""`RaucSlots` against the real `rauc service` (tests/support/rauc_service.py): install, the
switch, mark-good, the bootloader's fallback, and the whole update engine on top of it.

Bundles are `plain` here: this host has loop devices but no device-mapper, so RAUC cannot open
the verity bundles tablets take (bundle-formats=-plain there)."""

from __future__ import annotations

import datetime
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from agent.updates.config import UpdatesConfig, build_engine
from agent.updates.engine import Outcome, UpdateEngine
from agent.updates.slots import BundleRefused, RaucSlots, SlotError
from agent.updates.states import State
from agent.updates.store import UpdateRecord, UpdateStore
from provisioning.release import build_rauc_bundle
from provisioning.release_keys import make_release_ca
from tests.support.rauc_service import RaucService, RaucServiceFactory, rauc_service  # noqa: F401
from tests.updates.conftest import Wing
from tests.updates.support import COMPATIBLE, make_image
from wire.tuf_layout import ReleaseMeta

IMAGE_SIZE = 256 * 1024
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def device(wing: Wing, rauc_service: RaucServiceFactory, tmp_path: Path) -> RaucService:  # noqa: F811
    """A fresh tablet on the estate's release CA: factory 1.0.0 booted from A, B empty."""
    factory = make_image(tmp_path / "factory.img", IMAGE_SIZE, seed=1)
    return rauc_service(wing.estate.release_ca, COMPATIBLE, factory, factory_version="1.0.0")


@pytest.fixture
def slots(device: RaucService) -> RaucSlots:
    return device.slots()


def make_bundle(wing: Wing, directory: Path, version: str, compatible: str = COMPATIBLE,
                cert: Path | None = None, key: Path | None = None) -> tuple[Path, bytes]:
    """A plain bundle of a fresh rootfs image, with the image's install-check hook as every OS
    bundle has; returns the bundle and the image's bytes."""
    image = make_image(directory / f"rootfs-{version}-{compatible}.img", IMAGE_SIZE,
                       seed=hash((version, compatible)) & 0xFFFF)
    bundle = build_rauc_bundle(
        {"rootfs": image}, version, compatible, cert or wing.estate.release_cert,
        key or wing.estate.release_key, directory / f"{version}-{compatible}.raucb",
        bundle_format="plain", install_check=True)
    return bundle, image.read_bytes()


def meta(version: str, compatible: str = COMPATIBLE) -> ReleaseMeta:
    return ReleaseMeta(kind="os", version=version, compatible=compatible)


def installed_and_activated(wing: Wing, device: RaucService, slots: RaucSlots,
                            tmp_path: Path) -> bytes:
    bundle, image = make_bundle(wing, tmp_path, "1.1.0")
    slots.install(bundle, meta("1.1.0"))
    slots.activate("B")
    return image


# ---------------------------------------------------------------- RaucSlots alone


def test_booted_other_and_versions_are_read_from_the_rauc_service(
    device: RaucService, slots: RaucSlots
) -> None:
    status = device.status()
    assert status["booted"] == "A"
    assert slots.booted() == "A"
    assert slots.other() == "B"
    # RAUC never wrote the factory slot: its version is the running system's VERSION_ID.
    assert status["by_bootname"]["A"]["slot_status"]["bundle"].get("version") is None
    assert slots.version("A") == "1.0.0"
    assert slots.version("B") is None


def test_install_writes_the_image_into_the_inactive_slot_and_leaves_it_inactive(
    wing: Wing, device: RaucService, slots: RaucSlots, tmp_path: Path
) -> None:
    factory = device.slot_bytes("A")
    bundle, image = make_bundle(wing, tmp_path, "1.1.0")

    slots.install(bundle, meta("1.1.0"))

    assert device.slot_bytes("B")[:len(image)] == image
    assert device.slot_bytes("A") == factory
    status = device.status()
    assert status["by_bootname"]["B"]["slot_status"]["bundle"]["version"] == "1.1.0"
    assert status["booted"] == "A"
    assert status["boot_primary"] == "rootfs.0"
    assert status["by_bootname"]["B"]["boot_status"] == "bad"  # RAUC marked it before writing
    boot = device.bootloader()
    assert boot.order[0] == "A" and boot.left["B"] == 0
    assert slots.version("B") == "1.1.0"
    assert not device.reboot_requested


def test_a_bundle_signed_by_another_ca_is_refused_and_nothing_is_written(
    wing: Wing, device: RaucService, slots: RaucSlots, tmp_path: Path
) -> None:
    _, cert, key = make_release_ca(tmp_path / "rogue-ca", None, name="Rogue")
    bundle, _ = make_bundle(wing, tmp_path, "1.1.0", cert=cert, key=key)
    before = device.bootloader()

    with pytest.raises(BundleRefused, match="rauc refused the bundle"):
        slots.install(bundle, meta("1.1.0"))
    direct = device.rauc("install", str(bundle))  # the service's own check, without RaucSlots'

    assert direct.returncode != 0
    assert "LastError: signature verification failed" in direct.stdout
    assert device.slot_is_blank("B")
    assert device.bootloader() == before
    assert slots.version("B") is None


def test_a_bundle_for_another_compatible_is_refused_by_rauc_itself(
    wing: Wing, device: RaucService, slots: RaucSlots, tmp_path: Path
) -> None:
    bundle, _ = make_bundle(wing, tmp_path, "1.1.0", compatible="another-tablet")
    before = device.bootloader()

    # Even told to expect that compatible (a wrong TUF target), `rauc install` refuses it:
    # the image's install-check hook, run by the service.
    with pytest.raises(BundleRefused, match="the bundle is for 'another-tablet'"):
        slots.install(bundle, meta("1.1.0", "another-tablet"))

    assert device.slot_is_blank("B")
    assert device.bootloader() == before
    assert slots.version("B") is None


def test_a_bundle_older_than_the_running_system_is_refused_by_the_install_check_hook(
    wing: Wing, device: RaucService, slots: RaucSlots, tmp_path: Path
) -> None:
    bundle, _ = make_bundle(wing, tmp_path, "0.9.0")
    before = device.bootloader()

    with pytest.raises(BundleRefused, match=r"older than the running 1\.0\.0"):
        slots.install(bundle, meta("0.9.0"))

    assert device.slot_is_blank("B")
    assert device.bootloader() == before


def test_the_images_rauc_configuration_refuses_a_plain_bundle(
    wing: Wing, rauc_service: RaucServiceFactory, tmp_path: Path  # noqa: F811
) -> None:
    factory = make_image(tmp_path / "factory.img", IMAGE_SIZE, seed=1)
    tablet = rauc_service(wing.estate.release_ca, COMPATIBLE, factory, bundle_formats=None)
    bundle, _ = make_bundle(wing, tmp_path, "1.1.0")  # estate-signed, but not dm-verity

    with pytest.raises(BundleRefused, match="plain"):
        tablet.slots().install(bundle, meta("1.1.0"))

    assert tablet.slot_is_blank("B")
    assert tablet.slots().version("B") is None


def test_activate_and_a_reboot_boot_the_new_slot_on_trial(
    wing: Wing, device: RaucService, slots: RaucSlots, tmp_path: Path
) -> None:
    installed_and_activated(wing, device, slots, tmp_path)
    assert device.status()["boot_primary"] == "rootfs.1"
    old_boot = slots.boot_id()

    slots.reboot()
    assert device.reboot_requested
    assert device.reboot() == "B"

    assert slots.booted() == "B"
    assert slots.other() == "A"
    assert slots.boot_id() != old_boot
    assert device.status()["booted"] == "B"
    assert device.bootloader().left["B"] == device.bootloader().attempts - 1  # on trial


def test_mark_good_commits_the_new_slot(
    wing: Wing, device: RaucService, slots: RaucSlots, tmp_path: Path
) -> None:
    installed_and_activated(wing, device, slots, tmp_path)
    device.reboot()

    slots.mark_good()

    boot = device.bootloader()
    assert boot.left["B"] == boot.attempts
    assert device.status()["by_bootname"]["B"]["boot_status"] == "good"
    assert device.reboot() == "B"
    assert slots.version(slots.booted()) == "1.1.0"


def test_booted_from_the_new_slot_the_next_install_goes_to_the_old_one(
    wing: Wing, device: RaucService, slots: RaucSlots, tmp_path: Path
) -> None:
    first = installed_and_activated(wing, device, slots, tmp_path)
    device.reboot()
    slots.mark_good()
    bundle, image = make_bundle(wing, tmp_path, "1.2.0")

    slots.install(bundle, meta("1.2.0"))

    assert (slots.booted(), slots.other()) == ("B", "A")
    assert device.slot_bytes("A")[:len(image)] == image
    assert device.slot_bytes("B")[:len(first)] == first
    assert (slots.version("A"), slots.version("B")) == ("1.2.0", "1.1.0")
    assert device.status()["by_bootname"]["A"]["boot_status"] == "bad"
    assert device.reboot() == "B"


def test_a_slot_never_marked_good_falls_back_to_the_old_one_after_its_attempts(
    wing: Wing, device: RaucService, slots: RaucSlots, tmp_path: Path
) -> None:
    installed_and_activated(wing, device, slots, tmp_path)
    attempts = device.bootloader().attempts

    booted = [device.reboot() for _ in range(attempts + 1)]

    assert booted == ["B"] * attempts + ["A"]
    assert slots.booted() == "A"
    assert device.status()["booted"] == "A"
    assert device.status()["by_bootname"]["B"]["boot_status"] == "bad"


def test_is_good_is_the_bootloaders_word_on_a_slot(
    wing: Wing, device: RaucService, slots: RaucSlots, tmp_path: Path
) -> None:
    assert (slots.is_good("A"), slots.is_good("B")) == (True, False)  # B: blank, no attempts
    installed_and_activated(wing, device, slots, tmp_path)
    assert (slots.is_good("A"), slots.is_good("B")) == (True, True)
    slots.mark_bad("A")
    assert (slots.is_good("A"), slots.is_good("B")) == (False, True)
    with pytest.raises(SlotError, match="no rootfs slot"):
        slots.is_good("C")


def test_mark_bad_stops_the_slot_from_booting(
    wing: Wing, device: RaucService, slots: RaucSlots, tmp_path: Path
) -> None:
    installed_and_activated(wing, device, slots, tmp_path)
    assert device.reboot() == "B"

    slots.mark_bad("B")

    assert "B" in device.bootloader().bad
    assert device.reboot() == "A"
    assert slots.booted() == "A"


def test_an_unknown_slot_is_an_error_not_a_mark_on_the_booted_slot(
    device: RaucService, slots: RaucSlots
) -> None:
    before = device.bootloader()
    with pytest.raises(SlotError, match="no rootfs slot"):
        slots.mark_bad("C")
    assert device.bootloader() == before


def test_a_reboot_command_that_fails_is_an_error(device: RaucService) -> None:
    slots = RaucSlots(conf=device.conf, bus_address=device.bus_address,
                      reboot_command=["false"])
    with pytest.raises(SlotError, match="reboot failed"):
        slots.reboot()


# ---------------------------------------------------------------- the engine over real RAUC


def release(wing: Wing, version: str) -> str:
    image = make_image(wing.estate.dir / "images" / f"rootfs-{version}.img", IMAGE_SIZE,
                       seed=hash(version) & 0xFFFF)
    info = wing.estate.release_os(image, version, COMPATIBLE, bundle_format="plain")
    wing.publish()
    return info.path


def agent_config(wing: Wing, device: RaucService, tmp_path: Path) -> UpdatesConfig:
    """The agent's [updates] settings on this device: RAUC slots, this service's system.conf."""
    root = tmp_path / "image-root.json"
    root.write_bytes(wing.image_root.read_bytes())
    return UpdatesConfig(
        repository_url=wing.url, ca_file=wing.tls.ca, root_file=root,
        keyring=wing.estate.release_ca, compatible=COMPATIBLE, work_dir=tmp_path / "work",
        slots="rauc", rauc_conf=device.conf, reboot_command=["touch", str(device.reboot_flag)],
        not_before=1_700_000_000)


def rauc_engine(wing: Wing, device: RaucService, tmp_path: Path,
                reports: list[UpdateRecord], healthy: bool = True) -> UpdateEngine:
    """An engine as the agent builds one, with RaucSlots on this device's service; every
    report it sends lands in `reports` (a copy: the engine goes on changing its record)."""
    return build_engine(agent_config(wing, device, tmp_path),
                        now=lambda: datetime.datetime.now(datetime.UTC), health=lambda: healthy,
                        report=lambda record: reports.append(record.model_copy(deep=True)),
                        slots=device.slots())


def installed_by_engine(wing: Wing, device: RaucService, tmp_path: Path,
                        reports: list[UpdateRecord]) -> UpdateEngine:
    """Release 1.1.0 and let an engine install it through RAUC up to its reboot request."""
    engine = rauc_engine(wing, device, tmp_path, reports)
    engine.offer(release(wing, "1.1.0"), "1.1.0")
    assert engine.run() == Outcome.REBOOT
    return engine


def test_the_engine_installs_switches_and_commits_through_real_rauc(
    wing: Wing, device: RaucService, tmp_path: Path
) -> None:
    target = release(wing, "1.1.0")
    reports: list[UpdateRecord] = []
    engine = rauc_engine(wing, device, tmp_path, reports)
    engine.offer(target, "1.1.0")

    assert engine.run() == Outcome.REBOOT
    assert device.reboot_requested
    assert device.status()["boot_primary"] == "rootfs.1"
    assert device.reboot() == "B"
    after = rauc_engine(wing, device, tmp_path, reports)
    assert after.run() == Outcome.SETTLED

    states = [r.state for r in reports]
    for state in (State.DOWNLOADING, State.VERIFIED, State.INSTALLING, State.INSTALLED,
                  State.REBOOTING, State.TRIAL_BOOT, State.COMMITTED):
        assert state in states
    record = after.state()
    assert (record.state, record.from_slot, record.to_slot) == (State.COMMITTED, "A", "B")
    status = device.status()
    assert status["booted"] == "B"
    assert status["by_bootname"]["B"]["boot_status"] == "good"
    assert status["by_bootname"]["B"]["slot_status"]["bundle"]["version"] == "1.1.0"
    assert device.bootloader().left["B"] == device.bootloader().attempts
    assert device.reboot() == "B"


def rolled_back_from_trial(wing: Wing, device: RaucService, tmp_path: Path,
                           reports: list[UpdateRecord], healthy: bool = True) -> UpdateRecord:
    """On the trial boot the engine marks the new slot bad and reboots; the old slot's engine
    then settles: its record."""
    trial = rauc_engine(wing, device, tmp_path, reports, healthy=healthy)
    assert trial.run() == Outcome.REBOOT
    assert device.status()["by_bootname"]["B"]["boot_status"] == "bad"
    assert device.reboot() == "A"
    back = rauc_engine(wing, device, tmp_path, reports)
    assert back.run() == Outcome.SETTLED
    return back.state()


def test_a_failed_health_check_rolls_back_through_real_rauc(
    wing: Wing, device: RaucService, tmp_path: Path
) -> None:
    reports: list[UpdateRecord] = []
    installed_by_engine(wing, device, tmp_path, reports)
    assert device.reboot() == "B"

    record = rolled_back_from_trial(wing, device, tmp_path, reports, healthy=False)
    assert record.state == State.ROLLED_BACK
    assert "health check failed" in record.error
    assert reports[-1].state == State.ROLLED_BACK
    status = device.status()
    assert status["booted"] == "A" == record.from_slot
    assert status["by_bootname"]["B"]["boot_status"] == "bad"
    assert status["by_bootname"]["A"]["boot_status"] == "good"
    assert device.reboot() == "A"


def test_a_new_slot_that_never_reaches_mark_good_is_rolled_back_through_real_rauc(
    wing: Wing, device: RaucService, tmp_path: Path
) -> None:
    reports: list[UpdateRecord] = []
    installed_by_engine(wing, device, tmp_path, reports)
    attempts = device.bootloader().attempts
    # The new slot dies on every boot before the agent runs.
    assert [device.reboot() for _ in range(attempts + 1)] == ["B"] * attempts + ["A"]

    back = rauc_engine(wing, device, tmp_path, reports)
    assert back.run() == Outcome.SETTLED

    record = back.state()
    assert record.state == State.ROLLED_BACK
    assert "never reached mark-good" in record.error
    assert device.status()["booted"] == "A"
    assert device.status()["by_bootname"]["B"]["boot_status"] == "bad"


def test_an_unreadable_record_on_a_trial_boot_rolls_back_through_real_rauc(
    wing: Wing, device: RaucService, tmp_path: Path
) -> None:
    reports: list[UpdateRecord] = []
    installed_by_engine(wing, device, tmp_path, reports)
    assert device.reboot() == "B"
    (tmp_path / "work" / "update.json").write_text("{torn")

    record = rolled_back_from_trial(wing, device, tmp_path, reports)
    assert record.state == State.ROLLED_BACK
    assert "record unreadable" in record.error
    assert device.status()["by_bootname"]["A"]["boot_status"] == "good"
    assert device.reboot() == "A"


def test_the_engine_refuses_a_release_older_than_the_factory_image_through_real_rauc(
    wing: Wing, device: RaucService, tmp_path: Path
) -> None:
    target = release(wing, "0.9.0")
    before = device.bootloader()
    engine = rauc_engine(wing, device, tmp_path, [])
    engine.offer(target, "0.9.0")

    assert engine.run() == Outcome.SETTLED

    record = engine.state()
    assert record.state == State.FAILED
    assert "not newer than 1.0.0" in record.error
    assert device.slot_is_blank("B")
    assert device.bootloader() == before


def test_a_power_cut_in_a_real_install_boots_the_old_slot_and_the_update_resumes(
    wing: Wing, device: RaucService, tmp_path: Path
) -> None:
    target = release(wing, "1.1.0")
    config = agent_config(wing, device, tmp_path)
    config_file = tmp_path / "updates.toml"
    config_file.write_text("".join(f"{key} = {json.dumps(value)}\n" for key, value
                                   in config.model_dump(mode="json", exclude_none=True).items()))
    # RAUC marks the target slot bad before it writes a byte; the power fails right then,
    # with the agent (a real process, its RaucSlots from the config, reading the tablet's
    # /etc/os-release and boot id) waiting on `rauc install`.
    device.hang_at("set-state", "B", "bad")
    agent = subprocess.Popen(
        device.on_tablet([sys.executable, "-m", "agent.updates.run_once", str(config_file),
                          target, "1.1.0"]),
        cwd=ROOT, env=device.env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        device.wait_hung(agent)
    finally:
        os.killpg(agent.pid, signal.SIGKILL)
        agent.wait()
    device.power_cut()

    assert UpdateStore(config.work_dir / "update.json").load().state == State.INSTALLING
    assert device.reboot() == "A"
    assert device.status()["by_bootname"]["B"]["boot_status"] == "bad"

    reports: list[UpdateRecord] = []
    assert rauc_engine(wing, device, tmp_path, reports).run() == Outcome.REBOOT
    assert device.reboot() == "B"
    after = rauc_engine(wing, device, tmp_path, reports)
    assert after.run() == Outcome.SETTLED
    assert after.state().state == State.COMMITTED
    assert device.status()["by_bootname"]["B"]["slot_status"]["bundle"]["version"] == "1.1.0"


def test_rauc_service_dying_during_an_install_is_retried_not_a_refusal(
    wing: Wing, device: RaucService, tmp_path: Path
) -> None:
    import threading

    target = release(wing, "1.1.0")
    reports: list[UpdateRecord] = []
    engine = rauc_engine(wing, device, tmp_path, reports)
    engine.offer(target, "1.1.0")
    device.hang_at("set-state", "B", "bad")  # RAUC is installing: the slot is marked bad
    outcome: list[Outcome] = []
    worker = threading.Thread(target=lambda: outcome.append(engine.run()))
    worker.start()
    device.wait_hung()
    device.power_cut()  # the service alone dies (systemd will start it again); the agent lives
    worker.join(60)

    assert outcome == [Outcome.RETRY]
    record = engine.state()
    assert record.state == State.INSTALLING
    assert "install interrupted" in record.error
    assert device.bootloader().left["B"] == 0  # nothing boots the half-written slot

    device.start()
    assert engine.run() == Outcome.REBOOT
    assert engine.state().state == State.REBOOTING
    assert device.status()["by_bootname"]["B"]["slot_status"]["bundle"]["version"] == "1.1.0"


def test_an_install_while_rauc_is_busy_is_an_error_to_retry_not_a_refusal(
    wing: Wing, device: RaucService, slots: RaucSlots, tmp_path: Path
) -> None:
    bundle, _ = make_bundle(wing, tmp_path, "1.1.0")
    device.hang_at("set-state", "B", "bad")
    busy = subprocess.Popen(["rauc", f"--conf={device.conf}", "install", str(bundle)],
                            env=device.env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        device.wait_hung(busy)
        with pytest.raises(SlotError, match="Already processing") as caught:
            slots.install(bundle, meta("1.1.0"))
        assert not isinstance(caught.value, BundleRefused)
    finally:
        busy.kill()
        busy.wait()

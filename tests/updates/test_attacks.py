"""TUF's attack list against the tablet: every attack is refused and nothing reaches a slot.

Each test plays the attacker against a real repository served over HTTPS, then offers the target
to a tablet's engine and checks the refusal, its reason, and that slot B and the bootloader are
exactly as the factory left them.
"""

from __future__ import annotations

import datetime
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from securesystemslib.signer import CryptoSigner
from tuf.api.metadata import (
    Delegations,
    Metadata,
    MetaFile,
    Root,
    TargetFile,
    Targets,
    Timestamp,
)
from tuf.api.serialization.json import JSONSerializer

from agent.updates.engine import Outcome
from agent.updates.states import State
from agent.updates.tufclient import expired_roles
from provisioning.release import EstateRepository, build_rauc_bundle
from provisioning.release_keys import make_release_ca
from tests.updates.conftest import Wing
from tests.updates.support import COMPATIBLE, Tablet, make_image
from wire.tuf_layout import ReleaseMeta, os_target_path

UTC = datetime.UTC


def now() -> datetime.datetime:
    return datetime.datetime.now(UTC)


def served(wing: Wing, name: str) -> Path:
    return wing.repo_dir / "metadata" / name


def sign_and_serve(wing: Wing, role: str, mutate: Callable[[Any], None],
                   signers: list[CryptoSigner] | None = None, name: str | None = None) -> None:
    """Play an attacker holding `signers` (default: the role's real keys): change the served
    metadata of `role` and sign it."""
    path = served(wing, f"{role}.json")
    md: Metadata[Any] = Metadata.from_file(str(path))
    mutate(md.signed)
    md.signatures.clear()
    for signer in signers if signers is not None else wing.estate.signers(role):
        md.sign(signer, append=True)
    served(wing, name or f"{role}.json").write_bytes(md.to_bytes(JSONSerializer()))


def next_version(**changes: Any) -> Callable[[Any], None]:
    """A mutation for `sign_and_serve`: version+1, plus attribute changes ("a__b" sets a.b)."""

    def mutate(signed: Any) -> None:
        signed.version += 1
        for name, value in changes.items():
            owner = signed
            *path, last = name.split("__")
            for part in path:
                owner = getattr(owner, part)
            setattr(owner, last, value)

    return mutate


def see(tablet: Tablet, target: str) -> None:
    """The tablet refreshes its metadata once (it now trusts the current versions)."""
    tablet.engine().releases.lookup(target, now())


def assert_refused(tablet: Tablet, target: str, version: str, reason: str,
                   clock: Callable[[], datetime.datetime | None] = now) -> None:
    engine = tablet.engine(now=clock)
    engine.offer(target, version)
    outcome = engine.run()
    record = engine.state()
    assert outcome in (Outcome.SETTLED, Outcome.RETRY)
    assert reason in record.error, record.error
    assert record.state in (State.FAILED, State.IDLE)
    tablet.record_unchanged()
    downloads = tablet.config.work_dir / "download"
    assert not downloads.exists() or not any(downloads.iterdir())


def test_arbitrary_software_with_a_valid_name_is_refused(wing: Wing, tablet: Tablet) -> None:
    target = wing.release("1.1.0")
    bundle = wing.repo_dir / "targets" / target
    size = bundle.stat().st_size
    bundle.write_bytes(make_image(tablet.dir / "evil", size, seed=666).read_bytes())
    assert_refused(tablet, target, "1.1.0", "sha256 of the bundle does not match")


def test_timestamp_rollback_is_refused(wing: Wing, tablet: Tablet) -> None:
    old = served(wing, "timestamp.json").read_bytes()
    target = wing.release("1.1.0")
    see(tablet, target)
    served(wing, "timestamp.json").write_bytes(old)
    assert_refused(tablet, target, "1.1.0", "BadVersionNumberError")


def test_snapshot_rollback_is_refused(wing: Wing, tablet: Tablet) -> None:
    old_snapshot = served(wing, "snapshot.json").read_bytes()
    target = wing.release("1.1.0")
    see(tablet, target)
    # A gateway that holds the online keys serves the old snapshot under a new timestamp.
    served(wing, "snapshot.json").write_bytes(old_snapshot)
    sign_and_serve(wing, "timestamp", next_version(snapshot_meta__version=1))
    assert_refused(tablet, target, "1.1.0", "BadVersionNumberError")


def test_targets_rollback_is_refused(wing: Wing, tablet: Tablet) -> None:
    old_targets = served(wing, "targets.json").read_bytes()
    target = wing.release("1.1.0")
    see(tablet, target)
    served(wing, "targets.json").write_bytes(old_targets)
    sign_and_serve(wing, "snapshot", next_version(meta={"targets.json": MetaFile(1)}))
    snapshot_version = Metadata.from_file(str(served(wing, "snapshot.json"))).signed.version
    sign_and_serve(wing, "timestamp", next_version(snapshot_meta__version=snapshot_version))
    assert_refused(tablet, target, "1.1.0", "BadVersionNumberError")


def test_root_rollback_is_refused(wing: Wing, tablet: Tablet) -> None:
    target = wing.release("1.1.0")
    wing.estate.rotate_key("targets")
    wing.publish()
    see(tablet, target)  # the tablet now trusts root v2
    # The attacker serves root v1 as the next root.
    shutil.copyfile(served(wing, "1.root.json"), served(wing, "3.root.json"))
    assert_refused(tablet, target, "1.1.0", "BadVersionNumberError")


def test_bundle_version_rollback_is_refused(wing: Wing, tablet: Tablet, tmp_path: Path) -> None:
    newer = wing.tablet(tmp_path / "newer", factory_version="1.2.0")
    target = wing.release("1.1.0")
    assert_refused(newer, target, "1.1.0", "rollback refused")


def test_fast_forwarded_timestamp_needs_the_timestamp_key(wing: Wing, tablet: Tablet) -> None:
    target = wing.release("1.1.0")
    see(tablet, target)
    attacker = CryptoSigner.generate_ed25519()
    sign_and_serve(wing, "timestamp", lambda ts: setattr(ts, "version", 10**9), [attacker])
    assert_refused(tablet, target, "1.1.0", "UnsignedMetadataError")


def test_fast_forward_recovery_after_timestamp_key_rotation(wing: Wing, tablet: Tablet) -> None:
    target = wing.release("1.1.0")
    # A stolen timestamp key signed a far-future version, and the tablet saw it.
    sign_and_serve(wing, "timestamp", lambda ts: setattr(ts, "version", 10**9))
    see(tablet, target)
    # The estate rotates the timestamp key and starts timestamp versions afresh.
    wing.estate.rotate_key("timestamp")
    timestamp = wing.estate.metadata_dir / "timestamp.json"
    md = Metadata[Timestamp].from_file(str(timestamp))
    md.signed.version = 2
    md.signatures.clear()
    md.sign(wing.estate.signers("timestamp")[0])
    timestamp.write_bytes(md.to_bytes(JSONSerializer()))
    wing.publish()
    engine = tablet.engine()
    engine.offer(target, "1.1.0")
    assert engine.run() == Outcome.REBOOT


def test_expired_metadata_is_refused(wing: Wing, tablet: Tablet) -> None:
    target = wing.release("1.1.0")
    expired = (now() - datetime.timedelta(hours=1)).replace(microsecond=0)
    sign_and_serve(wing, "timestamp", next_version(expires=expired))
    assert_refused(tablet, target, "1.1.0", "ExpiredMetadataError")


def test_a_clock_moved_to_2100_sees_every_release_expired(wing: Wing, tablet: Tablet) -> None:
    target = wing.release("1.1.0")
    assert_refused(tablet, target, "1.1.0", "ExpiredMetadataError",
                   clock=lambda: datetime.datetime(2100, 1, 1, tzinfo=UTC))


def test_expiry_is_judged_by_the_trusted_clock_not_the_system_clock(wing: Wing,
                                                                    tablet: Tablet) -> None:
    """Two days on by the trusted clock, the one-day timestamp has expired, though the host's
    own clock (the only one python-tuf's Updater reads) still finds it fresh."""
    target = wing.release("1.1.0")
    assert_refused(tablet, target, "1.1.0", "ExpiredMetadataError",
                   clock=lambda: now() + datetime.timedelta(days=2))


def test_the_expired_roles_are_named_at_the_trusted_time(wing: Wing, tablet: Tablet) -> None:
    target = wing.release("1.1.0")
    see(tablet, target)
    metadata = tablet.config.work_dir / "tuf"
    assert expired_roles(metadata, now()) == []
    in_days = [[role.split()[0] for role in expired_roles(metadata,
                                                          now() + datetime.timedelta(days=d))]
               for d in (2, 8, 91, 366)]
    assert in_days == [["timestamp"], ["timestamp", "snapshot"],
                       ["timestamp", "snapshot", "targets"],
                       ["root", "timestamp", "snapshot", "targets"]]


def test_delegated_targets_roles_are_refused(wing: Wing, tablet: Tablet) -> None:
    """ngclient would load a delegated role on demand, judged by the system clock alone."""
    target = wing.release("1.1.0")
    sign_and_serve(wing, "targets", next_version(delegations=Delegations(keys={}, roles={})))
    targets_version = Metadata.from_file(str(served(wing, "targets.json"))).signed.version
    sign_and_serve(wing, "snapshot", next_version(meta={"targets.json": MetaFile(targets_version)}))
    snapshot_version = Metadata.from_file(str(served(wing, "snapshot.json"))).signed.version
    sign_and_serve(wing, "timestamp", next_version(snapshot_meta__version=snapshot_version))
    assert_refused(tablet, target, "1.1.0", "delegated targets roles are not supported")


def test_a_clock_moved_to_1970_is_not_trusted(wing: Wing, tablet: Tablet) -> None:
    target = wing.release("1.1.0")
    assert_refused(tablet, target, "1.1.0", "trusted clock 1970",
                   clock=lambda: datetime.datetime(1970, 1, 2, tzinfo=UTC))


def test_no_trusted_time_installs_nothing(wing: Wing, tablet: Tablet) -> None:
    target = wing.release("1.1.0")
    assert_refused(tablet, target, "1.1.0", "no trusted time", clock=lambda: None)


def test_endless_metadata_is_cut_at_its_limit(wing: Wing, tablet: Tablet) -> None:
    target = wing.release("1.1.0")
    wing.hostile.rules["/metadata/timestamp.json"] = "endless"
    assert_refused(tablet, target, "1.1.0", "exceeding the maximum allowed length")


def test_an_endless_bundle_is_cut_at_the_signed_length(wing: Wing, tablet: Tablet) -> None:
    target = wing.release("1.1.0")
    wing.hostile.rules[f"/targets/{target}"] = "endless"
    assert_refused(tablet, target, "1.1.0", "more than the signed length")


def test_slow_metadata_retrieval_is_abandoned(wing: Wing, tmp_path: Path) -> None:
    tablet = wing.tablet(tmp_path / "t", metadata_deadline_s=1.0)
    target = wing.release("1.1.0")
    wing.hostile.rules["/metadata/timestamp.json"] = "trickle"
    assert_refused(tablet, target, "1.1.0", "not delivered within")


def test_slow_bundle_retrieval_is_abandoned(wing: Wing, tmp_path: Path) -> None:
    tablet = wing.tablet(tmp_path / "t", download_deadline_s=1.0)
    target = wing.release("1.1.0")
    wing.hostile.rules[f"/targets/{target}"] = "trickle"
    assert_refused(tablet, target, "1.1.0", "slow retrieval")


def test_mix_and_match_of_metadata_is_refused(wing: Wing, tablet: Tablet) -> None:
    target_v1 = wing.release("1.1.0")
    old_targets = served(wing, "targets.json").read_bytes()
    wing.release("1.2.0")
    # Current timestamp and snapshot, but the targets of an earlier release.
    served(wing, "targets.json").write_bytes(old_targets)
    assert_refused(tablet, target_v1, "1.1.0", "BadVersionNumberError")


def test_a_malicious_mirror_with_its_own_keys_is_refused(wing: Wing, tablet: Tablet,
                                                         tmp_path: Path) -> None:
    mirror = EstateRepository.init(tmp_path / "mirror", None, insecure_demo=True)
    image = make_image(tmp_path / "evil.img", 4096, seed=7)
    info = mirror.release_os(image, "9.0.0", COMPATIBLE)
    shutil.rmtree(wing.repo_dir / "metadata")
    mirror.publish(wing.repo_dir)
    assert_refused(tablet, info.path, "9.0.0", "metadata refused")


def test_a_root_signed_below_threshold_is_refused(wing: Wing, tablet: Tablet) -> None:
    target = wing.release("1.1.0")
    attacker = CryptoSigner.generate_ed25519()
    one_root_key = wing.estate.signers("root")[:1]

    def take_over(root: Root) -> None:
        root.version += 1
        for keyid in list(root.roles["targets"].keyids):
            root.revoke_key(keyid, "targets")
        root.add_key(attacker.public_key, "targets")

    sign_and_serve(wing, "root", take_over, one_root_key, name="2.root.json")
    assert_refused(tablet, target, "1.1.0", "UnsignedMetadataError")


def test_a_release_for_another_device_type_is_refused(wing: Wing, tablet: Tablet) -> None:
    target = wing.release("1.1.0", compatible="another-tablet")
    assert_refused(tablet, target, "1.1.0", "release is for 'another-tablet'")


def test_a_bundle_built_for_another_device_type_is_refused_by_rauc(
    wing: Wing, tablet: Tablet, tmp_path: Path
) -> None:
    # The targets key signs it for this tablet, but the RAUC manifest names another type.
    bundle = build_rauc_bundle({"rootfs": make_image(tmp_path / "r.img", 4096, 3)}, "1.1.0",
                               "another-tablet", wing.estate.release_cert,
                               wing.estate.release_key, tmp_path / "b.raucb")
    target = _sign_as_target(wing, bundle, "1.1.0")
    assert_refused(tablet, target, "1.1.0", "bundle is for 'another-tablet'")


def test_a_bundle_not_signed_by_the_release_ca_is_refused_by_rauc(
    wing: Wing, tablet: Tablet, tmp_path: Path
) -> None:
    # TUF vouches for the file (a stolen targets key), but RAUC's signature check is separate.
    _, cert, key = make_release_ca(tmp_path / "rogue-ca", None, name="Rogue")
    bundle = build_rauc_bundle({"rootfs": make_image(tmp_path / "r.img", 4096, 3)}, "1.1.0",
                               COMPATIBLE, cert, key, tmp_path / "b.raucb")
    target = _sign_as_target(wing, bundle, "1.1.0")
    assert_refused(tablet, target, "1.1.0", "rauc refused the bundle")


def _sign_as_target(wing: Wing, bundle: Path, version: str) -> str:
    path = os_target_path(version)
    meta = ReleaseMeta(kind="os", version=version, compatible=COMPATIBLE)
    wing.estate.add_target(path, bundle, meta)
    wing.publish()
    info = Metadata[Targets].from_file(str(served(wing, "targets.json"))).signed.targets[path]
    assert isinstance(info, TargetFile)
    return path


"""Key rotation: a new root is trusted only when the old root's threshold and its own both sign."""

from __future__ import annotations

import datetime

import pytest
from securesystemslib.signer import CryptoSigner
from tuf.api.metadata import Metadata, Root
from tuf.api.serialization.json import JSONSerializer

from agent.updates.engine import Outcome
from agent.updates.states import State
from agent.updates.tufclient import ReleaseRefused
from tests.updates.conftest import Wing
from tests.updates.support import Tablet


def now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def test_the_release_tool_rotates_a_root_key_and_tablets_follow(wing: Wing,
                                                                tablet: Tablet) -> None:
    old = set(Metadata[Root].from_file(str(wing.estate.metadata_dir / "root.json"))
              .signed.roles["root"].keyids)
    new_key = wing.estate.rotate_key("root")
    target = wing.release("1.1.0")
    root = Metadata[Root].from_file(str(wing.repo_dir / "metadata" / "2.root.json")).signed
    assert new_key in root.roles["root"].keyids and len(old & set(root.roles["root"].keyids)) == 2

    engine = tablet.engine()
    engine.offer(target, "1.1.0")
    assert engine.run() == Outcome.REBOOT
    assert (tablet.config.work_dir / "tuf" / "root_history" / "2.root.json").exists()


def test_a_rotated_targets_key_signs_the_next_release(wing: Wing, tablet: Tablet) -> None:
    wing.estate.rotate_key("targets")
    target = wing.release("1.1.0")
    engine = tablet.engine()
    engine.offer(target, "1.1.0")
    assert engine.run() == Outcome.REBOOT
    assert engine.state().state == State.REBOOTING


def _rotated_root(wing: Wing, signer_names: list[str]) -> None:
    """Serve root v2 that replaces root key 1 by a new key, signed by the named keys."""
    old = wing.estate.signers("root")
    new = CryptoSigner.generate_ed25519()
    md = Metadata[Root].from_file(str(wing.repo_dir / "metadata" / "root.json"))
    md.signed.version = 2
    md.signed.revoke_key(old[0].public_key.keyid, "root")
    md.signed.add_key(new.public_key, "root")
    by_name = {"old1": old[0], "old2": old[1], "old3": old[2], "new": new}
    md.signatures.clear()
    for name in signer_names:
        md.sign(by_name[name], append=True)
    (wing.repo_dir / "metadata" / "2.root.json").write_bytes(md.to_bytes(JSONSerializer()))


@pytest.mark.parametrize(
    ("signers", "accepted"),
    [
        (["old1", "old2", "new"], True),  # old threshold (old1, old2) and new (old2, new)
        (["old1", "old2"], False),  # old threshold only: the new root has 1 of 2
        (["old3", "new"], False),  # new threshold only: the old root has 1 of 2
        (["new"], False),
    ],
)
def test_a_new_root_needs_both_thresholds(wing: Wing, tablet: Tablet, signers: list[str],
                                          accepted: bool) -> None:
    target = wing.release("1.1.0")
    _rotated_root(wing, signers)
    releases = tablet.engine().releases
    if accepted:
        assert releases.lookup(target, now()).meta.version == "1.1.0"
        assert (tablet.config.work_dir / "tuf" / "root_history" / "2.root.json").exists()
    else:
        with pytest.raises(ReleaseRefused, match="UnsignedMetadataError"):
            releases.lookup(target, now())
        assert not (tablet.config.work_dir / "tuf" / "root_history" / "2.root.json").exists()

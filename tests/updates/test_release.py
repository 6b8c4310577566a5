"""`cellbridge release`: the estate's TUF repository, real RAUC bundles, publishing, rotation."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from tuf.api.metadata import Metadata, Root, Targets

from agent.updates.slots import rauc_info
from provisioning.release_cli import release
from tests.updates.support import COMPATIBLE, make_image

PASSPHRASE = "correct horse battery staple"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def estate(tmp_path: Path) -> Path:
    directory = tmp_path / "estate"
    result = CliRunner().invoke(release, ["init", "--dir", str(directory), "--json"],
                                env={"CELLBRIDGE_RELEASE_PASSPHRASE": PASSPHRASE})
    assert result.exit_code == 0, result.output
    return directory


def invoke(*args: str, passphrase: str | None = PASSPHRASE) -> tuple[int, str]:
    env = {"CELLBRIDGE_RELEASE_PASSPHRASE": passphrase} if passphrase else {}
    result = CliRunner().invoke(release, list(args), env=env)
    return result.exit_code, result.output


def test_init_makes_a_two_of_three_root_and_encrypts_the_offline_keys(estate: Path) -> None:
    root = Metadata[Root].from_file(str(estate / "metadata" / "1.root.json")).signed
    assert root.roles["root"].threshold == 2 and len(root.roles["root"].keyids) == 3
    assert {key.keytype for key in root.keys.values()} == {"ed25519"}
    assert len(Metadata[Root].from_file(str(estate / "metadata" / "1.root.json")).signatures) == 3
    for offline in ["keys/root-1.pem", "keys/root-2.pem", "keys/root-3.pem", "keys/targets.pem",
                    "release-ca/release.key", "release-ca/ca.key"]:
        assert b"ENCRYPTED PRIVATE KEY" in (estate / offline).read_bytes(), offline
        assert (estate / offline).stat().st_mode & 0o077 == 0
    assert b"ENCRYPTED" not in (estate / "online" / "timestamp.pem").read_bytes()


def test_init_without_a_passphrase_or_the_demo_flag_is_refused(tmp_path: Path) -> None:
    code, output = invoke("init", "--dir", str(tmp_path / "e"), passphrase=None)
    assert code != 0 and "passphrase" in output
    assert not (tmp_path / "e" / "metadata").exists()


def test_an_os_release_is_a_rauc_bundle_signed_by_the_release_ca(estate: Path,
                                                                 tmp_path: Path) -> None:
    image = make_image(tmp_path / "rootfs.img", 100_000, seed=5)
    code, output = invoke("os", "--dir", str(estate), "--version", "2.0.1", "--compatible",
                          COMPATIBLE, str(image), "--json")
    assert code == 0, output
    target = json.loads(output)["target"]
    info = Metadata[Targets].from_file(str(estate / "metadata" / "targets.json")).signed
    assert info.targets[target].custom == {"kind": "os", "version": "2.0.1",
                                           "compatible": COMPATIBLE}
    bundle = rauc_info(estate / "targets" / target, estate / "release-ca" / "ca.pem")
    assert (bundle.compatible, bundle.version) == (COMPATIBLE, "2.0.1")


def test_a_wrong_passphrase_signs_nothing(estate: Path, tmp_path: Path) -> None:
    before = (estate / "metadata" / "targets.json").read_bytes()
    image = make_image(tmp_path / "rootfs.img", 20_000, seed=5)
    code, output = invoke("os", "--dir", str(estate), "--version", "2.0.1", "--compatible",
                          COMPATIBLE, str(image), passphrase="not the passphrase")
    assert code != 0
    assert "wrong passphrase" in output
    assert (estate / "metadata" / "targets.json").read_bytes() == before


def test_a_release_not_newer_than_the_last_is_refused(estate: Path, tmp_path: Path) -> None:
    image = make_image(tmp_path / "rootfs.img", 20_000, seed=5)
    assert invoke("os", "--dir", str(estate), "--version", "2.0.0", "--compatible", COMPATIBLE,
                  str(image))[0] == 0
    code, output = invoke("os", "--dir", str(estate), "--version", "1.9.9", "--compatible",
                          COMPATIBLE, str(image))
    assert code != 0 and "not newer than released 2.0.0" in output


def test_an_app_release_is_a_target_of_kind_app(estate: Path, tmp_path: Path) -> None:
    payload = make_image(tmp_path / "app.img", 5000, seed=9)
    code, output = invoke("app", "--dir", str(estate), "--app", "education", "--version", "3",
                          "--compatible", COMPATIBLE, str(payload), "--json")
    assert code == 0, output
    target = json.loads(output)["target"]
    assert target == "app/education-3.raucb"
    custom = Metadata[Targets].from_file(str(estate / "metadata" / "targets.json")) \
        .signed.targets[target].custom
    assert custom["kind"] == "app" and custom["app"] == "education"


def test_publish_hands_metadata_bundles_and_online_keys_to_the_gateway(
    estate: Path, tmp_path: Path
) -> None:
    image = make_image(tmp_path / "rootfs.img", 20_000, seed=5)
    invoke("os", "--dir", str(estate), "--version", "2.0.0", "--compatible", COMPATIBLE,
           str(image))
    gateway = tmp_path / "gateway-repo"
    code, output = invoke("publish", "--dir", str(estate), str(gateway), passphrase=None)
    assert code == 0, output
    for name in ["1.root.json", "root.json", "targets.json", "snapshot.json", "timestamp.json"]:
        assert (gateway / "metadata" / name).read_bytes() == \
            (estate / "metadata" / name).read_bytes()
    assert (gateway / "targets" / "os" / "cellbridge-os-2.0.0.raucb").exists()
    assert sorted(p.name for p in (gateway / "keys").iterdir()) == ["snapshot.pem",
                                                                    "timestamp.pem"]
    assert (gateway / "keys" / "timestamp.pem").stat().st_mode & 0o077 == 0


def test_rotate_key_signs_the_new_root_with_both_thresholds(estate: Path) -> None:
    code, output = invoke("rotate-key", "--dir", str(estate), "--role", "root", "--json")
    assert code == 0, output
    old = Metadata[Root].from_file(str(estate / "metadata" / "1.root.json"))
    new = Metadata[Root].from_file(str(estate / "metadata" / "2.root.json"))
    old.signed.verify_delegate("root", new.signed_bytes, new.signatures)
    new.signed.verify_delegate("root", new.signed_bytes, new.signatures)
    assert json.loads(output)["keyid"] in new.signed.roles["root"].keyids
    assert json.loads(output)["keyid"] not in old.signed.roles["root"].keyids


def test_the_release_command_is_on_the_front_door(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "cellbridge", "release", "init", "--dir", str(tmp_path / "e"),
         "--insecure-demo-keys"],
        cwd=ROOT, capture_output=True, text=True, env={**os.environ}, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "e" / "INSECURE-DEMO-KEYS").exists()
    assert b"ENCRYPTED" not in (tmp_path / "e" / "keys" / "targets.pem").read_bytes()


def test_releases_default_to_the_compatible_set_at_init(tmp_path: Path) -> None:
    code, _ = invoke("init", "--dir", str(tmp_path / "e"), "--compatible", "wing-tab-v2")
    assert code == 0
    image = make_image(tmp_path / "rootfs.img", 20_000, seed=5)
    code, output = invoke("os", "--dir", str(tmp_path / "e"), "--version", "1.0.1", str(image),
                          "--json")
    assert code == 0, output
    bundle = rauc_info(tmp_path / "e" / "targets" / json.loads(output)["target"],
                       tmp_path / "e" / "release-ca" / "ca.pem")
    assert bundle.compatible == "wing-tab-v2"


def test_a_malformed_version_is_refused_in_one_line(estate: Path, tmp_path: Path) -> None:
    image = make_image(tmp_path / "rootfs.img", 20_000, seed=5)
    code, output = invoke("os", "--dir", str(estate), "--version", "1.0; rm -rf /", str(image))
    assert code != 0
    assert len(output.strip().splitlines()) == 1

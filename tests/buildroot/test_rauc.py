"""RAUC: the rendered system.conf, the keyring and the install-check hook, with real `rauc` bundles."""

from __future__ import annotations

import datetime
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.buildroot.support import TREE, board_meta, copy_overlays, run_post_build

BOARD = "qemu-aarch64"
COMPATIBLE = board_meta(BOARD)["RAUC_COMPATIBLE"]
RUNNING_VERSION = "1.2.3"
MAKE_BUNDLE = TREE / "scripts" / "make-bundle.sh"
HOOK = TREE / "board" / "common" / "rauc" / "hook"
DEV = TREE / "board" / "common" / "rauc" / "dev"


def tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is missing: run `make setup`")
    return path


@dataclass(frozen=True)
class Signer:
    cert: Path
    key: Path


def make_signer(directory: Path, name: str) -> Signer:
    """A self-signed EC P-256 signer, the shape of the estate's release CA."""
    directory.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / f"{name}.cert.pem", directory / f"{name}.key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_path.chmod(0o600)
    return Signer(cert_path, key_path)


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("rauc")


@pytest.fixture(scope="module")
def estate(work: Path) -> Signer:
    return make_signer(work / "keys", "estate-release")


@pytest.fixture(scope="module")
def rootfs(work: Path) -> Path:
    """A real squashfs root image (RAUC's verity format needs more than one block)."""
    tree = work / "rootfs"
    (tree / "etc").mkdir(parents=True)
    (tree / "etc" / "payload").write_bytes(os.urandom(64 * 1024))
    image = work / "rootfs.squashfs"
    subprocess.run([tool("mksquashfs"), str(tree), str(image), "-quiet", "-noappend"], check=True)
    return image


@pytest.fixture(scope="module")
def release_image(work: Path, estate: Signer) -> Path:
    """The target tree of a release build whose keyring is the estate's CA, running RUNNING_VERSION."""
    target = copy_overlays(BOARD, work / "release-target")
    root = work / "tuf-root.json"
    root.write_text('{"signed": {"_type": "root"}}\n')
    extra = (
        f'BR2_CELLBRIDGE_TUF_ROOT="{root}"\n'

        f"\n# BR2_CELLBRIDGE_DEPLOYMENT_DEVELOPMENT is not set\nBR2_CELLBRIDGE_DEPLOYMENT_RELEASE=y\n"
        f'BR2_CELLBRIDGE_RELEASE_KEYRING="{estate.cert}"\nBR2_CELLBRIDGE_OS_VERSION="{RUNNING_VERSION}"\n'
    )
    result = run_post_build(target, BOARD, work, extra)
    assert result.returncode == 0, result.stderr
    return target


def bundle(work: Path, rootfs: Path, signer: Signer, compatible: str, version: str) -> Path:
    out = work / f"{compatible}-{version}-{signer.cert.stem}.raucb"
    if not out.exists():
        result = subprocess.run(
            [
                "sh",
                str(MAKE_BUNDLE),
                compatible,
                version,
                str(rootfs),
                str(signer.cert),
                str(signer.key),
                str(out),
            ],
            capture_output=True,
            text=True,
            check=False,
            env={**os.environ, "RAUC": tool("rauc")},
        )
        assert result.returncode == 0, result.stderr
    return out


def rauc_info(image: Path, bundle_path: Path) -> subprocess.CompletedProcess[str]:
    """`rauc info` as the tablet would run it: its system.conf, its keyring."""
    return subprocess.run(
        [
            tool("rauc"),
            f"--conf={image / 'etc/rauc/system.conf'}",
            f"--keyring={image / 'etc/rauc/keyring.pem'}",
            "info",
            "--output-format=shell",
            str(bundle_path),
        ],
        capture_output=True,
        text=True,
        check=False,
    )


def manifest_env(info_stdout: str) -> dict[str, str]:
    return {
        m.group(1): m.group(2) for m in re.finditer(r"^(RAUC_MF_\w+)='(.*)'$", info_stdout, re.M)
    }


def system_compatible(image: Path) -> str:
    text = (image / "etc" / "rauc" / "system.conf").read_text()
    match = re.search(r"^compatible=(.+)$", text, re.M)
    assert match
    return match.group(1)


def install_check(image: Path, bundle_path: Path, work: Path) -> subprocess.CompletedProcess[str]:
    """Verify the bundle with the image's keyring, extract it, and run the hook it carries."""
    info = rauc_info(image, bundle_path)
    assert info.returncode == 0, info.stderr
    extracted = work / f"extract-{bundle_path.stem}"
    if not extracted.exists():
        subprocess.run(
            [
                tool("rauc"),
                f"--keyring={image / 'etc/rauc/keyring.pem'}",
                "extract",
                str(bundle_path),
                str(extracted),
            ],
            capture_output=True,
            check=True,
        )
    env = {
        **os.environ,
        **manifest_env(info.stdout),
        "RAUC_SYSTEM_COMPATIBLE": system_compatible(image),
        "CELLBRIDGE_OS_RELEASE": str(image / "etc" / "os-release"),
    }
    return subprocess.run(
        [str(extracted / "hook"), "install-check"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def test_system_conf_names_this_board_and_its_ab_root_slots(release_image: Path) -> None:
    text = (release_image / "etc" / "rauc" / "system.conf").read_text()
    meta = board_meta(BOARD)
    assert system_compatible(release_image) == COMPATIBLE
    assert f"[slot.rootfs.0]\ndevice={meta['ROOTFS_A']}\ntype=raw\nbootname=A" in text
    assert f"[slot.rootfs.1]\ndevice={meta['ROOTFS_B']}\ntype=raw\nbootname=B" in text
    assert "bootloader=uboot" in text
    assert "@" not in text


def test_an_installed_slot_is_not_activated_until_the_agent_switches_in_its_window(
    release_image: Path,
) -> None:
    text = (release_image / "etc" / "rauc" / "system.conf").read_text()
    assert "\nactivate-installed=false\n" in text


def test_a_bundle_for_this_compatible_is_accepted(
    release_image: Path, rootfs: Path, estate: Signer, work: Path
) -> None:
    ok = bundle(work, rootfs, estate, COMPATIBLE, "1.3.0")
    result = install_check(release_image, ok, work)
    assert (result.returncode, result.stderr) == (0, "")


def test_a_bundle_for_another_compatible_is_refused(
    release_image: Path, rootfs: Path, estate: Signer, work: Path
) -> None:
    other = bundle(work, rootfs, estate, "cellbridge-rpi4", "1.3.0")
    result = install_check(release_image, other, work)
    assert result.returncode == 10
    assert (
        result.stderr.strip()
        == f"refused: the bundle is for 'cellbridge-rpi4', this tablet is '{COMPATIBLE}'"
    )


def test_a_bundle_older_than_the_running_image_is_refused(
    release_image: Path, rootfs: Path, estate: Signer, work: Path
) -> None:
    old = bundle(work, rootfs, estate, COMPATIBLE, "1.2.2")
    result = install_check(release_image, old, work)
    assert result.returncode == 10
    assert "older than the running 1.2.3" in result.stderr


def test_the_same_version_may_be_reinstalled(
    release_image: Path, rootfs: Path, estate: Signer, work: Path
) -> None:
    same = bundle(work, rootfs, estate, COMPATIBLE, RUNNING_VERSION)
    assert install_check(release_image, same, work).returncode == 0


def test_a_release_image_refuses_a_bundle_signed_by_another_key(
    release_image: Path, rootfs: Path, work: Path
) -> None:
    intruder = make_signer(work / "keys", "intruder")
    forged = bundle(work, rootfs, intruder, COMPATIBLE, "9.0.0")
    result = rauc_info(release_image, forged)
    assert result.returncode != 0
    assert "signature verification failed" in result.stderr


def test_a_release_image_refuses_a_development_bundle(
    release_image: Path, rootfs: Path, work: Path
) -> None:
    dev_bundle = bundle(
        work, rootfs, Signer(DEV / "ca.cert.pem", DEV / "ca.key.pem"), COMPATIBLE, "9.0.0"
    )
    assert rauc_info(release_image, dev_bundle).returncode != 0


def test_a_development_image_trusts_the_development_signer(
    rootfs: Path, estate: Signer, work: Path
) -> None:
    target = copy_overlays(BOARD, work / "dev-target")
    assert run_post_build(target, BOARD, work).returncode == 0
    dev_bundle = bundle(
        work, rootfs, Signer(DEV / "ca.cert.pem", DEV / "ca.key.pem"), COMPATIBLE, "9.0.0"
    )
    assert rauc_info(target, dev_bundle).returncode == 0
    assert rauc_info(target, bundle(work, rootfs, estate, COMPATIBLE, "1.3.0")).returncode != 0


def hook(env: dict[str, str], hook_type: str = "install-check") -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("RAUC_", "CELLBRIDGE_"))}
    return subprocess.run(
        [str(HOOK), hook_type],
        env={**clean, "CELLBRIDGE_OS_RELEASE": "/nonexistent", **env},
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.mark.parametrize(
    ("env", "reason"),
    [
        (
            {"RAUC_MF_COMPATIBLE": COMPATIBLE, "RAUC_MF_VERSION": "1.0"},
            "this tablet has no compatible string",
        ),
        ({"RAUC_SYSTEM_COMPATIBLE": COMPATIBLE, "RAUC_MF_VERSION": "1.0"}, "the bundle is for ''"),
        (
            {
                "RAUC_SYSTEM_COMPATIBLE": COMPATIBLE,
                "RAUC_MF_COMPATIBLE": COMPATIBLE + "-x",
                "RAUC_MF_VERSION": "1.0",
            },
            "the bundle is for",
        ),
        (
            {"RAUC_SYSTEM_COMPATIBLE": COMPATIBLE, "RAUC_MF_COMPATIBLE": COMPATIBLE},
            "version '' is not a dotted number",
        ),
        (
            {
                "RAUC_SYSTEM_COMPATIBLE": COMPATIBLE,
                "RAUC_MF_COMPATIBLE": COMPATIBLE,
                "RAUC_MF_VERSION": "1.2.3-rc1",
            },
            "is not a dotted number",
        ),
        (
            {
                "RAUC_SYSTEM_COMPATIBLE": COMPATIBLE,
                "RAUC_MF_COMPATIBLE": COMPATIBLE,
                "RAUC_MF_VERSION": "1;reboot",
            },
            "is not a dotted number",
        ),
    ],
)
def test_install_check_refuses_with_exit_10_and_a_reason(env: dict[str, str], reason: str) -> None:
    result = hook(env)
    assert result.returncode == 10
    assert reason in result.stderr


@pytest.mark.parametrize(
    ("running", "candidate", "refused"),
    [
        ("1.2.3", "1.2.10", False),
        ("1.10", "1.9", True),
        ("2", "1.99.99", True),
        ("1.2", "1.2.0", False),
        ("1.2.0", "1.2", False),
        ("0.9", "1.0", False),
    ],
)
def test_install_check_compares_versions_numerically(
    tmp_path: Path, running: str, candidate: str, refused: bool
) -> None:
    os_release = tmp_path / "os-release"
    os_release.write_text(f'NAME="Cellbridge tablet OS"\nVERSION_ID={running}\n')
    result = hook(
        {
            "RAUC_SYSTEM_COMPATIBLE": COMPATIBLE,
            "RAUC_MF_COMPATIBLE": COMPATIBLE,
            "RAUC_MF_VERSION": candidate,
            "CELLBRIDGE_OS_RELEASE": str(os_release),
        }
    )
    assert result.returncode == (10 if refused else 0)


def test_the_hook_fails_for_a_hook_type_it_does_not_implement() -> None:
    assert hook({}, "slot-post-install").returncode == 1

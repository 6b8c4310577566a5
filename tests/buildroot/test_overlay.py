"""post-build.sh: the modes and owners the overlay needs, and what a release image leaves out."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest

from agent.updates.config import TUF_ROOT_FILE
from tests.buildroot.support import BOARDS, TREE, board_meta, copy_overlays, run_post_build

PERMISSIONS = TREE / "board" / "common" / "permissions.table"
DEV_KEYRING = TREE / "board" / "common" / "rauc" / "dev" / "ca.cert.pem"
RELEASE = (
    "\n# BR2_CELLBRIDGE_DEPLOYMENT_DEVELOPMENT is not set\nBR2_CELLBRIDGE_DEPLOYMENT_RELEASE=y\n"
)
SHELLS = {
    "getty@.service",
    "serial-getty@.service",
    "console-getty.service",
    "autovt@.service",
    "debug-shell.service",
    "emergency.service",
    "rescue.service",
    "sshd.service",
    "dropbear.service",
}


def table() -> list[tuple[str, str, int, int, int]]:
    rows = []
    for line in PERMISSIONS.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, kind, mode, uid, gid, *_ = line.split()
            rows.append((name, kind, int(mode, 8), int(uid), int(gid)))
    return rows


def scramble(target: Path) -> None:
    """Give every file the worst modes a checkout or umask could leave, and plant private keys."""
    for key in ("etc/cellbridge/private/device.key.pem", "etc/cellbridge/tls/client.key"):
        (target / key).parent.mkdir(parents=True, exist_ok=True)
        (target / key).write_text("-----BEGIN PRIVATE KEY-----\n")
    for path in target.rglob("*"):
        if not path.is_symlink():
            path.chmod(0o777 if path.is_dir() else 0o666)


@pytest.fixture(params=sorted(BOARDS))
def built(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, Path]:
    board: str = request.param
    target = copy_overlays(board, tmp_path / "target")
    scramble(target)
    result = run_post_build(target, board, tmp_path)
    assert result.returncode == 0, result.stderr
    return board, target


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def test_nothing_is_world_writable(built: tuple[str, Path]) -> None:
    _, target = built
    writable = [
        str(p.relative_to(target))
        for p in target.rglob("*")
        if not p.is_symlink() and mode(p) & 0o002 and not (p.is_dir() and mode(p) & 0o1000)
    ]
    assert writable == []


def test_private_keys_are_0600(built: tuple[str, Path]) -> None:
    _, target = built
    assert mode(target / "etc/cellbridge/private/device.key.pem") == 0o600
    assert mode(target / "etc/cellbridge/tls/client.key") == 0o600


def test_scripts_are_executable_and_units_are_not(built: tuple[str, Path]) -> None:
    _, target = built
    assert mode(target / "usr/libexec/cellbridge/network-policy") == 0o755
    for unit in (target / "etc/systemd/system").rglob("*"):
        if unit.is_file() and not unit.is_symlink():
            assert mode(unit) == 0o644, unit


def test_the_permissions_table_holds_on_the_target(built: tuple[str, Path]) -> None:
    _, target = built
    for name, kind, wanted, _, _ in table():
        path = target / name.lstrip("/")
        assert path.exists(), name
        assert path.is_dir() == (kind == "d"), name
        assert mode(path) == wanted, name


def test_the_permissions_table_gives_everything_to_root() -> None:
    assert {(uid, gid) for *_, uid, gid in table()} == {(0, 0)}


def test_the_state_partition_mount_point_and_the_firewall_are_roots_alone(
    built: tuple[str, Path],
) -> None:
    _, target = built
    assert mode(target / "var/lib/cellbridge") == 0o700
    assert mode(target / "etc/nftables/cellbridge.nft") == 0o600


def test_the_shell_user_cannot_log_in_and_has_no_privileged_group() -> None:
    rows = [
        line.split(maxsplit=8)
        for line in (TREE / "board/common/users.table").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert [r[0] for r in rows] == ["cellbridge-shell"]
    _user, uid, _group, _gid, password, _home, shell, groups, _comment = rows[0]
    assert (uid, password, shell) == ("-1", "!", "/bin/false")
    assert set(groups.split(",")) == {"video", "input", "render"}


def test_os_release_carries_the_version_board_and_deployment(built: tuple[str, Path]) -> None:
    board, target = built
    text = (target / "etc" / "os-release").read_text()
    assert "VERSION_ID=0.1.0" in text.splitlines()
    assert "VARIANT_ID=development" in text.splitlines()
    assert f"CELLBRIDGE_COMPATIBLE={board_meta(board)['RAUC_COMPATIBLE']}" in text.splitlines()


def test_a_development_image_trusts_the_development_keyring_and_keeps_its_console(
    built: tuple[str, Path],
) -> None:
    _, target = built
    assert (target / "etc/rauc/keyring.pem").read_bytes() == DEV_KEYRING.read_bytes()
    assert not any((target / "etc/systemd/system" / unit).is_symlink() for unit in SHELLS)


def release_keyring(tmp_path: Path) -> Path:
    keyring = tmp_path / "release-ca.pem"
    keyring.write_text("-----BEGIN CERTIFICATE-----\nestate\n-----END CERTIFICATE-----\n")
    return keyring


def tuf_root(tmp_path: Path) -> Path:
    root = tmp_path / "root.json"
    root.write_text('{"signatures": [], "signed": {"_type": "root", "version": 1}}\n')
    return root


def release_config(tmp_path: Path) -> str:
    return (
        RELEASE
        + f'BR2_CELLBRIDGE_RELEASE_KEYRING="{release_keyring(tmp_path)}"\n'
        + f'BR2_CELLBRIDGE_TUF_ROOT="{tuf_root(tmp_path)}"\n'
    )


def test_a_release_image_masks_every_way_to_a_shell(tmp_path: Path) -> None:
    target = copy_overlays("rpi4", tmp_path / "target")
    extra = release_config(tmp_path)
    result = run_post_build(target, "rpi4", tmp_path, extra)
    assert result.returncode == 0, result.stderr
    for unit in SHELLS:
        assert os.readlink(target / "etc/systemd/system" / unit) == "/dev/null", unit
    assert (target / "etc/rauc/keyring.pem").read_bytes() == release_keyring(tmp_path).read_bytes()
    assert "VARIANT_ID=release" in (target / "usr/lib/os-release").read_text().splitlines()


@pytest.mark.parametrize(
    ("keyring_line", "message"),
    [
        ("", "set BR2_CELLBRIDGE_RELEASE_KEYRING"),
        (
            'BR2_CELLBRIDGE_RELEASE_KEYRING="/nonexistent/ca.pem"\n',
            "cannot read the release keyring",
        ),
        (
            f'BR2_CELLBRIDGE_RELEASE_KEYRING="{DEV_KEYRING}"\n',
            "refusing to trust the development keyring",
        ),
        (f'BR2_CELLBRIDGE_RELEASE_KEYRING="{PERMISSIONS}"\n', "holds no PEM certificate"),
    ],
)
def test_a_release_build_stops_without_a_proper_release_keyring(
    tmp_path: Path, keyring_line: str, message: str
) -> None:
    target = copy_overlays("qemu-aarch64", tmp_path / "target")
    result = run_post_build(target, "qemu-aarch64", tmp_path, RELEASE + keyring_line)
    assert result.returncode == 1
    assert message in result.stderr
    assert not (target / "etc/rauc/keyring.pem").exists()


def test_the_tuf_root_goes_where_the_agent_looks_for_it(tmp_path: Path) -> None:
    target = copy_overlays("qemu-aarch64", tmp_path / "target")
    result = run_post_build(target, "qemu-aarch64", tmp_path, release_config(tmp_path))
    assert result.returncode == 0, result.stderr
    installed = target / TUF_ROOT_FILE.relative_to("/")
    assert installed.read_bytes() == tuf_root(tmp_path).read_bytes()


@pytest.mark.parametrize(
    ("root_line", "message"),
    [
        ("", "set BR2_CELLBRIDGE_TUF_ROOT"),
        ('BR2_CELLBRIDGE_TUF_ROOT="/nonexistent/root.json"\n', "cannot read the TUF root"),
        (f'BR2_CELLBRIDGE_TUF_ROOT="{PERMISSIONS}"\n', "is not TUF root metadata"),
    ],
)
def test_a_release_build_stops_without_a_tuf_root(
    tmp_path: Path, root_line: str, message: str
) -> None:
    target = copy_overlays("qemu-aarch64", tmp_path / "target")
    keyring = f'BR2_CELLBRIDGE_RELEASE_KEYRING="{release_keyring(tmp_path)}"\n'
    result = run_post_build(target, "qemu-aarch64", tmp_path, RELEASE + keyring + root_line)
    assert result.returncode == 1
    assert message in result.stderr
    assert not (target / TUF_ROOT_FILE.relative_to("/")).exists()


def test_a_development_image_without_a_tuf_root_builds_and_says_it_takes_no_updates(
    tmp_path: Path,
) -> None:
    target = copy_overlays("qemu-aarch64", tmp_path / "target")
    result = run_post_build(target, "qemu-aarch64", tmp_path, "")
    assert result.returncode == 0, result.stderr
    assert "will take no updates" in result.stderr


def test_post_build_refuses_to_run_outside_buildroot(tmp_path: Path) -> None:
    result = subprocess.run(
        ["sh", str(TREE / "scripts/post-build.sh"), str(tmp_path), str(TREE / "board/rpi4")],
        env={k: v for k, v in os.environ.items() if k != "BR2_CONFIG"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0
    assert "BR2_CONFIG is not set" in result.stderr


@pytest.mark.parametrize("version", ['""', '"1.2.3-rc1"', '"latest"'])
def test_post_build_stops_on_a_version_the_install_check_could_not_compare(
    tmp_path: Path, version: str
) -> None:
    target = copy_overlays("qemu-aarch64", tmp_path / "target")
    result = run_post_build(
        target, "qemu-aarch64", tmp_path, f"BR2_CELLBRIDGE_OS_VERSION={version}\n"
    )
    assert result.returncode == 1
    assert "is not 1 to 4 dot-separated numbers" in result.stderr

"""Every script passes shellcheck; the network policy and `make image` refuse bad input."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.buildroot.support import COMMON_OVERLAY, REPO, TREE

NETWORK_POLICY = COMMON_OVERLAY / "usr" / "libexec" / "cellbridge" / "network-policy"
RULESET = COMMON_OVERLAY / "etc" / "nftables" / "cellbridge.nft"
BUILD_IMAGE = TREE / "scripts" / "build-image.sh"


def is_shell_script(path: Path) -> bool:
    if not path.is_file() or path.is_symlink():
        return False
    with path.open("rb") as f:
        first = f.readline()
    return first.startswith(
        (b"#!/bin/sh", b"#!/bin/bash", b"#!/usr/bin/env bash", b"# shellcheck shell=")
    )


SCRIPTS = sorted(p for p in TREE.rglob("*") if is_shell_script(p))


def tool(name: str) -> str:
    path = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")
    if path is None:
        pytest.fail(f"{name} is missing: run `make setup`")
    return path


def test_the_tree_has_its_scripts() -> None:
    names = {p.name for p in SCRIPTS}
    assert {
        "post-build.sh",
        "post-image.sh",
        "make-bundle.sh",
        "build-image.sh",
        "network-policy",
        "hook",
        "rootfs.sh",
        "image.sh",
        "br2-config.sh",
    } <= names


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: str(p.relative_to(TREE)))
def test_shellcheck_passes(script: Path) -> None:
    result = subprocess.run(
        [tool("shellcheck"), "-x", str(script)],
        capture_output=True,
        text=True,
        check=False,
        cwd=script.parent,
    )
    assert result.returncode == 0, result.stdout


@pytest.mark.parametrize(
    "script",
    [s for s in SCRIPTS if s.read_bytes().startswith(b"#!")],
    ids=lambda p: str(p.relative_to(TREE)),
)
def test_scripts_with_a_shebang_are_executable(script: Path) -> None:
    assert os.access(script, os.X_OK)


def gateway(tmp_path: Path, content: str) -> subprocess.CompletedProcess[str]:
    env_file = tmp_path / "network.env"
    env_file.write_text(content)
    return subprocess.run(
        ["sh", str(NETWORK_POLICY), "gateway", str(env_file)],
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.mark.parametrize(
    "content", ["GATEWAY_ADDR=10.20.0.1\n", "# wing 3\nGATEWAY_ADDR=192.168.3.1\n"]
)
def test_network_policy_reads_the_gateway_address(tmp_path: Path, content: str) -> None:
    result = gateway(tmp_path, content)
    assert result.returncode == 0
    assert result.stdout.strip() == content.rsplit("=", 1)[1].strip()


@pytest.mark.parametrize(
    "content",
    [
        "",
        "GATEWAY_ADDR=\n",
        "GATEWAY_ADDR=gateway.wing3\n",
        "GATEWAY_ADDR=10.20.0.256\n",
        "GATEWAY_ADDR=10.20.0\n",
        "GATEWAY_ADDR=010.20.0.1\n",
        "GATEWAY_ADDR=10.20.0.1; flush ruleset\n",
        "GATEWAY_ADDR=10.20.0.1 }, 0.0.0.0/0 {\n",
        "GATEWAY_ADDR=0.0.0.0\n",
        "GATEWAY_ADDR=127.0.0.1\n",
        "GATEWAY_ADDR=255.255.255.255\n",
        "GATEWAY_ADDR=224.0.0.1\n",
        "GATEWAY_ADDR=10.20.0.1\nGATEWAY_ADDR=10.30.0.1\n",
        " GATEWAY_ADDR=10.20.0.1\n",
    ],
)
def test_network_policy_refuses_anything_but_one_unicast_ipv4_address(
    tmp_path: Path, content: str
) -> None:
    result = gateway(tmp_path, content)
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.startswith("network-policy: ")


def test_network_policy_refuses_a_missing_enrolment(tmp_path: Path) -> None:
    result = subprocess.run(
        ["sh", str(NETWORK_POLICY), "gateway", str(tmp_path / "absent.env")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    assert "no enrolment network file" in result.stderr


def namespace_command() -> list[str]:
    """unshare into a fresh network namespace (and, unless root, a user namespace that maps us to root)."""
    if shutil.which("unshare") is None:
        pytest.skip("unshare (util-linux) is missing")
    return ["unshare", "--net"] if os.geteuid() == 0 else ["unshare", "--map-root-user", "--net"]


def test_nftables_accepts_the_ruleset() -> None:
    result = subprocess.run(
        [*namespace_command(), tool("nft"), "-c", "-f", str(RULESET)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


# Run inside a fresh network namespace: load the policy, then try to reach the gateway and a
# stranger. A UDP send the output hook drops fails with EPERM; a TCP connect it drops counts in the
# ruleset's blocked_out counter (the SYN is never answered either way: nothing is at 10.20.0.1).
# IPv6 is off in the namespace, so nothing else (router solicitations) counts there.
_PROBE = """
import json, re, socket, subprocess
def blocked_out():
    out = subprocess.run(["nft", "list", "counter", "inet", "cellbridge", "blocked_out"],
                         capture_output=True, text=True, check=True).stdout
    return int(re.search(r"packets (\\d+) bytes", out).group(1))
def udp(addr, port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.sendto(b"x", (addr, port))
        return "sent"
    except PermissionError:
        return "blocked"
def tcp(addr, port):
    before = blocked_out()
    s = socket.socket()
    s.settimeout(0.3)
    try:
        s.connect((addr, port))
    except OSError:
        pass
    return "blocked" if blocked_out() > before else "sent"
print(json.dumps({
    "gateway tcp 8883": tcp("10.20.0.1", 8883), "gateway tcp 3128": tcp("10.20.0.1", 3128),
    "gateway tcp 22": tcp("10.20.0.1", 22), "gateway udp 123": udp("10.20.0.1", 123),
    "gateway udp 8883": udp("10.20.0.1", 8883), "stranger tcp 8883": tcp("10.30.0.1", 8883),
    "stranger udp 123": udp("10.30.0.1", 123),
}))
"""
ENROLLED = "GATEWAY_ADDR=10.20.0.1\nGATEWAY_PORTS=8883,8443,3128\n"


def run_in_netns(tmp_path: Path, env_content: str | None) -> tuple[dict[str, str], str]:
    env_file = tmp_path / "network.env"
    if env_content is not None:
        env_file.write_text(env_content)
    chrony = tmp_path / "chrony"
    script = (
        "set -e; sysctl -qw net.ipv6.conf.default.disable_ipv6=1;"
        " ip link add v0 type veth peer name v1; ip addr add 10.20.0.2/8 dev v0;"
        " ip link set v0 up; ip link set v1 up;"
        f" sh {NETWORK_POLICY} apply {env_file} 2>/dev/null; {sys.executable} -c '{_PROBE}'"
    )
    result = subprocess.run(
        [*namespace_command(), "sh", "-c", script],
        env={
            **os.environ,
            "CELLBRIDGE_RULESET": str(RULESET),
            "CELLBRIDGE_CHRONY_SOURCES_DIR": str(chrony),
            "PATH": "/usr/sbin:/sbin:" + os.environ.get("PATH", ""),
        },
        capture_output=True,
        text=True,
        check=False,
    )
    if "Operation not permitted" in result.stderr and "unshare" in result.stderr:
        pytest.skip("network namespaces are not permitted here")
    assert result.returncode == 0, result.stderr
    sources = chrony / "gateway.sources"
    return json.loads(result.stdout), sources.read_text() if sources.exists() else ""


def test_firewall_lets_out_only_the_enrolled_gateways_service_ports_and_time(
    tmp_path: Path,
) -> None:
    sent, sources = run_in_netns(tmp_path, ENROLLED)
    assert sent == {
        "gateway tcp 8883": "sent", "gateway tcp 3128": "sent", "gateway tcp 22": "blocked",
        "gateway udp 123": "sent", "gateway udp 8883": "blocked",
        "stranger tcp 8883": "blocked", "stranger udp 123": "blocked",
    }
    assert sources == "server 10.20.0.1 iburst\n"


@pytest.mark.parametrize("content", [None, "GATEWAY_ADDR=10.20.0.1\n", "GATEWAY_PORTS=8883\n"])
def test_firewall_blocks_everyone_when_the_enrolment_is_missing_or_incomplete(
    tmp_path: Path, content: str | None
) -> None:
    sent, sources = run_in_netns(tmp_path, content)
    assert set(sent.values()) == {"blocked"}
    assert sources == ""


def ports(tmp_path: Path, content: str) -> subprocess.CompletedProcess[str]:
    env_file = tmp_path / "network.env"
    env_file.write_text(content)
    return subprocess.run(
        ["sh", str(NETWORK_POLICY), "ports", str(env_file)],
        capture_output=True,
        text=True,
        check=False,
    )


def test_network_policy_reads_the_gateways_ports(tmp_path: Path) -> None:
    result = ports(tmp_path, ENROLLED)
    assert (result.returncode, result.stdout) == (0, "8883 8443 3128\n")


@pytest.mark.parametrize(
    "line",
    ["", "GATEWAY_PORTS=\n", "GATEWAY_PORTS=8883;3128\n", "GATEWAY_PORTS=8883 3128\n",
     "GATEWAY_PORTS=0\n", "GATEWAY_PORTS=08883\n", "GATEWAY_PORTS=65536\n",
     "GATEWAY_PORTS=100000\n", "GATEWAY_PORTS=8883,\n", "GATEWAY_PORTS=,8883\n",
     "GATEWAY_PORTS=8883,,3128\n", "GATEWAY_PORTS=1-65535\n", "GATEWAY_PORTS=1,2,3,4,5,6,7,8,9\n",
     "GATEWAY_PORTS=8883 }, 0-65535 {\n", "GATEWAY_PORTS=8883\nGATEWAY_PORTS=22\n"],
)
def test_network_policy_refuses_anything_but_a_short_list_of_ports(
    tmp_path: Path, line: str
) -> None:
    result = ports(tmp_path, "GATEWAY_ADDR=10.20.0.1\n" + line)
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.startswith("network-policy: ")


def make_image(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["sh", str(BUILD_IMAGE), *args], capture_output=True, text=True, check=False
    )


def test_make_image_without_a_buildroot_checkout_says_how_to_get_one() -> None:
    result = subprocess.run(
        ["make", "-s", "image", "BOARD=qemu", "BUILDROOT="],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0
    assert "make image needs a Buildroot checkout" in result.stderr
    assert "make image BOARD=qemu BUILDROOT=" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("pi5", "/nonexistent", "/tmp/out", "development", "1.0"), "BOARD must be rpi4 or qemu"),
        (("qemu", str(REPO), "/tmp/out", "development", "1.0"), "needs a Buildroot checkout"),
        (("qemu",), "usage: build-image.sh"),
    ],
)
def test_make_image_refuses_bad_arguments(args: tuple[str, ...], message: str) -> None:
    result = make_image(*args)
    assert result.returncode == 2
    assert message in result.stderr


@pytest.fixture
def fake_checkout(tmp_path: Path) -> Path:
    """Just enough of a directory layout to get past the checkout test; never built."""
    (tmp_path / "support" / "kconfig").mkdir(parents=True)
    (tmp_path / "Makefile").write_text("all:\n\t@false\n")
    return tmp_path


@pytest.mark.parametrize(
    ("deployment", "version", "keyring", "message"),
    [
        ("development", "1.2.3-rc1", "", "VERSION must be 1 to 4 dot-separated numbers"),
        ("release", "1.2.3", "", "DEPLOYMENT=release needs RELEASE_KEYRING"),
        ("release", "1.2.3", "/nonexistent/ca.pem", "cannot read RELEASE_KEYRING"),
        ("release", "1.2.3", str(REPO / "README.md"), "DEPLOYMENT=release needs TUF_ROOT"),
        ("staging", "1.2.3", "", "DEPLOYMENT must be development or release"),
    ],
)
def test_make_image_refuses_a_bad_deployment_or_version(
    fake_checkout: Path, tmp_path: Path, deployment: str, version: str, keyring: str, message: str
) -> None:
    args = ["qemu", str(fake_checkout), str(tmp_path / "out"), deployment, version]
    if keyring:
        args.append(keyring)
    result = make_image(*args)
    assert result.returncode == 2
    assert message in result.stderr

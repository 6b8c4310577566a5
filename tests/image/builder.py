"""The boot test's disk: a Debian 13 trixie (amd64) root file system carrying the Buildroot tree's
overlay, units, nftables rules, RAUC system.conf and compositor setup, laid in place by the tree's
own `copy_overlays` + `post-build.sh`, with our wheel installed; plus the data partition of an
enrolled tablet. Cached under ~/.cache/cellbridge/image-test/<hash of every input>/.

    python -m tests.image.builder     build (or find) the disk and print its folder
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import tomllib
from collections.abc import Callable
from pathlib import Path

import tomli_w

from provisioning import tablet_data
from tests.buildroot.support import REPO, TREE, copy_overlays, overlays, run_post_build
from tests.image import bootstate
from tests.image import estate as test_estate
from tests.image.estate import BROKER_PORT, DEVICE_ID, GATEWAY, REPOSITORY_PORT, TestEstate

HERE = Path(__file__).resolve().parent
GUEST = HERE / "guest"
BOARD = "qemu-aarch64"  # the overlays, meta (slots by PARTUUID) and post-build of the QEMU board
# trixie, not bookworm: bookworm's weston 10 has no libseat launcher (only logind or weston-launch),
# so it cannot run under seatd as cellbridge-compositor.service does; trixie's weston 14 can.
SUITE = "trixie"
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "cellbridge" / "image-test"

PROBE_APP = "image-test-probe"
# Folders the shell (and so every app) can write: nothing there may be executed.
SHELL_WRITABLE = ("/var/lib/cellbridge/shell", "/run/cellbridge-shell", "/run/cellbridge-wayland",
                  "/tmp", "/var/tmp", "/dev/shm")
PARTUUID = "4cb1d6a0-6c1f-4e0a-9b57-0c8b0a00000{}"  # genimage.cfg's, so meta and RAUC match
ROOT_SIZE_MB = 3072
# Room for the OS bundle the update engine downloads before `rauc install` (the data partition
# grows to fill the card on a tablet).
DATA_SIZE_MB = 2048

PACKAGES = [
    # the OS and its kernel (the Pi image's equivalents are Buildroot packages)
    "systemd", "systemd-sysv", "udev", "dbus", "linux-image-amd64", "initramfs-tools", "kmod",
    "iproute2", "procps", "util-linux", "e2fsprogs", "nftables", "chrony", "rauc",
    # the kiosk compositor and the GL stack (software rendering under QEMU)
    "weston", "seatd", "libgl1-mesa-dri", "libegl1", "libegl-mesa0", "libgles2", "libgbm1",
    "libwayland-client0", "libwayland-cursor0", "libwayland-egl1", "libxkbcommon0",
    "libsdl2-2.0-0", "libsdl2-image-2.0-0", "libsdl2-ttf-2.0-0", "libsdl2-mixer-2.0-0",
    "libmtdev1", "fonts-dejavu-core",
    # Python, and what building Kivy against the system's SDL2 (Wayland) and GLES needs
    "python3", "python3-pip", "python3-dev", "gcc", "pkg-config", "libsdl2-dev",
    "libsdl2-image-dev", "libsdl2-ttf-dev", "libsdl2-mixer-dev", "libgles-dev", "libmtdev-dev",
]
# RAUC's service (D-Bus; Debian's `rauc` is the client only), fw_printenv/fw_setenv, which
# RAUC's `bootloader=uboot` backend runs on /etc/fw_env.config (the cbstate partition), and
# unsquashfs, which `rauc extract` (the agent's app installs) runs (the tablet's come from
# BR2_PACKAGE_RAUC_DBUS, BR2_PACKAGE_UBOOT_TOOLS and BR2_PACKAGE_SQUASHFS). Installed on top of the
# cached layers at the disk build (the Debian layer takes minutes to remake).
APT_AB = ["rauc-service", "libubootenv-tool", "squashfs-tools"]
# Debian's Kivy (2.3 in trixie), built against Debian's SDL2 with Wayland: the PyPI wheel bundles
# an SDL2 without Wayland, and compiling Kivy here takes over 20 minutes.
APT_KIVY = "python3-kivy"


def _tracked_files() -> list[Path]:
    out = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard", "wire", "common", "agent", "device",
         "gateway", "prison", "provisioning", "cellbridge", "pyproject.toml", "buildroot",
         "tests/image/builder.py", "tests/image/guest/harness",
         "tests/image/guest/cellbridge-image-test.service", "tests/buildroot/support.py"],
        cwd=REPO, capture_output=True, text=True, check=True,
    ).stdout.split()
    # Documentation puts nothing into the image: editing it must not rebuild the disk.
    return sorted(REPO / name for name in out if (REPO / name).is_file() and not name.endswith(".md"))


def python_dependencies() -> list[str]:
    """The wheel's own dependencies (pyproject.toml): installed into the base layer."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    return sorted(project["dependencies"])


def base_hash() -> str:
    """The Debian layer: the suite and the package list."""
    return "debian-" + hashlib.sha256(repr((SUITE, PACKAGES)).encode()).hexdigest()[:16]


def python_hash() -> str:
    """The Python layer on top: Kivy and our wheel's dependencies."""
    text = repr((base_hash(), APT_KIVY, python_dependencies()))
    return "python-" + hashlib.sha256(text.encode()).hexdigest()[:16]


def input_hash() -> str:
    digest = hashlib.sha256(python_hash().encode())
    digest.update(repr((ROOT_SIZE_MB, DATA_SIZE_MB)).encode())
    for path in _tracked_files():
        digest.update(str(path.relative_to(REPO)).encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return "image-" + digest.hexdigest()[:16]


def log(message: str) -> None:
    print(f"image-test: {message}", file=sys.stderr, flush=True)


def run(*args: str | Path, **kwargs: object) -> None:
    subprocess.run([str(a) for a in args], check=True, **kwargs)  # type: ignore[call-overload]


def build_wheel(out: Path) -> Path:
    run(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps",
        "-w", out, REPO)
    (wheel,) = out.glob("cellbridge-*.whl")
    return wheel


def debootstrap(tarball: Path) -> None:
    result = subprocess.run(
        ["mmdebstrap", "--mode=root", "--variant=minbase", "--components=main",
         "--include=" + ",".join(PACKAGES),
         "--customize-hook=rm -rf \"$1/var/cache/apt/archives\"/*.deb",
         SUITE, str(tarball)], check=False,
    )
    if result.returncode != 0:
        # mmdebstrap fails at its very end when a process inside the chroot still holds /proc
        # (it then cannot remove its temporary folder); the tarball it wrote before is whole.
        listed = subprocess.run(["tar", "-tf", str(tarball)], capture_output=True, check=False)
        if listed.returncode != 0 or b"./usr/bin/weston\n" not in listed.stdout:
            raise RuntimeError(f"mmdebstrap failed ({result.returncode})")
        log(f"mmdebstrap exited {result.returncode} after writing a whole tarball: kept")


def in_chroot(root: Path, command: str) -> None:
    """Run `command` (sh) in `root` with /proc, /dev and the build host's DNS and CA bundle (for
    pip through this host's network), all gone again afterwards: a private mount namespace."""
    shutil.copy2("/etc/resolv.conf", root / "etc/resolv.conf")
    shutil.copy2("/etc/ssl/certs/ca-certificates.crt", root / "tmp/build-host-ca.crt")
    try:
        run("unshare", "--mount", "--propagation", "private", "sh", "-c",
            f'mount -t proc proc "{root}/proc" && mount --rbind /dev "{root}/dev" && '
            f'chroot "{root}" env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin '
            "HOME=/root LANG=C.UTF-8 PIP_CERT=/tmp/build-host-ca.crt "
            "SSL_CERT_FILE=/tmp/build-host-ca.crt REQUESTS_CA_BUNDLE=/tmp/build-host-ca.crt "
            'sh -c "$1"', "sh", command)
    finally:
        (root / "etc/resolv.conf").unlink(missing_ok=True)
        (root / "tmp/build-host-ca.crt").unlink(missing_ok=True)
        shutil.rmtree(root / "root/.cache", ignore_errors=True)


def layer(cache: Path, name: str, make: Callable[[Path], None]) -> Path:
    """A cached tarball (it keeps owners and modes) made once by `make`."""
    tarball = cache / f"{name}.tar"
    if not tarball.exists():
        with tempfile.TemporaryDirectory(dir=cache, prefix="layer-") as tmp:
            make(Path(tmp) / "layer.tar")
            (Path(tmp) / "layer.tar").rename(tarball)
    return tarball


def base_layer(cache: Path) -> Path:
    def make(tarball: Path) -> None:
        log(f"mmdebstrap {SUITE} (once per package list)")
        debootstrap(tarball)

    return layer(cache, base_hash(), make)


def python_layer(cache: Path) -> Path:
    """Debian's Kivy, and our wheel's dependencies from PyPI."""
    base = base_layer(cache)

    def make(tarball: Path) -> None:
        log(f"{APT_KIVY} and {len(python_dependencies())} dependencies (once)")
        root = tarball.parent / "root"
        root.mkdir()
        run("tar", "-xf", base, "-C", root)
        requirements = " ".join(f"'{r}'" for r in python_dependencies())
        in_chroot(root, "apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "
                        f"--no-install-recommends {APT_KIVY} && apt-get clean && "
                        "python3 -c 'import kivy, sys; sys.exit(kivy.parse_kivy_version(kivy.__version__)[0] < [2, 3])' && "
                        f"pip install -q --break-system-packages {requirements}")
        run("tar", "-cf", tarball, "-C", root, ".")
        shutil.rmtree(root)

    return layer(cache, python_hash(), make)


def install_ab_tools(root: Path) -> None:
    in_chroot(root, "apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "
                    f"--no-install-recommends {' '.join(APT_AB)} && apt-get clean")


def install_wheel(root: Path, wheel: Path) -> None:
    shutil.copy2(wheel, root / "tmp" / wheel.name)
    in_chroot(root, f"pip install -q --break-system-packages --no-deps --no-index /tmp/{wheel.name}")
    (root / "tmp" / wheel.name).unlink()


def release_config(wing: TestEstate) -> str:
    """The .config lines of a release build for this estate (`make image DEPLOYMENT=release
    RELEASE_KEYRING=… TUF_ROOT=…`): RAUC trusts the estate's release CA only, which signs every
    bundle of its release repository, OS and apps alike, and the agent starts from its TUF root."""
    releases = wing.repository()
    return ("BR2_CELLBRIDGE_DEPLOYMENT_RELEASE=y\n"
            f'BR2_CELLBRIDGE_RELEASE_KEYRING="{releases.release_ca}"\n'
            f'BR2_CELLBRIDGE_TUF_ROOT="{releases.root_file(1)}"\n')


def finish(root: Path, work: Path, wing: TestEstate) -> None:
    """Lay the Buildroot tree on top, exactly as a Buildroot release build does, then the test
    harness."""
    copy_overlays(BOARD, root)
    result = run_post_build(root, BOARD, work, release_config(wing))
    if result.returncode != 0:
        raise RuntimeError(f"post-build.sh failed:\n{result.stderr}")
    # /usr/bin/cellbridge as on the tablet (pip installs into /usr/local).
    (root / "usr/bin/cellbridge").symlink_to("/usr/local/bin/cellbridge")
    # Programs our units start from /usr/bin (Buildroot installs them there) that Debian puts in
    # /usr/sbin.
    for program in ("seatd",):
        if not (root / "usr/bin" / program).exists():
            (root / "usr/bin" / program).symlink_to(f"/usr/sbin/{program}")
    users = [
        line.split() for line in (TREE / "board/common/users.table").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    for user, _uid, group, _gid, _pw, _home, shell, groups, *_ in users:
        for name in [group, *groups.split(",")]:
            run("chroot", root, "sh", "-c", f"getent group {name} || groupadd --system {name}",
                stdout=subprocess.DEVNULL)
        run("chroot", root, "useradd", "--system", "--gid", group, "--groups", groups,
            "--home-dir", "/nonexistent", "--no-create-home", "--shell", shell, user)
    preset = TREE / "board/common/rootfs-overlay/usr/lib/systemd/system-preset/50-cellbridge.preset"
    for line in preset.read_text().splitlines():
        action, _, unit = line.partition(" ")
        if action in {"enable", "disable"} and (
            (root / "etc/systemd/system" / unit).exists()
            or (root / "lib/systemd/system" / unit).exists()
        ):
            run("systemctl", f"--root={root}", action, unit, stderr=subprocess.DEVNULL)
    # Debian's own units for what the overlay runs itself.
    for unit in ("seatd.service", "nftables.service", "systemd-timesyncd.service"):
        if (root / "lib/systemd/system" / unit).exists():
            run("systemctl", f"--root={root}", "mask", unit)
    run("systemctl", f"--root={root}", "set-default", "multi-user.target")
    # The test harness (this test image only).
    (root / "usr/libexec/cellbridge-image-test").mkdir(parents=True)
    shutil.copy2(GUEST / "harness", root / "usr/libexec/cellbridge-image-test/harness")
    probes = [f"gateway:{p}" for p in (BROKER_PORT, REPOSITORY_PORT, 22, 80, 3128)]
    probes += ["10.0.2.3:53", "1.1.1.1:443"]
    (root / "usr/libexec/cellbridge-image-test/probes").write_text("\n".join(probes) + "\n")
    (root / "usr/libexec/cellbridge-image-test/exec-probes").write_text(
        f"/var/lib/cellbridge/apps/{PROBE_APP}/run\n"
        + "".join(f"{folder}\n" for folder in SHELL_WRITABLE)
    )
    (root / "usr/libexec/cellbridge-image-test/manifest").write_text(
        "".join(f"/{path}\n" for path in checked_files())
    )
    shutil.copy2(GUEST / "cellbridge-image-test.service",
                 root / "etc/systemd/system/cellbridge-image-test.service")
    run("systemctl", f"--root={root}", "enable", "cellbridge-image-test.service")
    # Software-emulated (TCG) CPUs on a shared host run Python tens of times slower than a Pi:
    # the units' start timeouts and watchdogs, sized for the tablet, would kill the agent and the
    # shell before their first READY=1. Longer ones here only (drop-ins; the units stay the tree's).
    for unit in ("cellbridge-agent.service", "cellbridge-shell.service",
                 "cellbridge-compositor.service", "cellbridge-enrol-screen.service"):
        dropin = root / "etc/systemd/system" / f"{unit}.d"
        dropin.mkdir(exist_ok=True)
        (dropin / "50-image-test-slow-cpu.conf").write_text(
            "# tests/image only: an emulated CPU (see tests/image/builder.py)\n"
            "[Service]\nTimeoutStartSec=900\n"
            + ("WatchdogSec=300\n" if unit in {"cellbridge-agent.service",
                                               "cellbridge-shell.service"} else "")
        )
    (root / "etc/hostname").write_text("cellbridge-image-test\n")
    (root / "etc/fstab").write_text("")


def checked_files() -> list[str]:
    """What the boot test checks the booted system holds unchanged from the Buildroot tree: every
    file of the board's overlays, and what post-build.sh renders (RAUC's config and keyring)."""
    files = {
        str(path.relative_to(overlay))
        for overlay in overlays(BOARD)
        for path in overlay.rglob("*")
        if path.is_file() and not path.is_symlink()
    }
    return sorted(files | {"etc/rauc/system.conf", "etc/rauc/keyring.pem"})


def data_tree(data: Path, wing: TestEstate) -> None:
    """What the data partition of an enrolled tablet holds before its first boot: its enrolment
    as IT writes it (`cellbridge provision tablet-data`: the bundle, agent.toml, network.env),
    and an app folder."""
    data.mkdir()
    plan = tablet_data.plan_for(wing.demo().estate, DEVICE_ID, wing.bundle, gateway_addr=GATEWAY,
                                board=BOARD)
    enrolment = tablet_data.write_tablet_data(wing.bundle, data, plan)
    # tests/image only: an emulated CPU brings the shell up minutes after the agent, so the
    # update engine's health check after a switch (agent connected and shell watching) gets
    # longer than the tablet's 180 s (the units' timeouts are lengthened the same way).
    config = tomllib.loads((enrolment / "agent.toml").read_text())
    config["updates"]["health_timeout_s"] = 900.0
    (enrolment / "agent.toml").write_text(tomli_w.dumps(config))
    (data / "apps").mkdir()  # as post-image.sh makes it: root's, 0755, before the bind mount
    # Stands in for an installed app (root's, as the agent installs them): the harness runs it
    # as the shell's user in the shell's own mount namespace, and copies of it from every folder
    # that user can write, which must not run.
    probe = data / "apps" / PROBE_APP
    probe.mkdir()
    (probe / "run").write_text("#!/bin/sh\necho ran\n")
    for path in [data, *data.rglob("*")]:
        os.chown(path, 0, 0)
    for path in (data / "apps", probe, probe / "run"):
        path.chmod(0o755)
    data.chmod(0o711)


def mkfs(path: Path, size_mb: int, tree: Path, label: str) -> None:
    run("truncate", "-s", f"{size_mb}M", path)
    run("mkfs.ext4", "-q", "-F", "-L", label, "-d", tree, path)


def boot_state(path: Path) -> None:
    """The first boot state block, as post-image.sh makes bootstate.bin (scripts/lib/image.sh)."""
    text = path.with_suffix(".txt")
    text.write_text("BOOT_ORDER=A B\nBOOT_A_LEFT=3\nBOOT_B_LEFT=3\n")
    run("mkenvimage", "-s", str(bootstate.SIZE), "-o", path, text)


def assemble(disk: Path, state_img: Path, root_img: Path, data_img: Path) -> None:
    """GPT like genimage.cfg's: boot, cbstate (A first, 3 attempts each), cbroot-a, cbroot-b
    (empty), cbdata."""
    sizes = {1: 16, 2: 4, 3: ROOT_SIZE_MB, 4: ROOT_SIZE_MB, 5: DATA_SIZE_MB}
    names = {1: "cbboot", 2: "cbstate", 3: "cbroot-a", 4: "cbroot-b", 5: "cbdata"}
    start = 1
    script = ["label: gpt"]
    for n in range(1, 6):
        script.append(
            f"start={start}MiB, size={sizes[n]}MiB, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4, "
            f"uuid={PARTUUID.format(n)}, name={names[n]}"
        )
        start += sizes[n]
    run("truncate", "-s", f"{start + 1}M", disk)
    run("sfdisk", "-q", disk, input="\n".join(script) + "\n", text=True)
    offsets = {2: 1 + 16, 3: 1 + 16 + 4, 5: 1 + 16 + 4 + 2 * ROOT_SIZE_MB}
    for n, image in ((2, state_img), (3, root_img), (5, data_img)):
        run("dd", f"if={image}", f"of={disk}", "bs=1M", f"seek={offsets[n]}", "conv=notrunc,sparse",
            "status=none")


def build(cache: Path = CACHE) -> Path:
    """The folder holding disk.img, vmlinuz and initrd.img for the current inputs."""
    target = cache / input_hash()
    if (target / "disk.img").exists():
        return target
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache, prefix="build-") as tmp:
        work = Path(tmp)
        root = work / "root"
        log(f"building the test image in {work}")
        base = python_layer(cache)
        root.mkdir()
        run("tar", "-xf", base, "-C", root)
        install_wheel(root, build_wheel(work / "wheel"))
        install_ab_tools(root)
        out = work / "out"
        out.mkdir()
        # Made where it stays (beside the disk, once renamed): nothing in it names its folder.
        wing = test_estate.make(out / "estate")
        finish(root, work, wing)
        (kernel,) = root.glob("boot/vmlinuz-*")
        (initrd,) = root.glob("boot/initrd.img-*")
        shutil.copy2(kernel, out / "vmlinuz")
        shutil.copy2(initrd, out / "initrd.img")
        data = work / "data"
        data_tree(data, wing)
        mkfs(work / "root.ext4", ROOT_SIZE_MB, root, "cbroot-a")
        mkfs(work / "data.ext4", DATA_SIZE_MB, data, "cbdata")
        boot_state(work / "bootstate.bin")
        assemble(out / "disk.img", work / "bootstate.bin", work / "root.ext4", work / "data.ext4")
        shutil.rmtree(root)
        out.rename(target)
    return target


if __name__ == "__main__":
    print(build())

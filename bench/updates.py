"""Benchmark: install of an OS bundle (HTTPS download from a local gateway, streaming verify,
RAUC signature check, write to a file-backed slot) against one hashlib SHA-256 pass over the
same file in the same run, and the engine process's peak RSS at two bundle sizes.

    python -m bench.updates [--sizes 100,1024] [--dir DIR]

Targets (issue 4): install rate >= 0.8x the hashing rate; peak RSS <= 64 MiB and the same at
both sizes (constant memory).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.stats import Row, markdown
from gateway.repository_server import serving_in_thread
from provisioning.release import EstateRepository
from tests.updates.support import COMPATIBLE, make_tablet, make_tls

ROOT = Path(__file__).resolve().parents[1]
MiB = 1024 * 1024


def random_image(path: Path, size: int) -> Path:
    with open(path, "wb") as f:
        for _ in range(size // MiB):
            f.write(os.urandom(MiB))
    return path


def sha256_rate(path: Path) -> float:
    """Bytes per second of one hashlib SHA-256 pass (file in page cache, like the install)."""
    began = time.perf_counter()
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(MiB):
            h.update(chunk)
    return path.stat().st_size / (time.perf_counter() - began)


def run_engine(config: Path, target: str, version: str) -> dict[str, Any]:
    """One install by a real engine process: its JSON report (phases, peak RSS)."""
    began = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "agent.updates.run_once", str(config), target, version],
        cwd=ROOT, capture_output=True, text=True, check=False)
    if result.returncode != 10:  # 10: installed, reboot requested
        raise SystemExit(f"engine exited {result.returncode}: {result.stderr[-2000:]}")
    report: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    report["wall"] = time.perf_counter() - began
    return report


def phase(report: dict[str, Any], start: str, end: str) -> float:
    times = dict(report["entered"])
    return float(times[end] - times[start])


def bench(directory: Path, sizes_mib: list[int]) -> list[dict[str, float]]:
    estate = EstateRepository.init(directory / "estate", None, insecure_demo=True)
    tls = make_tls(directory / "tls")
    repo_dir = directory / "gateway-repo"
    results = []
    with serving_in_thread(repo_dir, tls.cert, tls.key) as url:
        for n, size in enumerate(sizes_mib):
            version = f"2.0.{n}"
            image = random_image(directory / f"rootfs-{size}.img", size * MiB)
            info = estate.release_os(image, version, COMPATIBLE)
            image.unlink()
            estate.publish(repo_dir)
            bundle = repo_dir / "targets" / info.path
            tablet = make_tablet(directory / f"tablet-{size}", estate.metadata_dir / "1.root.json",
                                 estate.release_ca, tls.ca, url)
            hash_rate = sha256_rate(bundle)
            report = run_engine(tablet.config_file, info.path, version)
            length = bundle.stat().st_size
            seconds = report["wall"]
            install_rate = length / seconds
            results.append({
                "size_mib": size, "hash_mbps": hash_rate / MiB,
                "install_mbps": install_rate / MiB, "ratio": install_rate / hash_rate,
                "download_mbps": length / phase(report, "downloading", "verified") / MiB,
                "slot_mbps": length / phase(report, "installing", "installed") / MiB,
                "rss_mib": report["peak_rss_kib"] / 1024, "seconds": seconds})
            tablet.slots.image("B").unlink()
            (estate.targets_dir / info.path).unlink()
            bundle.unlink()
    return results


def run(sizes_mib: list[int], directory: Path | None = None) -> list[Row]:
    """The benchmark as rows of the `make bench` table (the largest size is the headline)."""
    with tempfile.TemporaryDirectory(dir=directory) as tmp:
        results = bench(Path(tmp), sizes_mib)
    big = results[-1]
    rss = " / ".join(f"{r['rss_mib']:.0f} MiB @ {r['size_mib']} MiB" for r in results)
    hash_floor = f"SHA-256 pass {big['hash_mbps']:.0f} MiB/s"
    return [
        Row(f"update install, {big['size_mib']} MiB bundle", "end to end (download, verify, "
            "slot write, fsyncs)", f"{big['install_mbps']:.0f} MiB/s ({big['seconds']:.1f} s)",
            hash_floor, f"{big['ratio']:.2f}x", ">= 0.8x"),
        Row("", "download + streaming verify", f"{big['download_mbps']:.0f} MiB/s", hash_floor,
            f"{big['download_mbps'] / big['hash_mbps']:.2f}x", ""),
        Row("", "slot write + fsync", f"{big['slot_mbps']:.0f} MiB/s", "", "", ""),
        Row("", "engine peak RSS (VmHWM)", rss, "", "", "<= 64 MiB, flat"),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sizes", default="100,1024", help="bundle sizes in MiB")
    parser.add_argument("--dir", type=Path, default=None)
    args = parser.parse_args(argv)
    print(markdown(run([int(s) for s in args.sizes.split(",")], args.dir)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
